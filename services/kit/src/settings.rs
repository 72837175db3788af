//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `DUBAN__<SECTION>__<KEY>` environment variables (the names docker-compose.yml uses).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// Every setting of the suite. One struct for all servers, so that `duban up` and a
/// single-service container read the same keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the SQLite databases (`<service>.db`) and the development admin token live.
    pub data_dir: PathBuf,
    /// Log format and filter.
    pub log: LogSettings,
    /// OpenTelemetry export.
    pub telemetry: TelemetrySettings,
    /// Token checking between services.
    pub auth: AuthSettings,
    /// Limits every gRPC server applies.
    pub server: ServerLimits,
    /// How servers and the `duban` command reach other servers.
    pub client: ClientSettings,
    /// Which plan data the suite serves.
    pub plan: PlanSettings,
    /// The departments server.
    pub departments: ServiceSettings,
    /// The measures server (plans, actions, measures).
    pub measures: ServiceSettings,
    /// The targets server (targets, trajectories).
    pub targets: ServiceSettings,
    /// The reporting server (progress reports, reviews, aggregates, compliance).
    pub reporting: ServiceSettings,
    /// What counts as official progress.
    pub progress: ProgressSettings,
    /// The SMTP relay the reporting server mails follow-up notices through (off by
    /// default). A section of its own rather than under `reporting`, whose section is the
    /// `[departments]`-style [`ServiceSettings`] every server shares.
    pub smtp: SmtpSettings,
    /// The gateway: dashboard, JSON API and the one front door to every service.
    pub gateway: GatewaySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            log: LogSettings::default(),
            telemetry: TelemetrySettings::default(),
            auth: AuthSettings::default(),
            server: ServerLimits::default(),
            client: ClientSettings::default(),
            plan: PlanSettings::default(),
            departments: ServiceSettings::on_port(50052),
            measures: ServiceSettings::on_port(50053),
            targets: ServiceSettings::on_port(50054),
            reporting: ServiceSettings::on_port(50055),
            progress: ProgressSettings::default(),
            smtp: SmtpSettings::default(),
            gateway: GatewaySettings::default(),
        }
    }
}

/// The plan data files. Empty paths mean the Jiading 2023 data built into the binary;
/// another district or plan needs only its own files, not new code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanSettings {
    /// A directory file (responsible units and groups) in the format of
    /// `plans/jiading-2023/departments.toml`, loaded by the departments server at start.
    pub directory_file: String,
    /// A plan file in the format of `plans/jiading-2023/plan.toml`, imported by `duban up`
    /// on start (idempotently: an unchanged plan changes nothing).
    pub plan_file: String,
}

/// What counts as official progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgressSettings {
    /// `true`: submitted (not yet reviewed) reports count too, marked provisional;
    /// `false`: only reports leadership has accepted count.
    pub count_submitted: bool,
}

impl Default for ProgressSettings {
    fn default() -> Self {
        Self { count_submitted: true }
    }
}

/// The SMTP relay through which the reporting server mails follow-up notices to the
/// units' EMAIL endpoints. Read by the reporting server only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// The relay's host name. Empty (the default) sends no e-mail: a notice wanted by
    /// EMAIL endpoints only stays PENDING until a relay is configured.
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// How the connection is secured: `starttls` (upgrade a plain connection, port 587),
    /// `tls` (TLS from the first byte, port 465) or `none` (plaintext, only for a relay
    /// on the same host or network).
    pub tls: SmtpTls,
    /// The user name to log in with; empty logs in as nobody.
    pub username: String,
    /// The password, with `username`. A secret: set it from a secret store, never in a
    /// file under version control.
    pub password: String,
    /// The sender's address (`From`), for example `督办 <duban@example.gov.cn>` or a plain
    /// `duban@example.gov.cn`.
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: "duban@localhost".into(),
        }
    }
}

impl SmtpSettings {
    /// Whether a relay is configured.
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }
}

/// How the connection to the SMTP relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plaintext.
    None,
    /// A plain connection upgraded with STARTTLS, which must succeed.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// The gateway: where it listens and who may read the dashboard. The RAG tolerances are
