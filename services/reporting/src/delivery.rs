//! The delivery worker: one task per reporting server that pushes the follow-up notices
//! to the units' WEBHOOK endpoints, signed, and mails them to their EMAIL endpoints
//! through the SMTP relay ([`mail`]), and retries with backoff.
//!
//! Every `interval` it takes the notices due (PENDING, or FAILED whose next attempt time
//! has passed), reads the enabled endpoints with their secrets from the departments
//! service (`DepartmentsInternalService.ListDeliveryEndpoints`, with the service token),
//! and sends each notice to every endpoint of its recipient units whose `levels` include
//! its level (empty means all) and that has not accepted it yet: a WEBHOOK gets a JSON
//! POST with `X-Duban-Signature: sha256=<hex HMAC-SHA256 of the body keyed with the
//! secret>`, `X-Duban-Notice` (its name) and `Idempotency-Key` (stable per notice and
//! endpoint); an EMAIL address gets a plain-text message in its language whose
//! `Message-ID` is derived from the notice. Each acceptance (HTTP 2xx, or the relay's
//! 250 after the message) is recorded through the writer before the next endpoint is
//! tried, so a restart never sends a notice again to an endpoint that accepted it; only
//! a crash between the acceptance and that record can send it once more, which the
//! receivers drop by `Idempotency-Key` or `Message-ID`. The round's outcome is written
//! through reporting's writer too:
//!   - every matching endpoint accepted it: DELIVERED (with the time);
//!   - one did not: FAILED, `attempts` + 1 and the next attempt after a backoff
//!     (`first_backoff` doubling, at most `max_backoff`); the endpoints that accepted
//!     already are remembered and not sent it again; after `max_attempts` failed rounds:
//!     DEAD_LETTER, for an operator;
//!   - no recipient unit has a matching endpoint: NO_CHANNEL (read on the dashboard
//!     only; an endpoint added later does not receive old notices);
//!   - matching endpoints are EMAIL only and no relay is configured (`smtp.host` empty):
//!     stays PENDING, looked at again hourly, until one is. With a webhook too, the
//!     webhook alone decides (the e-mail is not waited for).
//!
//! Replicas may push the same notice in the same round: receivers drop repeats by
//! `Idempotency-Key` or `Message-ID`, and the writer moves a notice only out of PENDING
//! or FAILED.

pub mod mail;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use duban_kit::client::ServiceChannel;
use duban_proto::departments::v1::{
    self as dpb, departments_internal_service_client::DepartmentsInternalServiceClient,
};
use duban_proto::reporting::v1 as pb;
use hmac::{KeyInit, Mac};
use http_body_util::Full;
use tokio_util::sync::CancellationToken;

use crate::{Clock, Reporting, convert, entity::notice, store::DeliveryUpdate};

/// Notices taken per round.
const BATCH: u64 = 200;
/// How long a PENDING notice that only e-mail endpoints want, while no SMTP relay is
/// configured, waits before it is looked at again.
const EMAIL_RECHECK: Duration = Duration::from_secs(3600);
/// At most this much of an error is kept.
const MAX_ERROR_CHARS: usize = 2000;

/// The worker's timing, with production defaults that tests shorten.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// What time it is (the system clock).
    pub clock: Clock,
    /// How often it looks for notices due (30 seconds).
    pub interval: Duration,
    /// The wait after the first failed round (1 minute); it doubles with each.
    pub first_backoff: Duration,
    /// The longest wait between rounds of one notice (1 hour).
    pub max_backoff: Duration,
    /// Failed rounds before DEAD_LETTER (6).
    pub max_attempts: i32,
    /// How long one POST or one e-mail may take, connection included (10 seconds).
    pub timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            clock: Clock::default(),
            interval: Duration::from_secs(30),
            first_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 6,
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryOptions {
    /// The wait after `attempts` failed rounds.
    fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        self.first_backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

/// Starts the worker for `reporting`, reading endpoints over `departments` and mailing
/// through `mailer` (none: no e-mail), until `stopping`.
pub fn start(
    reporting: Reporting,
    departments: ServiceChannel,
    mailer: Option<mail::Mailer>,
    options: DeliveryOptions,
    stopping: CancellationToken,
) {
    tokio::spawn(async move {
        let client = DepartmentsInternalServiceClient::new(departments);
        // The first round one interval after start-up: the departments service and the
        // day's evaluation have had time to come up.
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(options.interval) => {}
            }
            tokio::select! {
                () = stopping.cancelled() => return,
                () = round(&reporting, client.clone(), mailer.as_ref(), &options) => {}
            }
        }
    });
}

