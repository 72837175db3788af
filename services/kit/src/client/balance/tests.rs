//! Real tonic servers on two loopback addresses with the same port (Linux routes all of
//! 127/8 to the loopback interface), reached through one balanced channel whose name
//! resolves through a table the test changes: the production source is DNS ([`Dns`]),
//! tested on `localhost` at the end.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::*;
use crate::{
    client::tuned,
    settings::{ClientTlsSettings, ServerTlsSettings},
    tls::certs::DevCa,
};

/// How often the tests' channels look their name up again.
const INTERVAL: Duration = Duration::from_millis(20);

/// Client settings that look names up every [`INTERVAL`], in plaintext.
fn plaintext() -> ClientSettings {
    ClientSettings {
        resolve_interval_ms: INTERVAL.as_millis() as u64,
        ..ClientSettings::default()
    }
}

/// A grpc.health.v1 server that records the `:authority` of every call it answers.
struct Replica {
    addr: SocketAddr,
    authorities: Arc<Mutex<Vec<String>>>,
    server: JoinHandle<()>,
}

impl Replica {
    async fn start(addr: SocketAddr) -> io::Result<Replica> {
        Self::serve(addr, None).await
    }

    /// A replica whose port speaks TLS through kit's handshake (`incoming::accept`).
    async fn serve(addr: SocketAddr, tls: Option<TlsAcceptor>) -> io::Result<Replica> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let authorities = Arc::new(Mutex::new(Vec::new()));
        let seen = authorities.clone();
        let record = tower::util::MapRequestLayer::new(move |request: http::Request<Body>| {
            let authority = request.uri().authority().map(ToString::to_string).unwrap_or_default();
            seen.lock().unwrap().push(authority);
            request
        });
        let (_reporter, health) = tonic_health::server::health_reporter();
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(record)
                .add_service(health)
                .serve_with_incoming(crate::incoming::accept(listener, CancellationToken::new(), tls))
                .await
                .unwrap();
        });
        Ok(Replica {
            addr,
            authorities,
            server,
        })
    }

    /// How many calls it answered.
    fn calls(&self) -> usize {
        self.authorities.lock().unwrap().len()
    }

    /// The `:authority` of every call it answered.
    fn authorities(&self) -> Vec<String> {
        self.authorities.lock().unwrap().clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Two replicas on one port: 127.0.0.1:P and 127.0.0.2:P.
async fn two_replicas() -> (Replica, Replica) {
    two_replicas_speaking(None).await
}

/// As [`two_replicas`], over TLS if `tls` is given.
async fn two_replicas_speaking(tls: Option<TlsAcceptor>) -> (Replica, Replica) {
    let second_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    // The port is free on 127.0.0.1; on 127.0.0.2 it almost surely is too.
    for _ in 0..20 {
        let first = Replica::serve(SocketAddr::from(([127, 0, 0, 1], 0)), tls.clone())
            .await
            .unwrap();
        if let Ok(second) = Replica::serve(SocketAddr::new(second_ip, first.addr.port()), tls.clone()).await {
            return (first, second);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// Addresses the test sets, and how many lookups were made.
#[derive(Clone, Default)]
struct Table(Arc<TableState>);

#[derive(Default)]
struct TableState {
    answer: Mutex<Option<Result<Vec<SocketAddr>, String>>>,
    lookups: AtomicUsize,
}

impl Table {
    fn answering(answer: Result<Vec<SocketAddr>, &str>) -> Table {
        let table = Table::default();
        table.set(answer);
        table
    }

    fn set(&self, answer: Result<Vec<SocketAddr>, &str>) {
        *self.0.answer.lock().unwrap() = Some(answer.map_err(str::to_owned));
    }

    fn lookups(&self) -> usize {
        self.0.lookups.load(Ordering::SeqCst)
    }

    /// Until `more` further lookups have been made: the first of them may have started
    /// before the last change, so `more` is at least 2 for an answer to be applied.
    async fn wait_for_lookups(&self, more: usize) {
        let target = self.lookups() + more;
        let started = Instant::now();
        while self.lookups() < target {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the resolver stopped looking up"
            );
            tokio::time::sleep(INTERVAL / 4).await;
        }
    }
}

impl AddressSource for Table {
    async fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
        let answer = self.0.answer.lock().unwrap().clone();
        self.0.lookups.fetch_add(1, Ordering::SeqCst);
        match answer {
            Some(answer) => answer.map_err(io::Error::other),
            None => std::future::pending().await,
        }
    }
}

/// `count` health checks, each of which must succeed.
async fn check(channel: &BalancedChannel, count: usize) {
    let mut client = HealthClient::new(channel.clone());
    for _ in 0..count {
        let mut request = tonic::Request::new(HealthCheckRequest::default());
        request.set_timeout(Duration::from_secs(5));
        client.check(request).await.expect("a replica answers");
    }
}

#[tokio::test]
async fn calls_spread_over_every_address_and_follow_the_changes() {
    let (first, second) = two_replicas().await;
    let table = Table::answering(Ok(vec![first.addr, second.addr]));
    let endpoint = format!("http://replicas.test:{}", first.addr.port());
    let channel = balanced_with(&endpoint, tuned, &plaintext(), table.clone()).unwrap();

    // 40 calls all on one of two replicas: odds 2^-39.
    check(&channel, 40).await;
    assert!(
        first.calls() > 0 && second.calls() > 0,
        "calls must reach both replicas: {} and {}",
        first.calls(),
        second.calls()
    );
    let name = format!("replicas.test:{}", first.addr.port());
    for authority in first.authorities().into_iter().chain(second.authorities()) {
        assert_eq!(authority, name, "every call names the configured host, not the address");
    }

    // The first replica leaves the name (it still runs: only the lookup tells).
    table.set(Ok(vec![second.addr]));
    table.wait_for_lookups(2).await;
    let (first_before, second_before) = (first.calls(), second.calls());
    check(&channel, 20).await;
    assert_eq!(first.calls(), first_before, "a removed address gets no more calls");
    assert_eq!(second.calls(), second_before + 20);

    // Lookups fail: the last known address keeps serving.
    table.set(Err("SERVFAIL"));
    table.wait_for_lookups(2).await;
    check(&channel, 5).await;
    assert_eq!(second.calls(), second_before + 25);

    // The first replica comes back.
    table.set(Ok(vec![first.addr, second.addr]));
    table.wait_for_lookups(2).await;
    let first_before = first.calls();
    check(&channel, 40).await;
    assert!(first.calls() > first_before, "an added address gets calls");
}

#[tokio::test]
async fn a_name_that_resolves_to_nothing_fails_unavailable_within_the_deadline() {
    for (label, table) in [
        ("lookup fails", Table::answering(Err("NXDOMAIN"))),
        ("no address", Table::answering(Ok(vec![]))),
        ("no answer", Table::default()),
    ] {
        let channel = balanced_with("http://nowhere.test:50052", tuned, &plaintext(), table).unwrap();
        let mut client = HealthClient::new(channel);
        for _ in 0..2 {
            let mut request = tonic::Request::new(HealthCheckRequest::default());
            request.set_timeout(Duration::from_millis(500));
            let started = Instant::now();
            let status = tokio::time::timeout(Duration::from_secs(5), client.check(request))
                .await
                .unwrap_or_else(|_| panic!("{label}: the call hangs"))
                .unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{label}: {status:?}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{label}: failed only after {:?}",
                started.elapsed()
            );
        }
    }
}

#[tokio::test]
async fn the_resolver_stops_when_the_channel_is_dropped() {
    let (first, _second) = two_replicas().await;
    let table = Table::answering(Ok(vec![first.addr]));
    let channel = balanced_with("http://replicas.test:1", tuned, &plaintext(), table.clone()).unwrap();
    check(&channel, 1).await;
    table.wait_for_lookups(2).await;
    drop(channel);
    // A lookup already under way may still finish; none starts after it.
    tokio::time::sleep(INTERVAL * 3).await;
    let after_drop = table.lookups();
    tokio::time::sleep(INTERVAL * 10).await;
    assert_eq!(table.lookups(), after_drop, "the resolver kept looking up");
}

#[tokio::test]
async fn an_ip_address_is_never_looked_up() {
    let (first, _second) = two_replicas().await;
    let table = Table::answering(Err("never asked"));
    let channel = balanced_with(&format!("http://{}", first.addr), tuned, &plaintext(), table.clone()).unwrap();
    check(&channel, 3).await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(table.lookups(), 0);
    assert_eq!(first.calls(), 3);
}

#[tokio::test]
async fn localhost_resolves_through_dns() {
    // A replica on every address `localhost` has (127.0.0.1, and ::1 where configured).
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(("localhost", 0)).await.unwrap().collect();
    assert!(!addresses.is_empty(), "localhost resolves to nothing");
    let first = Replica::start(addresses[0]).await.unwrap();
    let port = first.addr.port();
    let mut replicas = vec![first];
    for address in &addresses[1..] {
        replicas.push(Replica::start(SocketAddr::new(address.ip(), port)).await.unwrap());
    }

    let channel = balanced(&format!("http://localhost:{port}"), tuned, &plaintext()).unwrap();
    check(&channel, 10).await;
    let authorities: Vec<String> = replicas.iter().flat_map(Replica::authorities).collect();
    assert_eq!(authorities.len(), 10);
    assert!(
        authorities
            .iter()
            .all(|authority| *authority == format!("localhost:{port}"))
    );
}

#[test]
fn endpoints_without_a_host_are_refused() {
    for endpoint in ["/departments", "http://:50052", "not a url"] {
        assert!(Target::parse(endpoint, &plaintext()).is_err(), "{endpoint}");
    }
    let target = Target::parse("http://[::1]:50052", &plaintext()).unwrap();
    assert_eq!(target.ip(), Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)));
    assert_eq!(&*target.name, "[::1]:50052");
    let target = Target::parse("https://departments", &plaintext()).unwrap();
    assert_eq!((target.host.as_str(), target.port), ("departments", 443));
}