/// plan data (`[plan.rag]`), not settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Socket address the gateway binds: gRPC (DashboardService and the four services'
    /// RPCs forwarded), gRPC-Web, the dashboard and the JSON API, all on this one port.
    pub listen: SocketAddr,
    /// Socket address of the gateway's Prometheus `/metrics` listener (see
    /// [`ServiceSettings::metrics_listen`]).
    pub metrics_listen: SocketAddr,
    /// URL clients use to reach it. Empty means `http://` + `listen`.
    pub endpoint: String,
    /// The plan the dashboard at `/` and the JSON API show, as its id (`jiading-2023`).
    pub plan: String,
    /// Who may read the dashboard's pages, JSON API, CSV exports and live events over HTTP:
    /// see [`DashboardAccess`]. `auto` (the default) means `sign_in`, except under
    /// `duban up` with a loopback `listen`, where it means `local`.
    pub dashboard_access: DashboardAccess,
    /// How long a dashboard sign-in lasts, in hours, before the login form is shown again.
    pub session_hours: u64,
    /// `true`: the session and login cookies are always marked `Secure` (sent over HTTPS
    /// only), for a gateway behind a TLS-terminating proxy that does not send
    /// `X-Forwarded-Proto: https`. They are marked `Secure` anyway when the request came
    /// over HTTPS.
    pub cookie_secure: bool,
    /// How long the gateway trusts its cached view of the plan (plan, actions, measures,
    /// targets, department names) before reading it again: the TTL of the one rule of
    /// `duban_plan::cache` (stale copies served while a refresh fails, retried every 5 s
    /// at most).
    pub catalogue_cache_seconds: u64,
    /// WatchOverview (and the dashboard's live refresh) pushes at most one overview per
    /// this many milliseconds; report events in between are coalesced.
    pub watch_interval_ms: u64,
    /// The monthly bulletin's document number (文号): `{year}` and `{month}` stand for the
    /// period's (the month without a leading zero), as in the default `督办通报〔{year}〕{month}号`.
    pub bulletin_number: String,
}

impl GatewaySettings {
    /// The URL clients (and the `duban` command) use to reach the gateway.
    pub fn endpoint_url(&self) -> String {
        endpoint_url(&self.endpoint, self.listen)
    }

    /// Where the gateway binds.
    pub fn addresses(&self) -> ListenAddresses {
        ListenAddresses {
            grpc: self.listen,
            metrics: self.metrics_listen,
        }
    }

    /// `session_hours` as a duration, at least an hour.
    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_hours.max(1) * 3600)
    }
}

/// Who may read the dashboard over HTTP. The gRPC DashboardService always needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DashboardAccess {
    /// `sign_in` for `duban serve gateway` (and so every container); `local` for `duban up`
    /// when the gateway listens on a loopback address.
    Auto,
    /// Every page, API call, CSV export and event stream needs a LEADERSHIP or ADMIN
    /// sign-in (the login form's session cookie, or `Authorization: Bearer`).
    SignIn,
    /// Anyone may read the aggregate figures (the overview of actions, measures and
    /// targets, without any unit's status, report text or blocker); everything else needs
    /// a sign-in as for `sign_in`.
    Public,
    /// Anyone who reaches the port reads everything, as the gateway itself: for one
    /// person's machine. Only allowed with a loopback `listen` address.
    Local,
}

impl DashboardAccess {
    /// What `auto` means for a gateway that listens on `listen`, started by `duban up`
    /// (`local_user`) or on its own; any other value is itself.
    pub fn resolve(self, listen: SocketAddr, local_user: bool) -> DashboardAccess {
        match self {
            DashboardAccess::Auto if local_user && listen.ip().is_loopback() => DashboardAccess::Local,
            DashboardAccess::Auto => DashboardAccess::SignIn,
            other => other,
        }
    }
}