/// One round: every notice due, pushed once.
async fn round(
    reporting: &Reporting,
    client: DepartmentsInternalServiceClient<ServiceChannel>,
    mailer: Option<&mail::Mailer>,
    options: &DeliveryOptions,
) {
    let now_us = options.clock.now().timestamp_micros();
    let due = match reporting.notices_to_deliver(now_us, BATCH).await {
        Ok(due) if due.is_empty() => return,
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read the notices to deliver");
            return;
        }
    };
    // Nothing is counted against a notice while the endpoints cannot be read.
    let endpoints = match delivery_endpoints(client).await {
        Ok(endpoints) => endpoints,
        Err(error) => {
            tracing::warn!(%error, "cannot read the delivery endpoints; retrying next round");
            return;
        }
    };
    // Names make an e-mail readable; codes do when the directory cannot be read.
    let names = reporting.department_names().await;
    let channels = Channels {
        endpoints: &endpoints,
        mailer,
        names: &names,
    };
    for row in due {
        let update = deliver(reporting, &row, &channels, options).await;
        if let Err(error) = reporting.record_delivery(&row.plan, &row.id, update).await {
            tracing::warn!(notice = %convert::notice_name(&row.plan, &row.id), %error, "cannot record a delivery");
        }
    }
}

/// Every enabled endpoint, with its secret.
async fn delivery_endpoints(
    mut client: DepartmentsInternalServiceClient<ServiceChannel>,
) -> Result<Vec<dpb::DeliveryEndpoint>, tonic::Status> {
    let mut endpoints = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_delivery_endpoints(dpb::ListDeliveryEndpointsRequest {
                parent: "departments/-".into(),
                page_size: 500,
                page_token,
            })
            .await?
            .into_inner();
        endpoints.extend(page.endpoints);
        if page.next_page_token.is_empty() {
            return Ok(endpoints);
        }
        page_token = page.next_page_token;
    }
}