/// PEM files of a fresh CA's certificate and of a server certificate for `names`, in `dir`.
fn server_files(dir: &std::path::Path, ca: &DevCa, names: &[&str]) -> (String, ServerTlsSettings) {
    let pair = ca
        .server(&names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>())
        .unwrap();
    let write = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    };
    let settings = ServerTlsSettings {
        cert_file: write("server.pem", &pair.certificate),
        key_file: write("server-key.pem", &pair.private_key),
        ..ServerTlsSettings::default()
    };
    (write("ca.pem", &ca.certificate()), settings)
}

/// Client settings trusting the CA in `ca_file`, calling over TLS.
fn trusting(ca_file: &str) -> ClientSettings {
    ClientSettings {
        tls: ClientTlsSettings {
            ca_file: ca_file.to_owned(),
            ..ClientTlsSettings::default()
        },
        ..plaintext()
    }
}

/// The status of one health check that must fail.
async fn refused(channel: BalancedChannel) -> tonic::Status {
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_secs(5));
    HealthClient::new(channel).check(request).await.unwrap_err()
}

#[tokio::test]
async fn under_tls_every_replica_is_checked_against_the_configured_name() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, server) = server_files(dir.path(), &DevCa::new().unwrap(), &["replicas.test"]);
    let acceptor = crate::tls::server::acceptor(&server, false).unwrap().unwrap();
    let (first, second) = two_replicas_speaking(Some(acceptor)).await;
    let table = Table::answering(Ok(vec![first.addr, second.addr]));
    let port = first.addr.port();

    // A CA file makes every call TLS, `http://` endpoint or not; the certificate names
    // the host, not the addresses the calls go to.
    let endpoint = format!("http://replicas.test:{port}");
    let channel = balanced_with(&endpoint, tuned, &trusting(&ca_file), table.clone()).unwrap();
    check(&channel, 40).await;
    assert!(
        first.calls() > 0 && second.calls() > 0,
        "calls must reach both replicas"
    );
    for authority in first.authorities().into_iter().chain(second.authorities()) {
        assert_eq!(authority, format!("replicas.test:{port}"));
    }
    let answered = first.calls() + second.calls();

    // The same replicas named by an address their certificate does not carry.
    let by_address = balanced_with(
        &format!("http://{}", first.addr),
        tuned,
        &trusting(&ca_file),
        table.clone(),
    );
    let status = refused(by_address.unwrap()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // A client trusting another CA.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _) = server_files(other.path(), &DevCa::new().unwrap(), &["replicas.test"]);
    let status = refused(balanced_with(&endpoint, tuned, &trusting(&other_ca), table.clone()).unwrap()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // A plaintext client: the server takes its HTTP/2 preface for a bad ClientHello and
    // closes the connection, which tonic reports as an UNKNOWN transport error.
    let status = refused(balanced_with(&endpoint, tuned, &plaintext(), table).unwrap()).await;
    assert!(matches!(status.code(), Code::Unknown | Code::Unavailable), "{status:?}");
    assert_eq!(first.calls() + second.calls(), answered, "no refused call was answered");
}
