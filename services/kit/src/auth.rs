//! Who is calling: bearer tokens in `authorization` metadata, the principals they name,
//! and an [`Authenticator`] that checks them (locally in the departments service,
//! through `AuthenticateToken` everywhere else) and caches answers briefly.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use duban_proto::departments::v1::{self as pb, departments_service_server::SERVICE_NAME as DEPARTMENTS_SERVICE};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tonic::{Code, Status, metadata::MetadataMap};

/// Prefix of every token Duban issues, so a leaked one is easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "dbn_";

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A responsible unit, by code, acting for itself only.
    Department(String),
    /// District leadership: reads everything, reviews reports.
    Leadership,
    /// Administrator: manages everything.
    Admin,
    /// Another Duban service.
    Service,
}

impl Principal {
    /// The principal as the contract spells it.
    pub fn to_proto(&self, credential: &str) -> pb::Principal {
        let (role, department) = match self {
            Principal::Department(code) => (pb::Role::Department, code.clone()),
            Principal::Leadership => (pb::Role::Leadership, String::new()),
            Principal::Admin => (pb::Role::Admin, String::new()),
            Principal::Service => (pb::Role::Service, String::new()),
        };
        pb::Principal {
            role: role as i32,
            department,
            credential: credential.to_owned(),
        }
    }

    /// Reads a principal from the contract; `None` if the role is unset or unknown.
    pub fn from_proto(principal: &pb::Principal) -> Option<Principal> {
        match pb::Role::try_from(principal.role).ok()? {
            pb::Role::Department if !principal.department.is_empty() => {
                Some(Principal::Department(principal.department.clone()))
            }
            pb::Role::Leadership => Some(Principal::Leadership),
            pb::Role::Admin => Some(Principal::Admin),
            pb::Role::Service => Some(Principal::Service),
            pb::Role::Department | pb::Role::Unspecified => None,
        }
    }

    /// A short label for logs and audit records, never containing a token.
    pub fn label(&self) -> String {
        match self {
            Principal::Department(code) => format!("department:{code}"),
            Principal::Leadership => "leadership".into(),
            Principal::Admin => "admin".into(),
            Principal::Service => "service".into(),
        }
    }

    /// PERMISSION_DENIED unless the principal is ADMIN.
    pub fn require_admin(&self, action: &str) -> Result<(), AuthError> {
        match self {
            Principal::Admin => Ok(()),
            other => Err(AuthError::Denied(format!(
                "{action} needs the admin role; the caller is {}",
                other.label()
            ))),
        }
    }
}

/// Why a request was not authenticated or not allowed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing credentials: send `authorization: Bearer <token>` metadata")]
    Missing,
    /// `authorization` is not `Bearer <token>`.
    #[error("malformed authorization metadata: expected `Bearer <token>`")]
    Malformed,
    /// The token is unknown or revoked.
    #[error("the bearer token is unknown or revoked")]
    Rejected,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Denied(String),
    /// The directory that checks tokens could not be asked.
    #[error("cannot check the token now: {0}")]
    Unavailable(String),
    /// The service token, over a connection without the verified client certificate of
    /// a Duban server that mutual TLS makes a condition of acting as SERVICE.
    #[error(
        "the service token is accepted only with a Duban server's verified client certificate (mutual TLS), \
         and this connection has none"
    )]
    ServiceCertificateMissing,
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Status {
        // The contracts' vocabulary: one reason for every unusable token (the message
        // says which case), one for every refusal of a known caller.
        match error {
            AuthError::Missing | AuthError::Malformed | AuthError::Rejected | AuthError::ServiceCertificateMissing => {
                crate::error::unauthenticated(error.to_string())
            }
            AuthError::Denied(message) => {
                crate::error::permission_denied(crate::status::SuiteReason::RoleNotAllowed, message, [])
            }
            AuthError::Unavailable(detail) => {
                // The detail (a database or transport error) is for the operators'
                // logs; the caller, who may not even be authenticated, learns only
                // that the check could not be made.
                tracing::warn!(%detail, "cannot check a token");
                crate::error::unavailable(
                    crate::status::SuiteReason::DependencyUnavailable,
                    "cannot check the token now; retry later",
                    [("service", DEPARTMENTS_SERVICE.to_owned())],
                )
            }
        }
    }
}

/// The bearer token of a request's metadata.
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Malformed)?
        .trim();
    if token.is_empty() {
        Err(AuthError::Malformed)
    } else {
        Ok(token)
    }
}