/// The two sockets a server binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddresses {
    /// gRPC (and, on the gateway, HTTP for people).
    pub grpc: SocketAddr,
    /// Prometheus `/metrics`, plain HTTP.
    pub metrics: SocketAddr,
}

/// Each server's metrics port is its gRPC port plus this (50052 → 50062), by default.
pub const METRICS_PORT_OFFSET: u16 = 10;

/// `endpoint` if set, else `http://` + `listen`, with a wildcard address made loopback.
fn endpoint_url(endpoint: &str, listen: SocketAddr) -> String {
    if !endpoint.is_empty() {
        return endpoint.to_owned();
    }
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 50051 + METRICS_PORT_OFFSET)),
            endpoint: String::new(),
            plan: "jiading-2023".into(),
            dashboard_access: DashboardAccess::Auto,
            session_hours: 12,
            cookie_secure: false,
            catalogue_cache_seconds: 60,
            watch_interval_ms: 5000,
            bulletin_number: "督办通报〔{year}〕{month}号".into(),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,duban_departments=debug`;
    /// `RUST_LOG` overrides it when set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// The two log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// OpenTelemetry trace export.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector endpoint, for example `http://otel-collector:4317`.
    /// Empty switches export off; logs are written either way.
    pub otlp_endpoint: String,
}

/// How servers recognise each other and how long token answers are trusted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The shared secret services present to each other (principal SERVICE). Empty
    /// disables service-to-service calls; `duban up` generates one per run.
    pub service_token: String,
    /// How long a server trusts an AuthenticateToken answer. Capped at 30 s, which
    /// bounds how long a revoked token keeps working.
    pub cache_ttl_seconds: u64,
    /// A token the departments service registers as an ADMIN credential at start, so
    /// a fresh installation has a first administrator. `duban up` generates one and
    /// keeps it in `<data_dir>/admin.token`. Empty registers nothing.
    pub bootstrap_admin_token: String,
}

impl AuthSettings {
    /// Refuses a configured service or bootstrap token shorter than
    /// [`MIN_SECRET_CHARS`]; an empty one means "none" and is allowed.
    pub fn check_secrets(&self) -> Result<(), SettingsError> {
        for (setting, variable, token) in [
            ("auth.service_token", "DUBAN__AUTH__SERVICE_TOKEN", &self.service_token),
            (
                "auth.bootstrap_admin_token",
                "DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN",
                &self.bootstrap_admin_token,
            ),
        ] {
            let length = token.chars().count();
            if length > 0 && length < MIN_SECRET_CHARS {
                return Err(SettingsError::WeakSecret {
                    setting,
                    variable,
                    length,
                });
            }
        }
        Ok(())
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            service_token: String::new(),
            cache_ttl_seconds: 10,
            bootstrap_admin_token: String::new(),
        }
    }
}

impl AuthSettings {
    /// The cache lifetime, never more than the 30 s revocation promise.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_seconds.min(30))
    }
}

/// Limits every gRPC server applies, to protect itself and its database, and its TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerLimits {
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Longest a unary call may take before DEADLINE_EXCEEDED, unless the client's own
    /// deadline is shorter.
    pub request_timeout_ms: u64,
    /// Requests served at once; further ones get RESOURCE_EXHAUSTED at once rather than
    /// queueing (load shedding). Health checks are never shed.
    pub max_concurrent_requests: usize,
    /// How long shutdown waits for in-flight calls and open streams before closing them.
    pub shutdown_grace_ms: u64,
    /// Writes a department may make per second, sustained (each SubmitReports item
    /// counts); beyond it RESOURCE_EXHAUSTED with a RetryInfo. 0 switches the limit off.
    pub department_writes_per_second: u32,
    /// Writes a department may make at once above the sustained rate (a full
    /// SubmitReports stream of 1,000 items fits).
    pub department_write_burst: u32,
    /// Long-lived streams (WatchReportEvents, WatchOverview, the dashboard's live
    /// refresh) open at once on this server, from every caller but SERVICE; beyond it
    /// RESOURCE_EXHAUSTED, reason TOO_MANY_STREAMS.
    pub max_open_streams: usize,
    /// Long-lived streams any one token may hold open at once on this server.
    pub max_streams_per_credential: usize,
    /// TLS on the server's port; off (plaintext) unless a certificate is given.
    pub tls: ServerTlsSettings,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 256,
            shutdown_grace_ms: 5_000,
            department_writes_per_second: 20,
            department_write_burst: 1_000,
            max_open_streams: 1_024,
            max_streams_per_credential: 16,
            tls: ServerTlsSettings::default(),
        }
    }
}

