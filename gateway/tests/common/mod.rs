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
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw.get(split + 4..).unwrap_or_default();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(bytes: &[u8]) -> Vec<u8> {
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
