//! E-mail of follow-up notices through the suite's SMTP relay (`smtp.*` settings), with
//! lettre: the message in the endpoint's language (askama templates
//! `templates/notice_mail.{zh,en}.txt`, plain text, no link and no secret), its
//! `Message-ID` derived from the notice (the same for every retry, so mail clients can
//! drop a repeat), and the transport (plaintext, STARTTLS or TLS with rustls against the
//! system's roots).

use std::time::Duration;

use askama::Template;
use duban_kit::settings::{SmtpSettings, SmtpTls};
use duban_proto::reporting::v1 as pb;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};

/// The relay, ready to send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The relay of `settings`; `None` when no host is configured. Each message may take
    /// `timeout` (connection included). An invalid sender or relay name is an error.
    pub fn from_settings(settings: &SmtpSettings, timeout: Duration) -> Result<Option<Mailer>, String> {
        if !settings.enabled() {
            return Ok(None);
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("smtp.from `{}` is not an address: {e}", settings.from))?;
        let host = settings.host.as_str();
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("smtp.host `{host}`: {e}"))?,
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("smtp.host `{host}`: {e}"))?
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(settings.username.clone(), settings.password.clone()));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
        }))
    }

    /// Mails `notice` to `address` in `language`; Ok once the relay accepted it.
    pub async fn send(&self, notice: &pb::Notice, unit: &str, address: &str, language: &str) -> Result<(), String> {
        let to: Mailbox = address.parse().map_err(|e| format!("bad address: {e}"))?;
        let (subject, body) = compose(notice, unit, language)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(&notice.name)))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// `<{notice}@{plan}.duban>` for `plans/{plan}/notices/{notice}`: a notice's key and a
/// plan's code are made of letters, digits, `-` and `~`, which a Message-ID may hold.
pub fn message_id(name: &str) -> String {
    let (plan, id) = crate::convert::parse_notice_name(name).unwrap_or(("duban", name));
    format!("<{id}@{plan}.duban>")
}

/// The body of a notice's e-mail in Chinese.
#[derive(Template)]
#[template(path = "notice_mail.zh.txt")]
struct BodyZh<'a> {
    fields: Fields<'a>,
}

/// The body of a notice's e-mail in English.
#[derive(Template)]
#[template(path = "notice_mail.en.txt")]
struct BodyEn<'a> {
    fields: Fields<'a>,
}

/// What both templates show.
struct Fields<'a> {
    level: &'a str,
    unit: &'a str,
    reason: &'a str,
    period: String,
    order: &'a str,
    due: String,
    day: String,
    name: &'a str,
}

impl<'a> std::ops::Deref for BodyZh<'a> {
    type Target = Fields<'a>;
    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

impl<'a> std::ops::Deref for BodyEn<'a> {
    type Target = Fields<'a>;
    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

/// The level's words: `(Chinese, English)`.
fn level_words(level: pb::NoticeLevel) -> (&'static str, &'static str) {
    match level {
        pb::NoticeLevel::Reminder => ("提醒", "Reminder"),
        pb::NoticeLevel::Blue => ("蓝色督办", "Blue notice"),
        pb::NoticeLevel::Yellow => ("黄色督办", "Yellow notice"),
        pb::NoticeLevel::Red => ("红色督办", "Red notice"),
        pb::NoticeLevel::Unspecified => ("督办", "Notice"),
    }
}

/// The subject and the body of `notice`'s e-mail to `unit` (its name) in `language`
/// (`en`, else Chinese).
pub fn compose(notice: &pb::Notice, unit: &str, language: &str) -> Result<(String, String), String> {
    let date = |d: &Option<duban_proto::common::v1::Date>| {
        d.as_ref()
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_default()
    };
    let period = notice
        .period
        .as_ref()
        .map(|p| format!("{:04}-{:02}", p.year, p.month))
        .unwrap_or_default();
    let english = language == "en";
    let (level_zh, level_en) = level_words(notice.level());
    let fields = Fields {
        level: if english { level_en } else { level_zh },
        unit,
        reason: if english { &notice.reason_en } else { &notice.reason },
        period: period.clone(),
        order: &notice.order,
        due: date(&notice.due_date),
        day: date(&notice.day),
        name: &notice.name,
    };
    let due = fields.due.clone();
    let (subject, body) = if english {
        let about = if notice.order.is_empty() {
            format!("the {period} reports")
        } else {
            format!("supervision order {}", order_number(&notice.order))
        };
        (
            format!("[{level_en}] {unit}: {about}, due {due}"),
            BodyEn { fields }.render(),
        )
    } else {
        let about = if notice.order.is_empty() {
            format!("{period}期报告")
        } else {
            format!("督办单第{}号", order_number(&notice.order))
        };
        (
            format!("【{level_zh}】{unit}：{about}，到期日{due}"),
            BodyZh { fields }.render(),
        )
    };
    Ok((subject, body.map_err(|e| format!("cannot render the message: {e}"))?))
}

/// The number of `plans/{plan}/orders/{n}`.
fn order_number(order: &str) -> &str {
    order.rsplit('/').next().unwrap_or(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use duban_proto::common::v1::{Date, Period};

    fn notice() -> pb::Notice {
        pb::Notice {
            name: "plans/jiading-2023/notices/2023-04-10~late~anting-town~2023-03".into(),
            level: pb::NoticeLevel::Yellow as i32,
            rule: pb::NoticeRule::Late as i32,
            day: Some(Date {
                year: 2023,
                month: 4,
                day: 10,
            }),
            department: "anting-town".into(),
            period: Some(Period { year: 2023, month: 3 }),
            due_date: Some(Date {
                year: 2023,
                month: 4,
                day: 5,
            }),
            reason: "黄色督办：安亭镇：2023-03期报告已逾期5天".into(),
            reason_en: "Escalated (yellow): 安亭镇: the 2023-03 reports are 5 days late".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_message_names_level_unit_reason_period_and_due_date_in_the_units_language() {
        let (subject, body) = compose(&notice(), "安亭镇", "").unwrap();
        assert_eq!(subject, "【黄色督办】安亭镇：2023-03期报告，到期日2023-04-05");
        for expected in [
            "黄色督办：安亭镇：2023-03期报告已逾期5天",
            "报告期：2023-03",
            "到期日：2023-04-05",
            "级别：黄色督办",
        ] {
            assert!(body.contains(expected), "{expected} in {body}");
        }
        assert!(!body.contains("http"), "no link: {body}");
        let (subject, body) = compose(&notice(), "安亭镇", "en").unwrap();
        assert_eq!(subject, "[Yellow notice] 安亭镇: the 2023-03 reports, due 2023-04-05");
        assert!(body.contains("Reporting period: 2023-03"), "{body}");
        assert!(body.contains("5 days late"), "{body}");
        assert!(!body.contains("督办单"), "{body}");
    }

    #[test]
    fn the_message_id_is_the_notices_key() {
        assert_eq!(
            message_id(&notice().name),
            "<2023-04-10~late~anting-town~2023-03@jiading-2023.duban>"
        );
    }
}