/// TLS on a server's port (PEM files, as `duban certs` writes them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// The server's certificate chain. Empty: no TLS, the port speaks plaintext.
    pub cert_file: String,
    /// The certificate's private key.
    pub key_file: String,
    /// Mutual TLS: client certificates are verified against this CA, and only a caller
    /// whose verified certificate names a Duban server may act as SERVICE. Empty: no
    /// client certificates are asked for.
    pub client_ca_file: String,
    /// With `client_ca_file`: `true` refuses a connection without a valid client
    /// certificate; `false` lets it in without one (department systems at the gateway),
    /// though it still cannot act as SERVICE.
    pub require_client_certificate: bool,
}

impl Default for ServerTlsSettings {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            require_client_certificate: true,
        }
    }
}

impl ServerTlsSettings {
    /// Whether the port speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    /// Whether client certificates are verified (mutual TLS), which makes a verified
    /// service certificate a condition of acting as SERVICE.
    pub fn mutual(&self) -> bool {
        self.enabled() && !self.client_ca_file.is_empty()
    }
}

impl ServerLimits {
    /// `request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// `shutdown_grace_ms` as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// How outgoing calls find the servers they call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// How often a channel to an endpoint given by name (`http://departments:50052`)
    /// looks the name up again, adding the replicas that appeared and dropping the ones
    /// that went. Endpoints given as an IP address are never looked up.
    pub resolve_interval_ms: u64,
    /// TLS on calls to the servers of the suite.
    pub tls: ClientTlsSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            resolve_interval_ms: 5_000,
            tls: ClientTlsSettings::default(),
        }
    }
}

/// TLS on outgoing calls (PEM files). With a CA file every call to a server of the suite
/// is made over TLS, whatever the endpoint's scheme; without one, only calls to an
/// `https://` endpoint are, verified against the system's roots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// The CA that issued the servers' certificates. Empty: plaintext, except to
    /// `https://` endpoints.
    pub ca_file: String,
    /// The certificate presented to servers that ask for one (mutual TLS): for a server,
    /// a certificate naming a Duban server, which lets it act as SERVICE; a server that
    /// has one takes the service token only from callers with such a certificate too
    /// (`auth::ServiceCredential`). Empty: none.
    pub cert_file: String,
    /// Its private key.
    pub key_file: String,
}

impl ClientSettings {
    /// `resolve_interval_ms` as a duration, at least a millisecond.
    pub fn resolve_interval(&self) -> Duration {
        Duration::from_millis(self.resolve_interval_ms.max(1))
    }
}

/// Where one server listens, how the others reach it, and where its data lives.
/// (No `serde(default)`: the built-in defaults already fill every key.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Socket address the server binds, for example `127.0.0.1:50052` or `0.0.0.0:50052`.
    pub listen: SocketAddr,
    /// Socket address of the server's Prometheus `/metrics` listener: plain HTTP/1.1 on
    /// a port of its own, so that a scraper can be let in (a NetworkPolicy, a published
    /// port) without reaching the API, and the API's clients never see the metrics.
    /// For example `0.0.0.0:50062`; port 0 picks a free one.
    pub metrics_listen: SocketAddr,
    /// URL other servers and the `duban` command use to reach it, for example
    /// `http://departments:50052`. Empty means `http://` + `listen` (loopback if
    /// `listen` is a wildcard address).
    pub endpoint: String,
    /// `postgres://...` or `sqlite://...` URL of the server's own database. Empty means
    /// SQLite at `<data_dir>/<service>.db`.
    pub database_url: String,
}

