//! The whole suite on ephemeral ports (through the harness), and plain HTTP/1.1
//! requests, for the gateway's tests.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

pub use duban_harness::{Caller, DashboardClient, PLAN, ReportKey, Server, Suite};
use duban_kit::{settings::DashboardAccess, testing::Backend};
use duban_proto::{departments::v1 as dpb, gateway::v1 as pb, reporting::v1 as rpb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// All five servers, the plan imported.
pub async fn start_suite(backend: Backend) -> Option<Suite> {
    Suite::builder(backend).all().start().await
}

/// All five servers, the plan imported, with the dashboard open to anyone on this machine as
/// `duban up` opens it on loopback (`gateway.dashboard_access = local`).
pub async fn start_local_suite(backend: Backend) -> Option<Suite> {
    Suite::builder(backend)
        .all()
        .configure(|settings| settings.gateway.dashboard_access = DashboardAccess::Local)
        .start()
        .await
}

/// Today in the plan's time zone: the date to ask for to see what the tests submit now
/// (the plan ended in 2023, so a view with no date shows its last day).
pub fn today() -> duban_proto::common::v1::Date {
    duban_plan::contract::date_to_proto(duban_plan::PlanZone::default().today())
}

/// `today()` as a query parameter value, `YYYY-MM-DD`.
pub fn today_param() -> String {
    duban_plan::PlanZone::default().today().format("%Y-%m-%d").to_string()
}

/// What the gateway's tests ask of a suite beyond the harness's clients and tokens.
pub trait GatewaySuite {
    /// The overview of the plan, as `client` sees it today. Asked for today by date: with
    /// no date the gateway shows the plan's last day (2023-12-31), when nothing the
    /// tests submit now had been submitted yet.
    async fn overview(&self, client: &mut DashboardClient) -> pb::Overview;
    /// A department of the directory other than `code`.
    async fn other_department(&self, code: &str) -> String;
    /// The values of a final report by `department` on `measure`: `value` for the target
    /// `code`, and 1 (valid in every unit) for every other target it owes there.
    async fn final_values(&self, measure: &str, department: &str, code: &str, value: &str) -> Vec<rpb::MetricValue>;
}

impl GatewaySuite for Suite {
    async fn overview(&self, client: &mut DashboardClient) -> pb::Overview {
        client
            .get_overview(pb::GetOverviewRequest {
                plan: PLAN.into(),
                as_of: Some(today()),
            })
            .await
            .unwrap()
            .into_inner()
            .overview
            .unwrap()
    }

    async fn other_department(&self, code: &str) -> String {
        self.departments(Caller::Admin)
            .list_departments(dpb::ListDepartmentsRequest {
                page_size: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .departments
            .into_iter()
            .map(|d| d.code)
            .find(|c| c != code)
            .unwrap()
    }

    async fn final_values(&self, measure: &str, department: &str, code: &str, value: &str) -> Vec<rpb::MetricValue> {
        let responsibility = self
            .responsibilities()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.measure == measure && r.department == department)
            .expect("the department is responsible for the measure");
        let mut values = ReportKey::new(&responsibility, 1).values(1);
        let own = values
            .iter_mut()
            .find(|v| v.target_code == code)
            .expect("the department owes the target");
        own.value = Some(value.parse().unwrap());
        values
    }
}

/// A plain HTTP/1.1 GET: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = http_request(addr, "GET", path, &[], b"").await;
    (answer.status, answer.text())
}

/// Header names in lower case and values, in the order received.
pub type Headers = Vec<(String, String)>;

/// An answer to a raw HTTP/1.1 request, the body de-chunked.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every header named `name` (lower case).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits a raw answer into status, headers and the (still chunked) body, once the
/// head is complete.
pub fn split_head(raw: &[u8]) -> Option<(u16, Headers, &[u8])> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some((status, headers, &raw[split + 4..]))
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_request_on(stream, addr, method, path, headers, body).await
}

/// As [`http_request`], on a connection already open to `addr` (a TLS stream, say).
pub async fn http_request_on(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let (status, headers, body) = split_head(&raw).expect("an HTTP answer");
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    HttpAnswer { status, headers, body }
}

/// The chunked body `bytes` decoded, as far as it is complete.
pub fn dechunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(line_end) = bytes[i..].windows(2).position(|w| w == b"\r\n").map(|n| i + n) else {
            break;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&bytes[i..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&bytes[start..(start + size).min(bytes.len())]);
        i = start + size + 2;
    }
    out
}
