//! The delivery worker mailing notices through an SMTP relay: a local sink
//! (`tests/python/smtp_sink.py`, aiosmtpd) that refuses the first message with a 451 and
//! accepts the others, EMAIL endpoints configured through the departments API, a day's
//! BLUE notices evaluated by hand; one message per notice and endpoint, to the right
//! address, in the endpoint's language, with a Message-ID derived from the notice; the
//! refused one retried to success; a unit with a webhook and an address gets both, each
//! once, even while its webhook keeps failing and across a restart of the server.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use duban_kit::settings::SmtpTls;
use duban_reporting::{Options, delivery::DeliveryOptions};

use super::delivery::{Receiver, settled, webhook};
use super::notices::{date, owing_march};
use super::*;

fn python_has_aiosmtpd() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The sink, killed when dropped.
struct Sink {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Sink {
    /// Starts the sink, refusing the first `refuse` messages.
    fn start(refuse: u32) -> Sink {
        let dir = std::env::temp_dir().join(format!("duban-smtp-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python/smtp_sink.py");
        let mut child = Command::new("python3")
            .args([script, dir.to_str().unwrap(), &refuse.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the sink printed {line:?}"));
        Sink { child, dir, port }
    }

    /// Every message accepted so far, in order.
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().map(|path| read_json(path)).collect()
    }

    /// The messages to `address`.
    fn to(&self, address: &str) -> Vec<serde_json::Value> {
        self.messages()
            .into_iter()
            .filter(|m| m["rcpt_tos"] == serde_json::json!([address]))
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

async fn mailbox(suite: &Suite, unit: &str, address: &str, language: &str) {
    suite
        .departments(Caller::Admin)
        .create_endpoint(dpb::CreateEndpointRequest {
            parent: format!("departments/{unit}"),
            endpoint: Some(dpb::NotificationEndpoint {
                kind: dpb::EndpointKind::Email as i32,
                address: address.into(),
                language: language.into(),
                ..Default::default()
            }),
            request_id: format!("mail-{unit}"),
            validate_only: false,
        })
        .await
        .unwrap();
}

/// Waits until `check` holds, or fails with `what`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn notices_are_mailed_once_in_the_units_language(backend: Backend) {
    if !python_has_aiosmtpd() {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot import aiosmtpd (tests/python/requirements.txt)"
        );
        eprintln!("\n!!! python3 with aiosmtpd is missing: SKIPPING\n");
        return;
    }
    let sink = Sink::start(1);
    let port = sink.port;
    let options = Options {
        delivery: DeliveryOptions {
            interval: Duration::from_millis(100),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(400),
            max_attempts: 4,
            ..DeliveryOptions::default()
        },
        ..Options::default()
    };
    let Some(mut suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .configure(move |settings| {
            settings.smtp.host = "127.0.0.1".into();
            settings.smtp.port = port;
            settings.smtp.tls = SmtpTls::None;
            settings.smtp.from = "督办 <duban@example.org>".into();
        })
        .start()
        .await
    else {
        return;
    };
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let owing: Vec<String> = owing_march(&suite).await.into_iter().collect();
    let (chinese, english, both, stubborn) = (&owing[0], &owing[1], &owing[2], &owing[3]);
    let address = |unit: &str| format!("{unit}@example.org");
    mailbox(&suite, chinese, &address(chinese), "").await;
    mailbox(&suite, english, &address(english), "en").await;
    // A webhook that accepts at the third attempt, and an address.
    webhook(&suite, both, format!("http://{addr}/ok-after-2"), "", vec![]).await;
    mailbox(&suite, both, &address(both), "").await;
    // A webhook that never accepts, and an address.
    webhook(&suite, stubborn, format!("http://{addr}/always-500"), "", vec![]).await;
    mailbox(&suite, stubborn, &address(stubborn), "en").await;

    let mut admin = suite.notices(Caller::Admin);
    admin
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: date(4, 5),
        })
        .await
        .unwrap();
    let key = |unit: &str| format!("2023-04-05~overdue~{unit}~2023-03");
    let name = |unit: &str| format!("{PLAN}/notices/{}", key(unit));

    // `stubborn`'s address accepted its notice while its webhook failed: restarted now,
    // the server must not mail it again.
    until("the stubborn unit's e-mail", || sink.to(&address(stubborn)).len() == 1).await;
    // Its round recorded (the acceptance is recorded before the round's outcome): only a
    // crash between the relay's acceptance and that record may send it again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin
        .get_notice(pb::GetNoticeRequest { name: name(stubborn) })
        .await
        .unwrap()
        .into_inner()
        .delivery_attempts
        == 0
    {
        assert!(Instant::now() < deadline, "the stubborn unit's first round");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    suite.restart(Server::Reporting).await;
    let mut admin = suite.notices(Caller::Admin);
    let names = [name(chinese), name(english), name(both), name(stubborn)];
    let notices = settled(&mut admin, &names).await;

    for unit in [chinese, english, both] {
        let notice = &notices[&name(unit)];
        assert_eq!(
            notice.delivery_state(),
            pb::NoticeDeliveryState::Delivered,
            "{notice:?}"
        );
    }
    // Exactly one message per notice and address, whatever the retries and the restart.
    assert_eq!(sink.messages().len(), 4, "{:#?}", sink.messages());
    for unit in [chinese, english, both, stubborn] {
        let mails = sink.to(&address(unit));
        assert_eq!(mails.len(), 1, "{unit}: {mails:#?}");
        let mail = &mails[0];
        assert_eq!(
            mail["message_id"],
            format!("<{}@jiading-2023.duban>", key(unit)).as_str()
        );
        assert_eq!(mail["mail_from"], "duban@example.org");
        assert_eq!(mail["content_type"], "text/plain");
        let (subject, body) = (mail["subject"].as_str().unwrap(), mail["body"].as_str().unwrap());
        let notice = &notices[&name(unit)];
        if unit == english || unit == stubborn {
            assert!(subject.starts_with("[Blue notice] "), "{subject}");
            assert!(subject.ends_with(": the 2023-03 reports, due 2023-04-05"), "{subject}");
            assert!(body.contains(&notice.reason_en), "{body}");
            assert!(body.contains("Due date: 2023-04-05"), "{body}");
        } else {
            assert!(subject.starts_with("【蓝色督办】"), "{subject}");
            assert!(subject.ends_with("：2023-03期报告，到期日2023-04-05"), "{subject}");
            assert!(body.contains(&notice.reason), "{body}");
            assert!(body.contains("报告期：2023-03"), "{body}");
        }
        assert!(!body.contains("http"), "no link in {body}");
    }
    // The first message (to the first unit by code) was refused (451): its notice was
    // retried, then accepted.
    let refused = &notices[&name(chinese)];
    assert_eq!(refused.delivery_attempts, 1, "{refused:?}");
    assert!(
        refused.last_delivery_error.contains("451"),
        "{}",
        refused.last_delivery_error
    );
    assert!(refused.delivered_time.is_some());
    // Webhook and address both delivered, each once: the e-mail was not repeated while
    // the webhook was retried.
    let pushes = receiver.at("/ok-after-2");
    assert_eq!(pushes.iter().filter(|r| r.accepted).count(), 1, "{pushes:?}");
    // A webhook that never accepts: DEAD_LETTER after 4 rounds (a round cut by the
    // restart may have pushed once more), its e-mail sent once.
    let dead = &notices[&name(stubborn)];
    assert_eq!(dead.delivery_state(), pb::NoticeDeliveryState::DeadLetter, "{dead:?}");
    assert_eq!(dead.delivery_attempts, 4);
    assert!(receiver.at("/always-500").len() >= 4);

    assert_eq!(notices[&name(both)].accepted_endpoints.len(), 2, "webhook and address");
    assert_eq!(dead.accepted_endpoints.len(), 1, "the address only");

    // An operator puts the dead letter back: PENDING, its rounds counted afresh; it dies
    // again (the webhook still fails), and its address is not mailed again.
    let pushed = receiver.at("/always-500").len();
    let leadership = suite.issue_token(dpb::Role::Leadership, "").await;
    let mut leader = suite.notices(leadership.as_str());
    let refused = leader
        .requeue_notice(pb::RequeueNoticeRequest { name: name(stubborn) })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused)),
        (Code::PermissionDenied, Some("ROLE_NOT_ALLOWED".into()))
    );
    let requeued = admin
        .requeue_notice(pb::RequeueNoticeRequest { name: name(stubborn) })
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(
            requeued.delivery_state(),
            pb::NoticeDeliveryState::Pending | pb::NoticeDeliveryState::Failed
        ),
        "{requeued:?}"
    );
    let again = settled(&mut admin, &[name(stubborn)]).await;
    let again = &again[&name(stubborn)];
    assert_eq!(again.delivery_state(), pb::NoticeDeliveryState::DeadLetter, "{again:?}");
    assert_eq!(again.delivery_attempts, 4);
    assert_eq!(receiver.at("/always-500").len(), pushed + 4);
    assert_eq!(sink.to(&address(stubborn)).len(), 1);
    // A delivered notice is not requeued.
    let delivered = admin
        .requeue_notice(pb::RequeueNoticeRequest { name: name(chinese) })
        .await
        .unwrap_err();
    assert_eq!(
        (delivered.code(), reason(&delivered)),
        (Code::FailedPrecondition, Some("NOTICE_DELIVERY_NOT_FAILED".into()))
    );

    // More rounds and another restart send nothing more.
    suite.restart(Server::Reporting).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.messages().len(), 4);
    suite.stop().await;
}

duban_kit::backend_tests!(notices_are_mailed_once_in_the_units_language);