impl ServiceSettings {
    /// Loopback on `port` (metrics on `port` + [`METRICS_PORT_OFFSET`]), with the default
    /// endpoint and database.
    pub fn on_port(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], port + METRICS_PORT_OFFSET)),
            endpoint: String::new(),
            database_url: String::new(),
        }
    }

    /// The URL clients use to reach this server.
    pub fn endpoint_url(&self) -> String {
        endpoint_url(&self.endpoint, self.listen)
    }

    /// Where this server binds.
    pub fn addresses(&self) -> ListenAddresses {
        ListenAddresses {
            grpc: self.listen,
            metrics: self.metrics_listen,
        }
    }

    /// The database URL, defaulting to SQLite at `<data_dir>/<service>.db`.
    pub fn database_url_in(&self, data_dir: &Path, service: &str) -> String {
        if !self.database_url.is_empty() {
            return self.database_url.clone();
        }
        format!("sqlite://{}", data_dir.join(format!("{service}.db")).display())
    }
}

/// The fewest characters a configured secret token may have: 32 characters carry at
/// least 128 bits even as hex (`duban up` and `new_token` make 256-bit ones).
pub const MIN_SECRET_CHARS: usize = 32;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file, an environment variable or a default did not fit the schema.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
    /// A configured secret is too short to resist guessing.
    #[error(
        "{setting} ({variable}) is {length} characters long; a token needs at least {MIN_SECRET_CHARS} \
         (128 bits), for example `openssl rand -hex 32`"
    )]
    WeakSecret {
        /// The setting, for example `auth.service_token`.
        setting: &'static str,
        /// Its environment variable.
        variable: &'static str,
        /// How long it is.
        length: usize,
    },
}

