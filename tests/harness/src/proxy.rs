//! A TCP proxy a test controls, to put between a server and its database (see
//! [`crate::SuiteBuilder::database_through`]) and make the database go away: [`TcpProxy::cut`]
//! breaks every connection through it and refuses new ones, [`TcpProxy::restore`] lets
//! connections through again.

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A loopback TCP proxy to one upstream address. Dropping it stops it.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    control: Arc<Control>,
    task: JoinHandle<()>,
}

/// What the test changes and the proxy's tasks read.
#[derive(Debug)]
struct Control {
    /// Whether new connections are let through.
    open: AtomicBool,
    /// Bumped on every cut: each connection ends when it changes.
    cuts: watch::Sender<u64>,
}

impl TcpProxy {
    /// A proxy on an ephemeral loopback port to `upstream`, letting connections through.
    pub async fn start(upstream: SocketAddr) -> io::Result<TcpProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control {
            open: AtomicBool::new(true),
            cuts: watch::channel(0).0,
        });
        let task = tokio::spawn(accept(listener, upstream, control.clone()));
        Ok(TcpProxy { addr, control, task })
    }

    /// A proxy to the PostgreSQL server tests use (`DUBAN_TEST_DATABASE_URL`, see
    /// [`duban_kit::testing::postgres_admin_url`]).
    ///
    /// # Panics
    ///
    /// If that URL names no host that resolves, or no port can be bound.
    pub async fn to_postgres() -> TcpProxy {
        let url = duban_kit::testing::postgres_admin_url();
        let (_, host, _) = split_authority(&url).unwrap_or_else(|| panic!("{url:?} names no host"));
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        let upstream = tokio::net::lookup_host(&host)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("{host} does not resolve"));
        TcpProxy::start(upstream)
            .await
            .unwrap_or_else(|error| panic!("cannot start a proxy: {error}"))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Breaks every open connection (both sides are closed at once) and refuses new
    /// ones (accepted, then reset), until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.control.open.store(false, Ordering::SeqCst);
        self.control.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// Lets new connections through again.
    pub fn restore(&self) {
        self.control.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, control: Arc<Control>) {
    while let Ok((client, _)) = listener.accept().await {
        if !control.open.load(Ordering::SeqCst) {
            // A reset rather than a clean close: what a peer that is gone looks like.
            let _ = client.set_zero_linger();
            continue;
        }
        tokio::spawn(relay(client, upstream, control.cuts.subscribe()));
    }
}

/// Copies both ways between `client` and a new connection to `upstream` until either
/// side closes or the proxy is cut.
async fn relay(mut client: TcpStream, upstream: SocketAddr, mut cuts: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cuts.changed() => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}

/// A URL's `(user@, host[:port], rest)`: `postgres://u@h:1/db?x` gives `("postgres://u@",
/// "h:1", "/db?x")`.
fn split_authority(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://")? + 3;
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let host = &url[host_start..end];
    (!host.is_empty()).then_some((&url[..host_start], host, &url[end..]))
}

/// `url` with its host and port replaced by `addr`: the same database, reached
/// through a proxy. A URL without a host (SQLite) is returned as it is.
pub(crate) fn through(url: &str, addr: SocketAddr) -> String {
    match split_authority(url) {
        Some((before, _, after)) if !url.starts_with("sqlite") => format!("{before}{addr}{after}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_a_postgres_url_through_the_proxy() {
        let proxy = SocketAddr::from(([127, 0, 0, 1], 7000));
        assert_eq!(
            through("postgres://postgres@127.0.0.1:5432/duban_t1", proxy),
            "postgres://postgres@127.0.0.1:7000/duban_t1"
        );
        assert_eq!(
            through("postgres://u:p@db/t1?sslmode=disable", proxy),
            "postgres://u:p@127.0.0.1:7000/t1?sslmode=disable"
        );
        assert_eq!(through("sqlite:///tmp/x.db", proxy), "sqlite:///tmp/x.db");
    }
}
