//! What a server does with traffic no gRPC library would send (issue 12 §3). Every port of
//! the suite gets, one after the other:
//!
//! - random bytes;
//! - a truncated HTTP/2 connection preface, then the end of the stream;
//! - a frame header announcing 16 MiB, far past HTTP/2's 16 KiB default frame size;
//! - a request message over `server.max_message_bytes`;
//! - a gzip "bomb": 64 KiB on the wire that inflate to 64 MiB.
//!
//! Each time the server answers or closes the connection within seconds, and it keeps
//! serving: a health check on the same port succeeds after each abuse, and while a
//! connection that sent half a preface is held open.

use std::{io::Write, net::SocketAddr, time::Duration};

use bytes::Bytes;
use duban_harness::{Caller, Server, Suite};
use duban_kit::testing::{self, Backend};
use duban_proto::{
    departments::v1 as dpb, gateway::v1 as gpb, measures::v1 as mpb, reporting::v1 as rpb, targets::v1 as tpb,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;

/// The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long a server may take to answer or close.
const PATIENCE: Duration = Duration::from_secs(10);

/// Writes `bytes` (ending the stream after them if `end`), then reads until the server
/// closes the connection: how many bytes it answered. Panics if it holds the connection
/// open past [`PATIENCE`].
async fn sent_then_closed(addr: SocketAddr, bytes: &[u8], end: bool, what: &str) -> usize {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before it has read everything: a failed write is an answer too.
    if stream.write_all(bytes).await.is_ok() && end {
        let _ = stream.shutdown().await;
    }
    let mut answered = 0;
    let mut buffer = vec![0u8; 16 * 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answered += n,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what} at {addr}: the connection was held open");
    answered
}

/// Random bytes from a fixed seed (a xorshift), so a failure can be replayed.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A valid preface and empty SETTINGS, then a DATA frame header announcing 2^24 - 1
/// bytes on stream 1, and a little of it.
fn oversized_frame() -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]);
    bytes.extend(std::iter::repeat_n(0u8, 4096));
    bytes
}

/// One gRPC message whose gzip inflates to 64 MiB of zeros, framed as compressed.
fn gzip_bomb() -> Bytes {
    // The best level: the faster ones vary with flate2's backend, and the bomb must stay small.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let gzip = encoder.finish().unwrap();
    assert!(gzip.len() < 512 * 1024, "a bomb is small on the wire: {}", gzip.len());
    let mut frame = vec![1u8];
    frame.extend_from_slice(&u32::try_from(gzip.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&gzip);
    Bytes::from(frame)
}

/// Sends `message` as a compressed gRPC call to the health service over raw HTTP/2: the
/// grpc-status of the answer (from its headers or trailers).
async fn compressed_call(addr: SocketAddr, message: Bytes) -> Option<i32> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("grpc-encoding", "gzip")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    // A server that refuses at once may reset the stream before the body is all sent.
    let _ = body.send_data(message, true);
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("an answer to the bomb")
        .ok()?;
    let status = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
    };
    if let Some(code) = status(response.headers()) {
        return Some(code);
    }
    let mut answer = response.into_body();
    while let Some(chunk) = answer.data().await {
        if chunk.is_err() {
            return None;
        }
    }
    let trailers = answer.trailers().await.ok()??;
    status(&trailers)
}

/// A request message of about `bytes` to `server`, through its generated client: the
/// status it gets.
async fn oversized_request(suite: &Suite, server: Server, bytes: usize) -> tonic::Status {
    let name = "x".repeat(bytes);
    let answer = match server {
        Server::Departments => suite
            .departments(Caller::Admin)
            .get_department(dpb::GetDepartmentRequest { name })
            .await
            .map(drop),
        Server::Measures => suite
            .measures(Caller::Admin)
            .get_plan(mpb::GetPlanRequest { name })
            .await
            .map(drop),
        Server::Targets => suite
            .targets(Caller::Admin)
            .get_target(tpb::GetTargetRequest { name })
            .await
            .map(drop),
        Server::Reporting => suite
            .reporting(Caller::Admin)
            .get_report(rpb::GetReportRequest { name })
            .await
            .map(drop),
        Server::Gateway => suite
            .dashboard(Caller::Admin)
            .get_overview(gpb::GetOverviewRequest {
                plan: name,
                as_of: None,
            })
            .await
            .map(drop),
    };
    answer.expect_err("a message over the limit is refused")
}

async fn still_serving(suite: &Suite, server: Server, after: &str) {
    testing::until_serving(suite.addr(server), server.grpc_service(), Duration::from_secs(5))
        .await
        .unwrap_or_else(|error| panic!("{server} stopped serving after {after}: {error:?}"));
}

/// On SQLite only: the transport does not depend on the database.
#[tokio::test]
async fn every_port_survives_malformed_traffic() {
    let Some(suite) = Suite::builder(Backend::Sqlite).all().start().await else {
        return;
    };
    let limit = suite.settings().server.max_message_bytes;
    let bomb = gzip_bomb();
    for server in Server::ALL {
        let addr = suite.addr(server);

        sent_then_closed(addr, &random_bytes(64 * 1024), false, "random bytes").await;
        still_serving(&suite, server, "random bytes").await;

        // Half a preface, held open: others are served meanwhile; then ended, it is closed.
        let mut held = TcpStream::connect(addr).await.unwrap();
        held.write_all(&PREFACE[..10]).await.unwrap();
        still_serving(&suite, server, "half a preface held open").await;
        drop(held);
        sent_then_closed(addr, &PREFACE[..10], true, "a truncated preface").await;
        still_serving(&suite, server, "a truncated preface").await;

        let answered = sent_then_closed(addr, &oversized_frame(), false, "an oversized frame").await;
        assert!(
            answered > 0,
            "{server}: an oversized frame gets a GOAWAY before the close"
        );
        still_serving(&suite, server, "an oversized frame").await;

        let refused = oversized_request(&suite, server, limit + 1024).await;
        assert!(
            matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
            "{server}: a message over server.max_message_bytes: {refused:?}"
        );
        still_serving(&suite, server, "a message over the limit").await;

        let code = compressed_call(addr, bomb.clone()).await;
        assert!(
            code.is_some_and(|code| code != Code::Ok as i32),
            "{server}: the bomb is refused with a status, not inflated: {code:?}"
        );
        still_serving(&suite, server, "a gzip bomb").await;
    }
    suite.stop().await;
}
