//! TLS on every port, with a CA and certificates from the code behind `duban certs`
//! (through the harness's `Transport`): the whole suite works over TLS and mutual TLS,
//! gateway to services included; a client without the CA, or in plaintext, is refused
//! at every server; the gateway's port answers HTTP/1.1 clients over TLS; under mutual
//! TLS a client without a certificate is refused, and the service token makes nobody
//! SERVICE without a Duban server's certificate, directly or through the front door.
//!
//! Transport is independent of storage, so these run on SQLite only.

use std::{net::SocketAddr, path::Path, sync::Arc};

use duban_harness::{Certificates, Transport};
use duban_kit::{
    settings::ClientSettings,
    testing::{self, Backend},
    tls::certs::DevCa,
};
use duban_proto::{
    common::v1::Period,
    departments::v1::{GetCallerIdentityRequest, Role, departments_service_client::DepartmentsServiceClient},
    gateway::v1::{GetOverviewRequest, dashboard_service_client::DashboardServiceClient},
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        crypto::ring,
        pki_types::{CertificateDer, ServerName, pem::PemObject},
    },
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::common::{GatewaySuite, HttpAnswer, PLAN, Server, Suite, http_request_on};

async fn start(transport: Transport) -> Suite {
    Suite::builder(Backend::Sqlite)
        .all()
        .transport(transport)
        .start()
        .await
        .expect("SQLite is never skipped")
}

/// A health check of the server at `addr`, with `client`'s TLS settings.
async fn health(client: &ClientSettings, addr: SocketAddr) -> Result<(), tonic::Status> {
    let mut health = HealthClient::new(testing::channel_with(client, addr, None));
    health.check(HealthCheckRequest::default()).await.map(drop)
}

/// Who the departments server behind `addr` (itself or the gateway's front door) says
/// the caller is, reached with `client`'s TLS settings and `token`.
async fn caller_role(client: &ClientSettings, addr: SocketAddr, token: &str) -> Result<Role, tonic::Status> {
    let mut departments = DepartmentsServiceClient::new(testing::channel_with(client, addr, Some(token)));
    let identity = departments.get_caller_identity(GetCallerIdentityRequest {}).await?;
    Ok(identity.into_inner().principal.unwrap_or_default().role())
}

/// The transport refused the call: the handshake failed (UNAVAILABLE) or the server
/// closed the connection on it (an UNKNOWN transport error).
fn assert_refused(result: Result<impl std::fmt::Debug, tonic::Status>, what: &str) {
    match result {
        Ok(answer) => panic!("{what}: answered {answer:?}"),
        Err(status) => assert!(
            matches!(status.code(), Code::Unavailable | Code::Unknown),
            "{what}: {status:?}"
        ),
    }
}

/// Client settings trusting a CA that issued none of the suite's certificates.
fn trusting_another_ca(dir: &Path) -> ClientSettings {
    let file = dir.join("other-ca.pem");
    std::fs::write(&file, DevCa::new().unwrap().certificate()).unwrap();
    let mut client = ClientSettings::default();
    client.tls.ca_file = file.display().to_string();
    client
}

