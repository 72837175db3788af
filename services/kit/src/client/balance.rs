//! Calls spread over every replica of a server. An endpoint given by name
//! (`http://departments:50052`; behind a Kubernetes headless Service, the name stands for
//! every ready pod) gets a tonic balanced channel (`Channel::balance_channel`, tower's
//! power-of-two-choices balancer with one lazily connected HTTP/2 connection per
//! address) and a task that looks the name up every `resolve_interval`, inserting the
//! addresses that appeared and removing the ones that went. An endpoint given as an IP
//! address is one plain lazily connected channel, never looked up.
//!
//! Every request keeps the configured name as its origin (`:authority`
//! `departments:50052`), whichever address carries it, and under TLS every connection
//! checks the server's certificate against that name, never against the address (see
//! `crate::tls::client`).
//!
//! A lookup that fails, or finds nothing, keeps the last known addresses (and logs a
//! warning once per run of failures). Before the first lookup has finished, calls wait
//! for it (within their deadline); when it found nothing, calls fail UNAVAILABLE at once
//! instead of waiting in the balancer for an address that may never come.
//!
//! The task ends when the last clone of the channel is dropped: the balancer then drops
//! the receiving end of its change queue, which the task watches.
//!
//! The balancer applies queued changes only when a call arrives (tower's `Buffer` polls
//! the balancer on demand), so an idle channel catches up on its first call; that is
//! also why the queue is generous.

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Uri, uri::Scheme};
use tokio::sync::{mpsc, watch};
use tonic::{
    Status,
    body::Body,
    transport::{Channel, ClientTlsConfig, Endpoint, channel::Change},
};
use tower::{Service, ServiceExt};

use super::ClientError;
use crate::settings::ClientSettings;

/// How long one lookup may take before it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How many address changes may wait for the balancer (see the module documentation).
const CHANGE_QUEUE: usize = 1024;

/// The connection settings of every address's connection (timeouts, keep-alive).
pub type Tuning = fn(Endpoint) -> Endpoint;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the addresses behind a name come from. In production that is DNS ([`Dns`]);
/// tests substitute a table they change while calls are running.
pub trait AddressSource: Send + Sync + 'static {
    /// Every address `host:port` stands for now.
    fn lookup(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}

/// The system resolver, through `tokio::net::lookup_host` (getaddrinfo on tokio's
/// blocking pool): it follows `/etc/hosts`, nsswitch and resolv.conf's search domains as
/// every other program on the host does, which Kubernetes' short names
/// (`departments` for `departments.<namespace>.svc.cluster.local`) rely on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dns;