/// A fresh random token: the prefix and 256 random bits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token. Tokens carry 256 random bits, so a plain SHA-256 is
/// enough: there is nothing to brute-force that a slow hash would protect.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who a token belongs to, as a verifier establishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principal.
    pub principal: Principal,
    /// The credential's resource name, empty for the service token.
    pub credential: String,
}

/// Establishes who a token belongs to.
#[tonic::async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The owner of `token`, or [`AuthError::Rejected`].
    async fn verify(&self, token: &str) -> Result<Verified, AuthError>;
}

/// The most token answers each cache of an [`Authenticator`] keeps (by token hash).
const CACHED_ANSWERS: u64 = 10_000;
/// How long a rejected token stays rejected without asking again: short, since it
/// only saves work; a token cannot become valid after it was refused, as tokens are
/// random and issued only once.
pub const REJECTION_TTL: Duration = Duration::from_secs(10);

/// How a caller proves it is another Duban service: the shared service token, and under
/// mutual TLS (`server.tls.client_ca_file`) also, on the connection the call came in on,
/// a verified client certificate naming a Duban server (`crate::tls::SERVER_NAMES`).
/// Both, not the certificate alone: the gateway's front door forwards department
/// systems' calls over its own certificate, and a forwarded call without a token must
/// not become SERVICE.
#[derive(Clone, Default)]
pub struct ServiceCredential {
    token_hash: Option<String>,
    certificate_required: bool,
}

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredential")
            .field("certificate_required", &self.certificate_required)
            .finish_non_exhaustive()
    }
}

impl ServiceCredential {
    /// `service_token` empty means no caller can act as SERVICE; `certificate_required`
    /// adds the client certificate to the token.
    pub fn new(service_token: &str, certificate_required: bool) -> Self {
        Self {
            token_hash: (!service_token.is_empty()).then(|| token_hash(service_token)),
            certificate_required,
        }
    }

    /// From `auth.service_token`, with the certificate required when the server runs
    /// mutual TLS, or presents a client certificate itself (`client.tls.cert_file`): a
    /// server that calls others with a server's certificate must not let the bare token
    /// in, or it would pass the token on under its own certificate (the gateway's front
    /// door does exactly that with the calls it forwards).
    pub fn from_settings(settings: &crate::Settings) -> Self {
        let certificate_required = settings.server.tls.mutual() || !settings.client.tls.cert_file.is_empty();
        Self::new(&settings.auth.service_token, certificate_required)
    }

    /// Whether `token` makes the current call SERVICE: `Ok(true)` if it is the service
    /// token and the call came with what else is required, `Ok(false)` if it is another
    /// token, [`AuthError::ServiceCertificateMissing`] if it is the service token on a
    /// connection without a Duban server's verified certificate.
    pub fn check(&self, token: &str) -> Result<bool, AuthError> {
        self.check_hash(&token_hash(token))
    }

    fn check_hash(&self, hash: &str) -> Result<bool, AuthError> {
        if self.token_hash.as_deref() != Some(hash) {
            return Ok(false);
        }
        if self.certificate_required && crate::layer::calling_server().is_none() {
            return Err(AuthError::ServiceCertificateMissing);
        }
        Ok(true)
    }
}