/// The unit code of `departments/{code}/endpoints/{id}`.
fn endpoint_unit(name: &str) -> &str {
    name.strip_prefix("departments/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}

/// Whether `endpoint` wants a notice of `level` (a `NoticeLevel` contract name, the same
/// in both packages) about a unit in `recipients`.
fn wants(endpoint: &dpb::NotificationEndpoint, recipients: &[String], level: &str) -> bool {
    recipients.iter().any(|code| code == endpoint_unit(&endpoint.name))
        && endpoint.enabled != Some(false)
        && (endpoint.levels.is_empty() || endpoint.levels().any(|wanted| wanted.as_str_name() == level))
}

/// What a round delivers through.
struct Channels<'a> {
    /// Every enabled endpoint, with its secret.
    endpoints: &'a [dpb::DeliveryEndpoint],
    /// The SMTP relay, if one is configured.
    mailer: Option<&'a mail::Mailer>,
    /// Department code to name.
    names: &'a BTreeMap<String, String>,
}

/// Sends `row` to the endpoints that want it and have not accepted it yet, recording
/// each acceptance at once, and says what its state becomes.
async fn deliver(
    reporting: &Reporting,
    row: &notice::Model,
    channels: &Channels<'_>,
    options: &DeliveryOptions,
) -> DeliveryUpdate {
    use pb::NoticeDeliveryState as S;
    let recipients: Vec<String> = serde_json::from_str(&row.recipient_departments).unwrap_or_default();
    let mut accepted: BTreeSet<String> = serde_json::from_str(&row.delivered_endpoints).unwrap_or_default();
    let matching: Vec<&dpb::NotificationEndpoint> = channels
        .endpoints
        .iter()
        .filter_map(|e| e.endpoint.as_ref())
        .filter(|e| wants(e, &recipients, &row.level))
        .collect();
    // What can be sent now: webhooks always, e-mail when a relay is configured.
    let sendable: Vec<&dpb::DeliveryEndpoint> = channels
        .endpoints
        .iter()
        .filter(|e| {
            e.endpoint.as_ref().is_some_and(|e| {
                wants(e, &recipients, &row.level)
                    && match e.kind() {
                        dpb::EndpointKind::Webhook => true,
                        dpb::EndpointKind::Email => channels.mailer.is_some(),
                        dpb::EndpointKind::Unspecified => false,
                    }
            })
        })
        .collect();
    let mut update = DeliveryUpdate {
        state: row.delivery_state.clone(),
        attempts: row.delivery_attempts,
        next_attempt_time_us: row.next_attempt_time_us,
        last_error: row.last_error.clone(),
        delivered: false,
        delivered_endpoints: row.delivered_endpoints.clone(),
    };
    if sendable.is_empty() && accepted.is_empty() {
        if matching.is_empty() {
            update.state = S::NoChannel.as_str_name().to_owned();
            update.next_attempt_time_us = None;
        } else {
            // E-mail only, and no relay configured yet.
            let recheck = chrono::Duration::from_std(EMAIL_RECHECK).unwrap_or_default();
            update.next_attempt_time_us = Some((options.clock.now() + recheck).timestamp_micros());
        }
        return update;
    }
    let notice = convert::notice(row);
    let mut errors = Vec::new();
    for delivery in sendable {
        let Some(endpoint) = &delivery.endpoint else { continue };
        if accepted.contains(&endpoint.name) {
            continue;
        }
        let sent = match endpoint.kind() {
            dpb::EndpointKind::Email => match channels.mailer {
                Some(mailer) => {
                    let code = endpoint_unit(&endpoint.name);
                    let unit = channels.names.get(code).map_or(code, String::as_str);
                    mailer.send(&notice, unit, &endpoint.address, &endpoint.language).await
                }
                None => continue,
            },
            _ => {
                let body = body(&notice, &endpoint.language);
                post(endpoint, &delivery.secret, &notice.name, body, options.timeout).await
            }
        };
        match sent {
            Ok(()) => {
                accepted.insert(endpoint.name.clone());
                // Recorded before the next endpoint: a restart does not send it again.
                update.delivered_endpoints = serde_json::to_string(&accepted).unwrap_or_else(|_| "[]".into());
                if let Err(error) = reporting.record_delivery(&row.plan, &row.id, update.clone()).await {
                    tracing::warn!(notice = %notice.name, endpoint = %endpoint.name, %error, "cannot record an acceptance");
                }
            }
            Err(error) => {
                tracing::info!(notice = %notice.name, endpoint = %endpoint.name, %error, "an endpoint did not accept a notice");
                errors.push(format!("{}: {error}", endpoint.name));
            }
        }
    }
    update.delivered_endpoints = serde_json::to_string(&accepted).unwrap_or_else(|_| "[]".into());
    if errors.is_empty() {
        update.state = S::Delivered.as_str_name().to_owned();
        update.delivered = true;
        update.next_attempt_time_us = None;
        return update;
    }
    update.attempts = row.delivery_attempts.saturating_add(1);
    update.last_error = errors.join("; ").chars().take(MAX_ERROR_CHARS).collect();
    if update.attempts >= options.max_attempts {
        update.state = S::DeadLetter.as_str_name().to_owned();
        update.next_attempt_time_us = None;
        tracing::warn!(notice = %notice.name, attempts = update.attempts, error = %update.last_error, "gave up delivering a notice");
    } else {
        update.state = S::Failed.as_str_name().to_owned();
        let wait = chrono::Duration::from_std(options.backoff(update.attempts)).unwrap_or_default();
        update.next_attempt_time_us = Some((options.clock.now() + wait).timestamp_micros());
    }
    update
}

/// The JSON a webhook receives: the notice, its reason in the endpoint's language.
pub fn body(notice: &pb::Notice, language: &str) -> Vec<u8> {
    let date = |d: &Option<duban_proto::common::v1::Date>| {
        d.as_ref()
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_default()
    };
    let english = language == "en";
    let json = serde_json::json!({
        "name": notice.name,
        "level": notice.level().as_str_name(),
        "rule": notice.rule().as_str_name(),
        "language": if english { "en" } else { "zh" },
        "reason": if english { &notice.reason_en } else { &notice.reason },
        "department": notice.department,
        "period": notice.period.as_ref().map(|p| format!("{:04}-{:02}", p.year, p.month)).unwrap_or_default(),
        "day": date(&notice.day),
        "due_date": date(&notice.due_date),
        "reports": notice.reports,
        "recipient_departments": notice.recipient_departments,
        "create_time": notice.create_time.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    });
    serde_json::to_vec(&json).unwrap_or_default()
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`, the X-Duban-Signature value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2_digest11::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_key());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// HMAC takes keys of any length: this is never called.
#[cold]
fn unreachable_key() -> hmac::Hmac<sha2_digest11::Sha256> {
    <hmac::Hmac<sha2_digest11::Sha256> as KeyInit>::new(&Default::default())
}

/// The Idempotency-Key of `notice` to `endpoint`: the same for every retry.
fn idempotency_key(notice: &str, endpoint: &str) -> String {
    use sha2_digest11::Digest;
    let digest = sha2_digest11::Sha256::digest(format!("{notice}\n{endpoint}").as_bytes());
    hex::encode(digest)
}

/// POSTs `body` to the endpoint's URL; Ok on a 2xx answer within `timeout`.
async fn post(
    endpoint: &dpb::NotificationEndpoint,
    secret: &str,
    notice: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let attempt = async {
        let uri: http::Uri = endpoint.url.parse().map_err(|e| format!("bad url: {e}"))?;
        let host = uri.host().ok_or("the url names no host")?.to_owned();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let request = http::Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "duban-reporting")
            .header("X-Duban-Signature", signature(secret, &body))
            .header("X-Duban-Notice", notice)
            .header("Idempotency-Key", idempotency_key(notice, &endpoint.name))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let host_for_tcp = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let address = checked_address(&host_for_tcp, port, https).await?;
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let status = if https {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host_for_tcp)
                .map_err(|e| format!("bad host: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            send(tls, request).await?
        } else {
            send(tcp, request).await?
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", status.as_u16()))
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// The address to connect to for `host`: every address the name resolves to must be
/// one the endpoint's configuration allows (public, or loopback; plain http to loopback
/// only), checked now rather than when the URL was configured, since a name can be
/// pointed at an internal host later. The connection goes to the address checked, not
/// to a second resolution of the name.
async fn checked_address(host: &str, port: u16, https: bool) -> Result<std::net::SocketAddr, String> {
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let allowed = |ip: std::net::IpAddr| ip.is_loopback() || (https && duban_kit::net::is_public_ip(ip));
    if let Some(refused) = addresses.iter().find(|address| !allowed(address.ip())) {
        return Err(format!(
            "{host} resolves to {}, which a webhook may not reach",
            refused.ip()
        ));
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

/// Sends `request` over `io` with HTTP/1.1 and returns the answer's status.
async fn send<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<http::StatusCode, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"));
    driver.abort();
    Ok(answer?.status())
}

/// The TLS client configuration: the system's root certificates, loaded once.
fn tls_config() -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    use tokio_rustls::rustls;
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                // A certificate the store refuses is skipped, as the platform would.
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("TLS: {e}"))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[tokio::test]
    async fn sends_only_to_addresses_the_configuration_allows() {
        assert!(
            checked_address("127.0.0.1", 80, false).await.is_ok(),
            "loopback, for development"
        );
        assert!(checked_address("localhost", 80, false).await.is_ok());
        let refused = checked_address("10.1.2.3", 443, true).await.unwrap_err();
        assert!(refused.contains("10.1.2.3"), "{refused}");
        assert!(checked_address("169.254.169.254", 80, false).await.is_err());
        assert!(
            checked_address("8.8.8.8", 80, false).await.is_err(),
            "plain http only to loopback"
        );
        assert!(checked_address("8.8.8.8", 443, true).await.is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = DeliveryOptions::default();
        let minutes: Vec<u64> = (1..=8).map(|n| options.backoff(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
