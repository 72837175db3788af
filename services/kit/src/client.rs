//! Outgoing gRPC calls: one interceptor that adds the caller's bearer token, the current
//! trace context, and a deadline that is the remaining budget of the call being served
//! (or a default), so deadlines shrink hop by hop instead of restarting.

use std::time::Duration;

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{layer::current_deadline, telemetry::inject_current_context};

/// A channel whose calls carry a token, the trace context and a deadline.
pub type ServiceChannel = InterceptedService<Channel, CallInterceptor>;

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
        source: tonic::transport::Error,
    },
    /// The token cannot be sent as metadata.
    #[error("the token contains characters that cannot be sent as metadata")]
    Token,
}

/// How long a call to another server of the suite may take when the incoming call
/// sets no shorter deadline.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily connected channel to another server of the suite at `endpoint`, carrying
/// the configured service token, with [`CALL_TIMEOUT`] per call.
pub fn service_channel(settings: &crate::Settings, endpoint: &str) -> std::io::Result<ServiceChannel> {
    connect_lazy(endpoint, Some(&settings.auth.service_token), CALL_TIMEOUT).map_err(std::io::Error::other)
}

/// A lazily connecting channel to `endpoint`; calls carry `token` if given, and take at
/// most `default_timeout` when no incoming deadline is shorter.
pub fn connect_lazy(
    endpoint: &str,
    token: Option<&str>,
    default_timeout: Duration,
) -> Result<ServiceChannel, ClientError> {
    let channel = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|source| ClientError::Endpoint {
            endpoint: endpoint.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy();
    Ok(InterceptedService::new(channel, interceptor(token, default_timeout)?))
}

/// The interceptor alone, for clients built over another channel.
pub fn interceptor(token: Option<&str>, default_timeout: Duration) -> Result<CallInterceptor, ClientError> {
    let authorization = match token.filter(|token| !token.is_empty()) {
        Some(token) => Some(format!("Bearer {token}").parse().map_err(|_| ClientError::Token)?),
        None => None,
    };
    Ok(CallInterceptor {
        authorization,
        default_timeout,
    })
}