impl AddressSource for Dns {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A channel to `endpoint`, spread over every address its name resolves to through DNS,
/// looked up again every `client.resolve_interval_ms`; each connection set up by
/// `tuning`, over TLS as `client.tls` says.
pub fn balanced(endpoint: &str, tuning: Tuning, client: &ClientSettings) -> Result<BalancedChannel, ClientError> {
    balanced_with(endpoint, tuning, client, Dns)
}

/// As [`balanced`], with the addresses taken from `source`.
pub fn balanced_with(
    endpoint: &str,
    tuning: Tuning,
    client: &ClientSettings,
    source: impl AddressSource,
) -> Result<BalancedChannel, ClientError> {
    let target = Target::parse(endpoint, client)?;
    let resolve_interval = client.resolve_interval();
    if let Some(ip) = target.ip() {
        let endpoint = target
            .endpoint_for(SocketAddr::new(ip, target.port), tuning)
            .map_err(ClientError::Tls)?;
        return Ok(BalancedChannel {
            channel: endpoint.connect_lazy(),
            known: None,
            name: target.name.clone(),
        });
    }
    let (channel, changes) = Channel::balance_channel(CHANGE_QUEUE);
    let (known_sender, known) = watch::channel(Known::FirstLookup);
    let name = target.name.clone();
    let resolver = Resolver {
        target,
        tuning,
        changes,
        known: known_sender,
        current: BTreeSet::new(),
        failing: false,
    };
    tokio::spawn(resolver.run(source, resolve_interval));
    Ok(BalancedChannel {
        channel,
        known: Some(known),
        name,
    })
}

/// The server a channel calls, as configured.
#[derive(Debug, Clone)]
struct Target {
    /// `http://departments:50052` (`https://` under TLS): the origin of every request.
    origin: Uri,
    /// `https` when the calls go over TLS.
    scheme: Scheme,
    /// TLS for every connection, checking the certificate against `host`.
    tls: Option<ClientTlsConfig>,
    /// The host without the brackets of an IPv6 literal.
    host: String,
    port: u16,
    /// `departments:50052`, for messages.
    name: Arc<str>,
}

impl Target {
    fn parse(endpoint: &str, client: &ClientSettings) -> Result<Target, ClientError> {
        let uri: Uri = endpoint.parse().map_err(|source| ClientError::Endpoint {
            endpoint: endpoint.to_owned(),
            source,
        })?;
        let no_host = || ClientError::NoHost {
            endpoint: endpoint.to_owned(),
        };
        let configured = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = uri.authority().ok_or_else(no_host)?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(no_host());
        }
        let port = authority
            .port_u16()
            .unwrap_or(if configured == Scheme::HTTPS { 443 } else { 80 });
        let tls = crate::tls::client::for_endpoint(&client.tls, configured == Scheme::HTTPS, &host)?;
        // tonic's connector speaks TLS only to `https` URIs.
        let scheme = if tls.is_some() { Scheme::HTTPS } else { configured };
        let origin = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| no_host())?;
        if let Some(tls) = &tls {
            // tonic reads the certificates here; a bad file fails now, not at each lookup.
            Endpoint::from(origin.clone())
                .tls_config(tls.clone())
                .map_err(ClientError::Tls)?;
        }
        Ok(Target {
            origin,
            scheme,
            tls,
            name: format!("{}:{port}", authority.host()).into(),
            host,
            port,
        })
    }

    /// The host, if it is an IP address rather than a name.
    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `http://10.0.0.5:50052` for `address`.
    fn uri_for(&self, address: SocketAddr) -> Uri {
        // Without an IPv6 scope id (`%eth0`), which a URI cannot carry, so that building
        // the URI cannot fail.
        let address = SocketAddr::new(address.ip(), address.port());
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(address.to_string())
            .path_and_query("/")
            .build()
            .unwrap_or_else(|_| self.origin.clone())
    }

    /// The endpoint of one replica: connects to `address`, names the configured origin
    /// and, under TLS, checks the configured host's name. Fails only where `parse` did.
    fn endpoint_for(&self, address: SocketAddr, tuning: Tuning) -> Result<Endpoint, tonic::transport::Error> {
        let endpoint = tuning(Endpoint::from(self.uri_for(address))).origin(self.origin.clone());
        match &self.tls {
            Some(tls) => endpoint.tls_config(tls.clone()),
            None => Ok(endpoint),
        }
    }
}

/// What the resolver knows, as the channel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The first lookup has not finished.
    FirstLookup,
    /// The balancer has this many addresses (zero only if no lookup ever found one).
    Addresses(usize),
}

/// The task that keeps the balancer's addresses equal to what the name resolves to.
struct Resolver {
    target: Target,
    tuning: Tuning,
    changes: mpsc::Sender<Change<SocketAddr, Endpoint>>,
    known: watch::Sender<Known>,
    /// The addresses the balancer has.
    current: BTreeSet<SocketAddr>,
    /// Whether the last lookup failed (a warning is logged once per run of failures).
    failing: bool,
}

impl Resolver {
    async fn run(mut self, source: impl AddressSource, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let found = tokio::select! {
                // The channel was dropped: nobody calls any more.
                () = self.changes.closed() => return,
                found = async {
                    ticks.tick().await;
                    tokio::time::timeout(LOOKUP_TIMEOUT, source.lookup(&self.target.host, self.target.port)).await
                } => found,
            };
            let found = match found {
                Ok(Ok(addresses)) if !addresses.is_empty() => Ok(addresses),
                Ok(Ok(_)) => Err("it resolves to no address".to_owned()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no answer within {LOOKUP_TIMEOUT:?}")),
            };
            let applied = match found {
                Ok(addresses) => self.apply(addresses).await,
                Err(error) => {
                    self.failed(&error);
                    Ok(())
                }
            };
            if applied.is_err() {
                return;
            }
            self.known.send_replace(Known::Addresses(self.current.len()));
        }
    }

