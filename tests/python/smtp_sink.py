"""A local SMTP sink for the e-mail delivery tests (aiosmtpd).

Usage: smtp_sink.py OUT_DIR REFUSE [PORT]

Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints the port on
the first line of its output. The first REFUSE messages are answered
`451 4.3.0` (a relay's "try again later"); every later one is accepted and written to
OUT_DIR as one JSON file: the envelope's sender and recipients, and the message's
decoded Subject, Message-ID, To and plain-text body. Runs until killed.
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out_dir, refuse):
        self.out_dir = out_dir
        self.refuse = refuse
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.accepted += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "to": str(message["To"]),
            "content_type": message.get_content_type(),
            "body": message.get_content(),
        }
        path = os.path.join(self.out_dir, f"{self.accepted:04}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        return "250 OK"


async def main():
    out_dir, refuse = sys.argv[1], int(sys.argv[2])
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    sink = Sink(out_dir, refuse)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
