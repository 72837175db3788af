//! The whole suite on ephemeral ports, for the gateway's tests.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use duban_kit::{
    GrpcServer, Settings,
    client::ServiceChannel,
    testing::{self, Backend, TestDatabase},
};
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    gateway::v1::{self as pb, dashboard_service_client::DashboardServiceClient},
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const PLAN: &str = "plans/jiading-2023";
const STARTUP: Duration = Duration::from_secs(30);

/// Departments, targets, measures, reporting and the gateway, sharing tokens.
pub struct Suite {
    pub settings: Settings,
    pub servers: Vec<GrpcServer>,
    pub reporting: Option<GrpcServer>,
    pub gateway: duban_gateway::Gateway,
    _dbs: Vec<TestDatabase>,
}

impl Suite {
    pub async fn start(backend: Backend) -> Option<Suite> {
        Self::start_with(backend, |_| {}).await
    }

    /// Like `start`, with the settings changed by `configure` before the servers start.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<Suite> {
        let mut dbs = Vec::new();
        for _ in 0..4 {
            dbs.push(TestDatabase::new(backend).await?);
        }
        let mut settings = testing::test_settings(dbs[0].url());
        settings.targets = testing::test_service(dbs[1].url());
        settings.measures = testing::test_service(dbs[2].url());
        settings.reporting = testing::test_service(dbs[3].url());
        settings.gateway.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.gateway.watch_interval_ms = 200;
        settings.gateway.catalogue_cache_seconds = 1;
        configure(&mut settings);
        let directory = duban_catalog::Directory::from_toml_str(duban_catalog::JIADING_DIRECTORY).unwrap();
        let departments = duban_departments::start(&settings, directory).await.unwrap();
        testing::wait_serving(departments.local_addr(), duban_departments::SERVICE_NAME, STARTUP).await;
        settings.departments.endpoint = testing::endpoint(departments.local_addr());
        let targets = duban_targets::start(&settings).await.unwrap();
        testing::wait_serving(targets.local_addr(), duban_targets::SERVICE_NAME, STARTUP).await;
        settings.targets.endpoint = testing::endpoint(targets.local_addr());
        let measures = duban_measures::start(&settings).await.unwrap();
        testing::wait_serving(measures.local_addr(), duban_measures::SERVICE_NAME, STARTUP).await;
        settings.measures.endpoint = testing::endpoint(measures.local_addr());
        let (_, plan) = duban_catalog::jiading_2023();
        MeasuresServiceClient::new(testing::channel(
            measures.local_addr(),
            Some(&settings.auth.bootstrap_admin_token),
        ))
        .import_plan(mpb::ImportPlanRequest {
            dataset: Some(duban_measures::from_catalog(&plan, None)),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await
        .expect("the plan imports");
        let reporting = duban_reporting::start(&settings).await.unwrap();
        testing::wait_serving(reporting.local_addr(), duban_reporting::SERVICE_NAME, STARTUP).await;
        // Restarts bind the same port.
        settings.reporting.listen = reporting.local_addr();
        settings.reporting.endpoint = testing::endpoint(reporting.local_addr());
        let gateway = duban_gateway::start(&settings).await.unwrap();
        testing::wait_serving(gateway.local_addr(), duban_gateway::SERVICE_NAME, STARTUP).await;
        Some(Suite {
            settings,
            servers: vec![departments, targets, measures],
            reporting: Some(reporting),
            gateway,
            _dbs: dbs,
        })
    }

    pub fn dashboard(&self, token: &str) -> DashboardServiceClient<ServiceChannel> {
        DashboardServiceClient::new(testing::channel(self.gateway.local_addr(), Some(token)))
    }

    pub async fn overview(&self, client: &mut DashboardServiceClient<ServiceChannel>) -> pb::Overview {
        client
            .get_overview(pb::GetOverviewRequest {
                plan: PLAN.into(),
                as_of: None,
            })
            .await
            .unwrap()
            .into_inner()
            .overview
            .unwrap()
    }

    pub fn directory(&self) -> DepartmentsServiceClient<ServiceChannel> {
        DepartmentsServiceClient::new(testing::channel(
            self.servers[0].local_addr(),
            Some(&self.settings.auth.bootstrap_admin_token),
        ))
    }

    /// A department of the directory other than `code`.
    pub async fn other_department(&self, code: &str) -> String {
        self.directory()
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

    pub async fn issue(&self, role: dpb::Role, department: &str) -> String {
        self.directory()
            .issue_credential(dpb::IssueCredentialRequest {
                credential: Some(dpb::Credential {
                    role: role as i32,
                    department: department.to_owned(),
                    description: "gateway test".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .token
    }

    pub async fn stop_reporting(mut self) -> Suite {
        if let Some(reporting) = self.reporting.take() {
            reporting.shutdown().await;
        }
        self
    }

    pub async fn restart_reporting(mut self) -> Suite {
        let reporting = duban_reporting::start(&self.settings).await.unwrap();
        testing::wait_serving(reporting.local_addr(), duban_reporting::SERVICE_NAME, STARTUP).await;
        self.reporting = Some(reporting);
        self
    }

    pub async fn stop(mut self) {
        self.gateway.shutdown().await;
        if let Some(reporting) = self.reporting.take() {
            reporting.shutdown().await;
        }
        for server in self.servers.into_iter().rev() {
            server.shutdown().await;
        }
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
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
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
