//! Outgoing gRPC calls: one interceptor that adds the caller's bearer token, the current
//! trace context, and a deadline that is the remaining budget of the call being served
//! (or a default), so deadlines shrink hop by hop instead of restarting; over a channel
//! spread across every address behind the endpoint's name ([`balance`]), and over TLS
//! as `client.tls` says (`crate::tls::client`).

pub mod balance;

use std::time::Duration;

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Endpoint,
};

pub use balance::BalancedChannel;

use crate::{layer::current_deadline, settings::ClientSettings, telemetry::inject_current_context};

/// A channel whose calls carry a token, the trace context and a deadline, spread over
/// every replica of the server it calls.
pub type ServiceChannel = InterceptedService<BalancedChannel, CallInterceptor>;

/// See the module documentation.
#[derive(Clone)]
pub struct CallInterceptor {
    authorization: Option<MetadataValue<Ascii>>,
    default_timeout: Duration,
}

impl std::fmt::Debug for CallInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("CallInterceptor")
            .field("default_timeout", &self.default_timeout)
            .finish_non_exhaustive()
    }
}

impl Interceptor for CallInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        inject_current_context(request.metadata_mut());
        let budget = match current_deadline() {
            Some(deadline) => deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(self.default_timeout),
            None => self.default_timeout,
        };
        if budget.is_zero() {
            return Err(crate::status::with_reason(
                tonic::Code::DeadlineExceeded,
                "no time left for a downstream call",
                crate::status::SuiteReason::DeadlineExpired,
                [],
            ));
        }
        request.set_timeout(budget);
        Ok(request)
    }
}

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a valid URL.
    #[error("invalid endpoint {endpoint:?}: {source}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why it is invalid.
        source: http::uri::InvalidUri,
    },
    /// The endpoint names no host (`http://host:port` is needed).
    #[error("invalid endpoint {endpoint:?}: it names no host")]
    NoHost {
        /// The endpoint as configured.
        endpoint: String,
    },
    /// The token cannot be sent as metadata.
    #[error("the token contains characters that cannot be sent as metadata")]
    Token,
    /// A `client.tls` file is missing or unusable.
    #[error(transparent)]
    TlsFiles(#[from] crate::tls::TlsError),
    /// tonic refused the TLS configuration (a certificate or key it cannot read).
    #[error("invalid TLS configuration: {0}")]
    Tls(tonic::transport::Error),
}

/// How long a call to another server of the suite may take when the incoming call
/// sets no shorter deadline.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily connected channel to another server of the suite at `endpoint`, carrying
/// the configured service token, with [`CALL_TIMEOUT`] per call, spread over every
/// address the endpoint's name resolves to (looked up again every
/// `client.resolve_interval_ms`), over TLS as `client.tls` says.
pub fn service_channel(settings: &crate::Settings, endpoint: &str) -> std::io::Result<ServiceChannel> {
    connect_lazy(
        endpoint,
        Some(&settings.auth.service_token),
        CALL_TIMEOUT,
        &settings.client,
    )
    .map_err(std::io::Error::other)
}

/// A lazily connecting channel to `endpoint`; calls carry `token` if given, and take at
/// most `default_timeout` when no incoming deadline is shorter. A name in `endpoint` is
/// looked up every `client.resolve_interval_ms` and the calls spread over what it
/// resolves to; `client.tls` decides TLS.
pub fn connect_lazy(
    endpoint: &str,
    token: Option<&str>,
    default_timeout: Duration,
    client: &ClientSettings,
) -> Result<ServiceChannel, ClientError> {
    // The interceptor first: a bad token fails before a resolver task is started.
    let interceptor = interceptor(token, default_timeout)?;
    let channel = balance::balanced(endpoint, tuned, client)?;
    Ok(InterceptedService::new(channel, interceptor))
}

/// The connection settings of every channel between servers: a connection attempt gives
/// up after 2 s, an idle connection is pinged so a dead peer is noticed, and the windows
/// are [`crate::flow`]'s.
pub fn tuned(endpoint: Endpoint) -> Endpoint {
    crate::flow::windows(endpoint)
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
}

/// The interceptor alone, for clients built over another channel.
pub fn interceptor(token: Option<&str>, default_timeout: Duration) -> Result<CallInterceptor, ClientError> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(untokened_interceptor(default_timeout));
    };
    Ok(CallInterceptor {
        authorization: Some(format!("Bearer {token}").parse().map_err(|_| ClientError::Token)?),
        default_timeout,
    })
}

/// As [`interceptor`] for calls that carry no token (which cannot fail).
pub fn untokened_interceptor(default_timeout: Duration) -> CallInterceptor {
    CallInterceptor {
        authorization: None,
        default_timeout,
    }
}