/// Authenticates requests: the configured service token locally (see
/// [`ServiceCredential`]), every other token through a [`TokenVerifier`], with answers
/// cached for at most `ttl` and rejections for [`REJECTION_TTL`], so a flood of bogus
/// tokens costs one lookup each per interval, not one per request. Both caches are
/// bounded (moka: a well-kept concurrent cache with TTL and size-based eviction).
#[derive(Clone)]
pub struct Authenticator {
    service: ServiceCredential,
    verifier: Arc<dyn TokenVerifier>,
    ttl: Duration,
    accepted: moka::sync::Cache<String, Verified>,
    rejected: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Callers prove they are a service with `service`; other tokens go to `verifier`.
    pub fn new(service: ServiceCredential, verifier: Arc<dyn TokenVerifier>, ttl: Duration) -> Self {
        fn cache<V: Clone + Send + Sync + 'static>(ttl: Duration) -> moka::sync::Cache<String, V> {
            moka::sync::Cache::builder()
                .max_capacity(CACHED_ANSWERS)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build()
        }
        Self {
            service,
            verifier,
            ttl,
            accepted: cache(ttl),
            rejected: cache(REJECTION_TTL),
        }
    }

    /// The principal of a request, from its `authorization` metadata.
    pub async fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, AuthError> {
        Ok(self.verify(bearer_token(metadata)?).await?.principal)
    }

    /// Who `token` belongs to; the answer is recorded on the request's span (see
    /// [`crate::telemetry::record_caller`]), so the call's log lines name the caller.
    pub async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let verified = self.look_up(token, true).await?;
        crate::telemetry::record_caller(&verified.principal);
        Ok(verified)
    }

    /// Who `token` belongs to now: as [`Authenticator::verify`] but never answered from
    /// the cache of accepted tokens, so a revocation is seen at once. For the periodic
    /// re-check of long-lived streams (`crate::streams`), not for every call.
    pub async fn verify_fresh(&self, token: &str) -> Result<Verified, AuthError> {
        self.look_up(token, false).await
    }

    /// Who `token` belongs to, from the caches when `cached` allows and they know.
    async fn look_up(&self, token: &str, cached: bool) -> Result<Verified, AuthError> {
        let hash = token_hash(token);
        // Never asked of the directory nor cached: whether the service token makes a
        // call SERVICE depends on the connection it came in on.
        if self.service.check_hash(&hash)? {
            return Ok(Verified {
                principal: Principal::Service,
                credential: String::new(),
            });
        }
        if cached {
            if let Some(hit) = self.accepted.get(&hash) {
                return Ok(hit);
            }
            if self.rejected.contains_key(&hash) {
                return Err(AuthError::Rejected);
            }
        }
        match self.verifier.verify(token).await {
            Ok(verified) => {
                if !self.ttl.is_zero() {
                    self.accepted.insert(hash, verified.clone());
                }
                Ok(verified)
            }
            Err(AuthError::Rejected) => {
                self.accepted.invalidate(&hash);
                self.rejected.insert(hash, ());
                Err(AuthError::Rejected)
            }
            Err(other) => Err(other),
        }
    }
}

impl Authenticator {
    /// The authenticator of every server but departments: it asks the departments
    /// server behind `departments` (a channel carrying the service token) and caches
    /// each answer for `auth.cache_ttl_seconds`.
    pub fn asking_departments(settings: &crate::Settings, departments: crate::client::ServiceChannel) -> Self {
        Self::new(
            ServiceCredential::from_settings(settings),
            std::sync::Arc::new(RemoteVerifier::new(departments)),
            settings.auth.cache_ttl(),
        )
    }
}

/// Verifies tokens by asking the departments service's `AuthenticateToken`.
#[derive(Debug, Clone)]
pub struct RemoteVerifier {
    client: pb::departments_internal_service_client::DepartmentsInternalServiceClient<crate::client::ServiceChannel>,
}

impl RemoteVerifier {
    /// Uses a channel that carries the service token.
    pub fn new(channel: crate::client::ServiceChannel) -> Self {
        Self {
            client: pb::departments_internal_service_client::DepartmentsInternalServiceClient::new(channel),
        }
    }
}