/// What the whole suite does over the transport: the gateway's overview (computed from
/// all four services), and a report submitted through the front door (reporting asks
/// departments, measures and targets), read back in the overview.
async fn whole_suite_works(suite: &Suite) {
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    assert!(overview.unreachable.is_empty(), "{:?}", overview.unreachable);
    let target = overview
        .targets
        .iter()
        .filter_map(|status| status.target.clone())
        .find(|target| target.code == "district-major-projects")
        .expect("district-major-projects in the overview");
    let department = target.reporting_departments[0].clone();
    let token = suite.issue_token(Role::Department, &department).await;
    let mut reporting = ReportingServiceClient::new(testing::channel_with(
        &suite.settings().client,
        suite.addr(Server::Gateway),
        Some(&token),
    ));
    reporting
        .submit_report(rpb::SubmitReportRequest {
            parent: PLAN.into(),
            report: Some(rpb::Report {
                measure_number: target.measure_number.clone(),
                department: department.clone(),
                period: Some(Period { year: 2023, month: 11 }),
                overall_status: rpb::OverallStatus::OnTrack as i32,
                narrative: "40个区重大项目在建".into(),
                metric_values: suite
                    .final_values(&target.measure_number, &department, &target.code, "40")
                    .await,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
            ..Default::default()
        })
        .await
        .expect("a department submits through the front door");
    let overview = DashboardServiceClient::new(testing::channel_with(
        &suite.settings().client,
        suite.addr(Server::Gateway),
        Some(suite.admin_token()),
    ))
    .get_overview(GetOverviewRequest {
        plan: PLAN.into(),
        as_of: Some(crate::common::today()),
    })
    .await
    .unwrap()
    .into_inner()
    .overview
    .unwrap();
    let actual = overview
        .targets
        .iter()
        .find(|status| status.target.as_ref().is_some_and(|t| t.code == target.code))
        .and_then(|status| status.actual.clone());
    assert_eq!(actual, Some("40".parse().unwrap()));
}

/// An HTTP/1.1 GET over TLS to `addr`, trusting `ca_file` and offering `alpn`, signed in
/// with `token`: the protocol the server chose and the answer.
async fn https_get(
    addr: SocketAddr,
    ca_file: &str,
    alpn: &[&[u8]],
    path: &str,
    token: &str,
) -> (Option<Vec<u8>>, HttpAnswer) {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .expect("the TLS handshake");
    let chosen = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    (chosen, http_request_on(stream, addr, "GET", path, &headers, b"").await)
}

#[tokio::test]
async fn every_port_speaks_tls() {
    let suite = start(Transport::Tls).await;
    let certificates: &Certificates = suite.certificates().unwrap();
    whole_suite_works(&suite).await;

    let other = tempfile::tempdir().unwrap();
    for server in Server::ALL {
        let addr = suite.addr(server);
        health(&certificates.client_trusting(), addr)
            .await
            .unwrap_or_else(|status| panic!("{server} with the CA: {status:?}"));
        assert_refused(
            health(&ClientSettings::default(), addr).await,
            &format!("{server}, plaintext"),
        );
        assert_refused(
            health(&trusting_another_ca(other.path()), addr).await,
            &format!("{server}, another CA"),
        );
    }

    // The gateway's pages and JSON over TLS, to a client that offers only HTTP/1.1
    // (Python's urllib3, `curl --http1.1`) and to one that prefers h2 for gRPC.
    let gateway = suite.addr(Server::Gateway);
    let ca = certificates.file("ca.pem");
    let (chosen, answer) = https_get(gateway, &ca, &[b"http/1.1"], "/api/v1/overview", suite.admin_token()).await;
    assert_eq!(chosen.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("district-major-projects"));
    let (chosen, _) = https_get(gateway, &ca, &[b"h2", b"http/1.1"], "/", suite.admin_token()).await;
    assert_eq!(chosen.as_deref(), Some(&b"h2"[..]));
    // A gateway that speaks TLS itself marks its cookies Secure, though an HTTP/1.1
    // request does not say it came over HTTPS.
    let (_, form) = https_get(gateway, &ca, &[b"http/1.1"], "/login", "").await;
    let cookie = form.header("set-cookie").expect("the login form sets its CSRF cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    suite.stop().await;
}

#[tokio::test]
async fn mutual_tls_makes_a_servers_certificate_a_condition_of_service() {
    let suite = start(Transport::MutualTls {
        require_client_certificate: true,
    })
    .await;
    let certificates = suite.certificates().unwrap();
    // The servers present the service certificate to each other: reporting checks the
    // department's token with departments as SERVICE, and so on.
    whole_suite_works(&suite).await;

    for server in Server::ALL {
        assert_refused(
            health(&certificates.client_trusting(), suite.addr(server)).await,
            &format!("{server}, no client certificate"),
        );
    }

    // A certificate from the CA that names no Duban server (a department's system, say):
    // it connects, its own token works, but the service token is UNAUTHENTICATED at
    // the service and through the front door.
    let department_system = certificates.client_presenting(&["tax-bureau-system"]);
    let departments = suite.addr(Server::Departments);
    let gateway = suite.addr(Server::Gateway);
    for addr in [departments, gateway] {
        assert_eq!(
            caller_role(&department_system, addr, suite.admin_token())
                .await
                .unwrap(),
            Role::Admin
        );
        let status = caller_role(&department_system, addr, suite.service_token())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert!(status.message().contains("client certificate"), "{status:?}");
    }

    // With a Duban server's certificate the service token is SERVICE.
    assert_eq!(
        caller_role(&suite.settings().client, departments, suite.service_token())
            .await
            .unwrap(),
        Role::Service
    );
    suite.stop().await;
}

#[tokio::test]
async fn optional_client_certificates_still_keep_service_to_the_servers() {
    let suite = start(Transport::MutualTls {
        require_client_certificate: false,
    })
    .await;
    let certificates = suite.certificates().unwrap();
    whole_suite_works(&suite).await;

    // A department's system without a certificate reaches the gateway and the services
    // with its token, but the service token makes it nobody: not at a service, not
    // through the front door (whose own connections carry the service certificate),
    // not at DashboardService.
    let without = certificates.client_trusting();
    let gateway = suite.addr(Server::Gateway);
    for server in [Server::Departments, Server::Gateway] {
        let addr = suite.addr(server);
        assert_eq!(
            caller_role(&without, addr, suite.admin_token()).await.unwrap(),
            Role::Admin
        );
        let status = caller_role(&without, addr, suite.service_token()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{server}: {status:?}");
    }
    let status = DashboardServiceClient::new(testing::channel_with(&without, gateway, Some(suite.service_token())))
        .get_overview(GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        caller_role(&suite.settings().client, gateway, suite.service_token())
            .await
            .unwrap(),
        Role::Service,
        "a server's certificate and the token pass the front door"
    );
    suite.stop().await;
}