impl Settings {
    /// Loads defaults, then `file` if given, then `DUBAN__SECTION__KEY` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, config::Environment::with_prefix("DUBAN"))
    }

    /// As [`Settings::load`], with the environment source given (tests pass a map).
    pub fn load_from(file: Option<&Path>, env: config::Environment) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder().add_source(config::Config::try_from(&Settings::default())?);
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let env = env.prefix_separator("__").separator("__").try_parsing(true);
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.auth.check_secrets()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        config::Environment::with_prefix("DUBAN").source(Some(map))
    }

    #[test]
    fn defaults_put_sqlite_under_the_data_dir() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(settings.departments.listen.port(), 50052);
        assert_eq!(settings.departments.endpoint_url(), "http://127.0.0.1:50052");
        assert_eq!(settings.departments.metrics_listen.port(), 50062);
        assert_eq!(settings.gateway.metrics_listen.port(), 50061);
        assert_eq!(
            settings.departments.database_url_in(&settings.data_dir, "departments"),
            "sqlite://data/departments.db"
        );
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("duban.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/duban\"\n[log]\nformat = \"json\"\n[departments]\nlisten = \"0.0.0.0:6000\"\n",
        )
        .unwrap();
        let settings = Settings::load_from(
            Some(&file),
            env(&[
                ("DUBAN__DEPARTMENTS__DATABASE_URL", "postgres://db/departments"),
                ("DUBAN__SERVER__MAX_CONCURRENT_REQUESTS", "7"),
                ("DUBAN__LOG__FORMAT", "text"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("/srv/duban"));
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.server.max_concurrent_requests, 7);
        assert_eq!(settings.departments.listen.port(), 6000);
        assert_eq!(settings.departments.endpoint_url(), "http://127.0.0.1:6000");
        assert_eq!(
            settings.departments.database_url_in(&settings.data_dir, "departments"),
            "postgres://db/departments"
        );
    }

    #[test]
    fn short_secrets_are_refused_by_name() {
        for variable in ["DUBAN__AUTH__SERVICE_TOKEN", "DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN"] {
            let error = Settings::load_from(None, env(&[(variable, "dev-service-token")])).unwrap_err();
            assert!(matches!(error, SettingsError::WeakSecret { length: 17, .. }), "{error}");
            assert!(error.to_string().contains(variable), "{error}");
            let strong = "0123456789abcdef".repeat(2);
            assert!(Settings::load_from(None, env(&[(variable, &strong)])).is_ok());
        }
    }

    #[test]
    fn tls_is_off_by_default_and_set_through_nested_variables() {
        let defaults = Settings::load_from(None, env(&[])).unwrap();
        assert!(!defaults.server.tls.enabled() && !defaults.server.tls.mutual());
        assert!(defaults.client.tls.ca_file.is_empty());
        let settings = Settings::load_from(
            None,
            env(&[
                ("DUBAN__SERVER__TLS__CERT_FILE", "/certs/departments.pem"),
                ("DUBAN__SERVER__TLS__KEY_FILE", "/certs/departments-key.pem"),
                ("DUBAN__SERVER__TLS__CLIENT_CA_FILE", "/certs/ca.pem"),
                ("DUBAN__SERVER__TLS__REQUIRE_CLIENT_CERTIFICATE", "false"),
                ("DUBAN__CLIENT__TLS__CA_FILE", "/certs/ca.pem"),
                ("DUBAN__CLIENT__TLS__CERT_FILE", "/certs/service.pem"),
            ]),
        )
        .unwrap();
        assert!(settings.server.tls.mutual());
        assert!(!settings.server.tls.require_client_certificate);
        assert_eq!(settings.server.tls.key_file, "/certs/departments-key.pem");
        assert_eq!(settings.client.tls.ca_file, "/certs/ca.pem");
        assert_eq!(settings.client.tls.cert_file, "/certs/service.pem");
    }

    #[test]
    fn smtp_is_off_by_default_and_set_through_its_section() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert!(!settings.smtp.enabled());
        let settings = Settings::load_from(
            None,
            env(&[
                ("DUBAN__SMTP__HOST", "mail.example.org"),
                ("DUBAN__SMTP__PORT", "465"),
                ("DUBAN__SMTP__TLS", "tls"),
                ("DUBAN__SMTP__FROM", "duban@example.org"),
            ]),
        )
        .unwrap();
        assert!(settings.smtp.enabled());
        assert_eq!(
            (settings.smtp.port, settings.smtp.tls, settings.smtp.from.as_str()),
            (465, SmtpTls::Tls, "duban@example.org")
        );
        assert!(Settings::load_from(None, env(&[("DUBAN__SMTP__TLS", "ssl")])).is_err());
    }

    #[test]
    fn unknown_keys_are_errors_not_silently_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("duban.toml");
        std::fs::write(&file, "[departments]\nlisten_addr = \"0.0.0.0:6000\"\n").unwrap();
        assert!(Settings::load_from(Some(&file), env(&[])).is_err());
    }

    #[test]
    fn dashboard_access_is_sign_in_unless_duban_up_runs_on_loopback() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 50051));
        let wildcard = SocketAddr::from(([0, 0, 0, 0], 50051));
        let auto = DashboardAccess::Auto;
        assert_eq!(auto.resolve(loopback, false), DashboardAccess::SignIn);
        assert_eq!(auto.resolve(wildcard, false), DashboardAccess::SignIn);
        assert_eq!(auto.resolve(wildcard, true), DashboardAccess::SignIn);
        assert_eq!(auto.resolve(loopback, true), DashboardAccess::Local);
        assert_eq!(DashboardAccess::Public.resolve(loopback, true), DashboardAccess::Public);
        let settings = Settings::load_from(None, env(&[("DUBAN__GATEWAY__DASHBOARD_ACCESS", "public")])).unwrap();
        assert_eq!(settings.gateway.dashboard_access, DashboardAccess::Public);
        assert_eq!(Settings::default().gateway.dashboard_access, DashboardAccess::Auto);
    }

    #[test]
    fn token_cache_never_outlives_the_revocation_promise() {
        let auth = AuthSettings {
            cache_ttl_seconds: 600,
            ..AuthSettings::default()
        };
        assert_eq!(auth.cache_ttl(), Duration::from_secs(30));
    }
}
