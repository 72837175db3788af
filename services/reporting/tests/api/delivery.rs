//! The delivery worker pushing notices to webhooks: a receiver on loopback that records
//! every request (and answers 500 as told), endpoints configured through the departments
//! API, a day's BLUE notices evaluated by hand; the body and its signature, retries with
//! backoff to DELIVERED, DEAD_LETTER after the last attempt, NO_CHANNEL for the units
//! without an endpoint, and no repeat after success.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use duban_reporting::{Options, delivery::DeliveryOptions};
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};

use super::notices::{date, owing_march};
use super::*;

/// A request the receiver got, and whether it answered 2xx.
#[derive(Debug, Clone)]
pub(super) struct Received {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
    pub(super) accepted: bool,
}

/// A webhook receiver on 127.0.0.1: `/ok-after-2` answers 500 twice then 204, any
/// other path always 500.
#[derive(Clone, Default)]
pub(super) struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(super) async fn start(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let this = this.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let path = parts.uri.path().to_owned();
                            let mut received = this.received.lock().unwrap();
                            let before = received.iter().filter(|r| r.path == path).count();
                            let accepted = path == "/ok-after-2" && before >= 2;
                            received.push(Received {
                                path,
                                headers: parts.headers,
                                body,
                                accepted,
                            });
                            let status = if accepted { 204 } else { 500 };
                            Ok::<_, Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    pub(super) fn at(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

pub(super) async fn webhook(
    suite: &Suite,
    unit: &str,
    url: String,
    language: &str,
    levels: Vec<dpb::NoticeLevel>,
) -> String {
    suite
        .departments(Caller::Admin)
        .create_endpoint(dpb::CreateEndpointRequest {
            parent: format!("departments/{unit}"),
            endpoint: Some(dpb::NotificationEndpoint {
                kind: dpb::EndpointKind::Webhook as i32,
                url,
                language: language.into(),
                levels: levels.into_iter().map(|l| l as i32).collect(),
                ..Default::default()
            }),
            request_id: format!("hook-{unit}"),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .secret
}

/// Waits until every notice of `units` is out of PENDING and FAILED, or fails.
pub(super) async fn settled(admin: &mut duban_harness::NoticesClient, names: &[String]) -> HashMap<String, pb::Notice> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut notices = HashMap::new();
        for name in names {
            let notice = admin
                .get_notice(pb::GetNoticeRequest { name: name.clone() })
                .await
                .unwrap()
                .into_inner();
            notices.insert(name.clone(), notice);
        }
        let busy = notices.values().any(|n| {
            matches!(
                n.delivery_state(),
                pb::NoticeDeliveryState::Pending | pb::NoticeDeliveryState::Failed
            )
        });
        if !busy {
            return notices;
        }
        assert!(Instant::now() < deadline, "deliveries did not settle: {notices:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn notices_are_pushed_signed_retried_and_dead_lettered(backend: Backend) {
    let options = Options {
        delivery: DeliveryOptions {
            interval: Duration::from_millis(100),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(400),
            max_attempts: 3,
            ..DeliveryOptions::default()
        },
        ..Options::default()
    };
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .start()
        .await
    else {
        return;
    };
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let owing: Vec<String> = owing_march(&suite).await.into_iter().collect();
    let (patient, broken, silent) = (&owing[0], &owing[1], &owing[2]);
    // `patient` wants every level, in English; `broken` wants BLUE.
    let secret = webhook(&suite, patient, format!("http://{addr}/ok-after-2"), "en", vec![]).await;
    let broken_secret = webhook(
        &suite,
        broken,
        format!("http://{addr}/always-500"),
        "",
        vec![dpb::NoticeLevel::Blue],
    )
    .await;
    assert!(!secret.is_empty() && !broken_secret.is_empty());

    // The due day: a BLUE notice for every unit owing March.
    let mut admin = suite.notices(Caller::Admin);
    admin
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: date(4, 5),
        })
        .await
        .unwrap();
    let name = |unit: &str| format!("{PLAN}/notices/2023-04-05~overdue~{unit}~2023-03");
    let names = [name(patient), name(broken), name(silent)];
    let notices = settled(&mut admin, &names).await;

    // Accepted at the third attempt: DELIVERED, the two failed rounds counted.
    let delivered = &notices[&name(patient)];
    assert_eq!(
        delivered.delivery_state(),
        pb::NoticeDeliveryState::Delivered,
        "{delivered:?}"
    );
    assert_eq!(delivered.delivery_attempts, 2);
    assert!(delivered.delivered_time.is_some());
    assert!(delivered.next_delivery_time.is_none());
    assert!(
        delivered.last_delivery_error.contains("HTTP 500"),
        "{}",
        delivered.last_delivery_error
    );
    let pushes = receiver.at("/ok-after-2");
    assert_eq!(pushes.len(), 3, "{pushes:?}");
    assert_eq!(pushes.iter().filter(|r| r.accepted).count(), 1);
    // Every retry carries the same idempotency key and the notice's name.
    let keys: std::collections::BTreeSet<_> = pushes.iter().map(|r| r.headers["idempotency-key"].clone()).collect();
    assert_eq!(keys.len(), 1);
    let last = pushes.last().unwrap();
    assert_eq!(last.headers["x-duban-notice"], delivered.name.as_str());
    assert_eq!(last.headers["content-type"], "application/json");
    // The signature is the hex HMAC-SHA256 of the exact body with CreateEndpoint's secret.
    let mut mac = hmac::Hmac::<sha2_digest11::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&last.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(last.headers["x-duban-signature"], expected.as_str());
    let mut wrong = hmac::Hmac::<sha2_digest11::Sha256>::new_from_slice(broken_secret.as_bytes()).unwrap();
    wrong.update(&last.body);
    assert_ne!(
        last.headers["x-duban-signature"],
        format!("sha256={}", hex::encode(wrong.finalize().into_bytes())).as_str()
    );
    // The body is the notice, its reason in the endpoint's language.
    let body: serde_json::Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["name"], delivered.name.as_str());
    assert_eq!(body["level"], "NOTICE_LEVEL_BLUE");
    assert_eq!(body["rule"], "NOTICE_RULE_OVERDUE");
    assert_eq!(body["department"], patient.as_str());
    assert_eq!(body["period"], "2023-03");
    assert_eq!(body["due_date"], "2023-04-05");
    assert_eq!(body["reason"], delivered.reason_en.as_str());
    assert_eq!(body["reports"].as_array().unwrap().len(), delivered.reports.len());
    assert!(body["create_time"].as_str().unwrap().starts_with('2'));

    // Always refused: DEAD_LETTER after the last of 3 attempts, with what it answered.
    let dead = &notices[&name(broken)];
    assert_eq!(dead.delivery_state(), pb::NoticeDeliveryState::DeadLetter, "{dead:?}");
    assert_eq!(dead.delivery_attempts, 3);
    assert!(
        dead.last_delivery_error.contains("HTTP 500"),
        "{}",
        dead.last_delivery_error
    );
    assert!(dead.delivered_time.is_none());
    assert_eq!(receiver.at("/always-500").len(), 3);
    let body: serde_json::Value = serde_json::from_slice(&receiver.at("/always-500")[0].body).unwrap();
    assert_eq!(body["reason"], dead.reason.as_str());

    // No endpoint: NO_CHANNEL, never attempted.
    let none = &notices[&name(silent)];
    assert_eq!(none.delivery_state(), pb::NoticeDeliveryState::NoChannel, "{none:?}");
    assert_eq!(none.delivery_attempts, 0);

    // More rounds: nothing is pushed again. And a YELLOW day: `broken` wants BLUE only.
    admin
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: date(4, 10),
        })
        .await
        .unwrap();
    let yellow = |unit: &str| format!("{PLAN}/notices/2023-04-10~late~{unit}~2023-03");
    let later = settled(&mut admin, &[yellow(patient), yellow(broken)]).await;
    assert_eq!(
        later[&yellow(broken)].delivery_state(),
        pb::NoticeDeliveryState::NoChannel
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.at("/always-500").len(), 3);
    let pushes = receiver.at("/ok-after-2");
    // 3 for the BLUE notice, and the YELLOW one accepted at once (the path's count passed 2).
    assert_eq!(pushes.len(), 4, "{pushes:?}");
    assert_eq!(
        later[&yellow(patient)].delivery_state(),
        pb::NoticeDeliveryState::Delivered
    );
    assert_eq!(later[&yellow(patient)].delivery_attempts, 0);
}

duban_kit::backend_tests!(notices_are_pushed_signed_retried_and_dead_lettered);