#[tonic::async_trait]
impl TokenVerifier for RemoteVerifier {
    async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let request = pb::AuthenticateTokenRequest {
            token: token.to_owned(),
        };
        match self.client.clone().authenticate_token(request).await {
            Ok(response) => {
                let principal = response.into_inner().principal.unwrap_or_default();
                let credential = principal.credential.clone();
                Principal::from_proto(&principal)
                    .map(|principal| Verified { principal, credential })
                    .ok_or_else(|| AuthError::Unavailable("directory answered without a principal".into()))
            }
            Err(status) if status.code() == Code::Unauthenticated => Err(AuthError::Rejected),
            Err(status) => Err(AuthError::Unavailable(status.message().to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting(AtomicUsize);

    #[tonic::async_trait]
    impl TokenVerifier for Counting {
        async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            match token {
                "dbn_leader" => Ok(Verified {
                    principal: Principal::Leadership,
                    credential: "credentials/1".into(),
                }),
                _ => Err(AuthError::Rejected),
            }
        }
    }

    fn metadata(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", value.parse().unwrap());
        metadata
    }

    #[tokio::test]
    async fn service_token_is_checked_locally_and_others_are_cached() {
        let verifier = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = Authenticator::new(
            ServiceCredential::new("dbn_service", false),
            verifier.clone(),
            Duration::from_secs(10),
        );
        assert_eq!(
            auth.authenticate(&metadata("Bearer dbn_service")).await,
            Ok(Principal::Service)
        );
        assert_eq!(verifier.0.load(Ordering::SeqCst), 0);
        for _ in 0..3 {
            assert_eq!(
                auth.authenticate(&metadata("Bearer dbn_leader")).await,
                Ok(Principal::Leadership)
            );
        }
        assert_eq!(verifier.0.load(Ordering::SeqCst), 1);
        // A rejected token is remembered: a flood of it costs one lookup.
        for _ in 0..5 {
            assert_eq!(
                auth.authenticate(&metadata("Bearer dbn_nobody")).await,
                Err(AuthError::Rejected)
            );
        }
        assert_eq!(verifier.0.load(Ordering::SeqCst), 2);
    }

    /// Accepts `dbn_leader` until revoked.
    struct Revocable(std::sync::atomic::AtomicBool);

    #[tonic::async_trait]
    impl TokenVerifier for Revocable {
        async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
            match token {
                "dbn_leader" if !self.0.load(Ordering::SeqCst) => Ok(Verified {
                    principal: Principal::Leadership,
                    credential: "credentials/1".into(),
                }),
                _ => Err(AuthError::Rejected),
            }
        }
    }

    #[tokio::test]
    async fn a_fresh_check_sees_a_revocation_the_cache_does_not_yet() {
        let verifier = Arc::new(Revocable(std::sync::atomic::AtomicBool::new(false)));
        let auth = Authenticator::new(ServiceCredential::default(), verifier.clone(), Duration::from_secs(30));
        assert!(auth.verify("dbn_leader").await.is_ok());
        verifier.0.store(true, Ordering::SeqCst);
        assert!(
            auth.verify("dbn_leader").await.is_ok(),
            "cached for the revocation window"
        );
        assert_eq!(auth.verify_fresh("dbn_leader").await, Err(AuthError::Rejected));
        assert_eq!(
            auth.verify("dbn_leader").await,
            Err(AuthError::Rejected),
            "a fresh refusal replaces the cached acceptance"
        );
    }

    #[test]
    fn an_unreachable_directory_is_not_described_to_the_caller() {
        let status = Status::from(AuthError::Unavailable(
            "error returned from database: connection to 10.0.0.7:5432 refused".into(),
        ));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.7"), "{}", status.message());
        assert!(!status.message().contains("database"), "{}", status.message());
    }

    #[tokio::test]
    async fn under_mutual_tls_the_service_token_needs_a_servers_certificate() {
        let verifier = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = Authenticator::new(
            ServiceCredential::new("dbn_service", true),
            verifier.clone(),
            Duration::from_secs(10),
        );
        assert_eq!(
            auth.authenticate(&metadata("Bearer dbn_service")).await,
            Err(AuthError::ServiceCertificateMissing)
        );
        // What the request layer does for a connection whose certificate names a server.
        let with_certificate = crate::layer::CALLING_SERVER
            .scope(Some("gateway"), auth.authenticate(&metadata("Bearer dbn_service")))
            .await;
        assert_eq!(with_certificate, Ok(Principal::Service));
        assert_eq!(
            auth.authenticate(&metadata("Bearer dbn_leader")).await,
            Ok(Principal::Leadership),
            "other tokens need no certificate"
        );
        assert_eq!(
            verifier.0.load(Ordering::SeqCst),
            1,
            "the service token is never asked about"
        );
        assert_eq!(
            Status::from(AuthError::ServiceCertificateMissing).code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn a_server_holding_a_service_certificate_never_takes_the_bare_token() {
        let mut settings = crate::Settings::default();
        settings.auth.service_token = "dbn_service".into();
        assert_eq!(
            ServiceCredential::from_settings(&settings).check("dbn_service"),
            Ok(true)
        );
        settings.client.tls.cert_file = "service.pem".into();
        assert_eq!(
            ServiceCredential::from_settings(&settings).check("dbn_service"),
            Err(AuthError::ServiceCertificateMissing)
        );
        assert_eq!(
            ServiceCredential::from_settings(&settings).check("dbn_other"),
            Ok(false)
        );
    }

    #[tokio::test]
    async fn zero_ttl_asks_every_time() {
        let verifier = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = Authenticator::new(ServiceCredential::default(), verifier.clone(), Duration::ZERO);
        auth.authenticate(&metadata("Bearer dbn_leader")).await.unwrap();
        auth.authenticate(&metadata("Bearer dbn_leader")).await.unwrap();
        assert_eq!(verifier.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn bearer_metadata_is_parsed_strictly() {
        assert_eq!(bearer_token(&MetadataMap::new()), Err(AuthError::Missing));
        assert_eq!(bearer_token(&metadata("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&metadata("Bearer ")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&metadata("Bearer dbn_x")), Ok("dbn_x"));
    }

    #[test]
    fn statuses_use_the_right_codes() {
        assert_eq!(Status::from(AuthError::Missing).code(), Code::Unauthenticated);
        assert_eq!(
            Status::from(AuthError::Denied("no".into())).code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_eq!(token_hash("x").len(), 64);
    }
}