    /// Makes the balancer's addresses `found`. Fails when the balancer is gone.
    async fn apply(&mut self, found: Vec<SocketAddr>) -> Result<(), ()> {
        if self.failing {
            tracing::info!(endpoint = %self.target.name, "the name resolves again");
            self.failing = false;
        }
        let found: BTreeMap<SocketAddr, Endpoint> = found
            .into_iter()
            .filter_map(|address| match self.target.endpoint_for(address, self.tuning) {
                Ok(endpoint) => Some((address, endpoint)),
                Err(error) => {
                    tracing::error!(target = %self.target.name, %address, %error, "cannot set up a connection");
                    None
                }
            })
            .collect();
        let gone: Vec<SocketAddr> = self
            .current
            .iter()
            .filter(|address| !found.contains_key(address))
            .copied()
            .collect();
        let added: Vec<SocketAddr> = found
            .keys()
            .filter(|address| !self.current.contains(address))
            .copied()
            .collect();
        if gone.is_empty() && added.is_empty() {
            return Ok(());
        }
        for address in &gone {
            self.changes.send(Change::Remove(*address)).await.map_err(drop)?;
            self.current.remove(address);
        }
        for (address, endpoint) in found {
            if !self.current.contains(&address) {
                self.changes
                    .send(Change::Insert(address, endpoint))
                    .await
                    .map_err(drop)?;
                self.current.insert(address);
            }
        }
        tracing::info!(
            endpoint = %self.target.name,
            ?added,
            ?gone,
            replicas = self.current.len(),
            "the addresses behind the name changed"
        );
        Ok(())
    }

    fn failed(&mut self, error: &str) {
        if !self.failing {
            tracing::warn!(
                endpoint = %self.target.name,
                error,
                kept = self.current.len(),
                "cannot resolve the name; keeping the last known addresses"
            );
        } else {
            tracing::debug!(endpoint = %self.target.name, error, "cannot resolve the name");
        }
        self.failing = true;
    }
}

/// A channel to every replica of one server (see the module documentation). Cheap to
/// clone; the clones share the connections.
#[derive(Clone)]
pub struct BalancedChannel {
    channel: Channel,
    /// What the resolver knows; `None` for an IP address, which is never looked up.
    known: Option<watch::Receiver<Known>>,
    name: Arc<str>,
}

impl std::fmt::Debug for BalancedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalancedChannel")
            .field("name", &self.name)
            .field("known", &self.known.as_ref().map(|known| *known.borrow()))
            .finish()
    }
}

impl Service<http::Request<Body>> for BalancedChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Reserves a place in the channel's queue; the wait for an address happens
        // behind it, in the balancer.
        self.channel.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(known) = &self.known else {
            return self.send(request);
        };
        let state = *known.borrow();
        match state {
            Known::Addresses(0) => {
                let error = Self::no_address(&self.name);
                Box::pin(async move { Err(error) })
            }
            Known::Addresses(_) => self.send(request),
            Known::FirstLookup => {
                // Wait for the first lookup, within the call's deadline, then send the
                // call or fail it; on a clone, since this handle's reserved place is
                // kept for its next call.
                let mut known = known.clone();
                let channel = self.channel.clone();
                let name = self.name.clone();
                let budget = crate::layer::grpc_timeout(request.headers());
                Box::pin(async move {
                    let looked_up = async {
                        let known = known.wait_for(|known| *known != Known::FirstLookup).await;
                        known.map(|known| *known).ok()
                    };
                    let known = match budget {
                        Some(budget) => tokio::time::timeout(budget, looked_up).await.ok().flatten(),
                        None => looked_up.await,
                    };
                    match known {
                        Some(Known::Addresses(1..)) => channel.oneshot(request).await.map_err(Into::into),
                        _ => Err(Self::no_address(&name)),
                    }
                })
            }
        }
    }
}

impl BalancedChannel {
    /// Sends `request` on the channel (whose place `poll_ready` reserved).
    fn send(&mut self, request: http::Request<Body>) -> <Self as Service<http::Request<Body>>>::Future {
        let response = self.channel.call(request);
        Box::pin(async move { response.await.map_err(Into::into) })
    }

    /// UNAVAILABLE: no address of the server is known.
    fn no_address(name: &str) -> BoxError {
        Box::new(Status::unavailable(format!(
            "no address of {name} is known: the name has not resolved (see the log)"
        )))
    }
}

#[cfg(test)]
mod tests;
