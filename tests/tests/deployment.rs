//! Static checks of the deployment files (no Docker or cluster needed): docker-compose.yml,
//! the Dockerfile, .dockerignore, deploy/postgres/init.sql, deploy/otel-collector/ and the
//! Kubernetes manifests in deploy/kubernetes/ (built with the kustomize subset in
//! `duban_tests::kustomize`, and validated against the Kubernetes schemas by
//! kubernetes-validate) are read and checked against the real configuration schema, the
//! `duban` binary's list of servers and the workspace manifest, so that drift between them
//! fails here rather than at `docker compose up` or `kubectl apply`.
//!
//! Compose services built from the Dockerfile are either servers (`serve <name>`, one
//! for each of `duban_cli::SERVICES`) or one-shot jobs (`restart: "no"`, a `duban`
//! client command such as `plan import`, run once the servers are healthy). A server
//! either owns exactly one PostgreSQL database or is declared in [`DATABASE_LESS`].

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use duban_kit::{Settings, settings::DashboardAccess};
use duban_tests::{
    Compose, Dockerfile, PostgresUrl, build, created_databases, depends_on, environment, ports, read_file, scalar,
    tag_satisfies, version_parts, volumes, words, workspace_root,
};
use serde_yaml::Value;

/// The servers `duban serve <name>` knows.
const SERVICES: &[&str] = duban_cli::SERVICES;

/// The servers each server calls, i.e. needs healthy before it starts and reaches
/// through `DUBAN__<NAME>__ENDPOINT`. Checked against the servers' sources (their
/// `settings.<name>.endpoint_url()` calls) in `server_calls_match_the_sources`.
const CALLS: &[(&str, &[&str])] = &[
    ("departments", &[]),
    ("targets", &["departments"]),
    ("measures", &["departments", "targets"]),
    ("reporting", &["departments", "measures", "targets"]),
    ("gateway", &["departments", "measures", "targets", "reporting"]),
];

/// The servers that store nothing: no `database_url` in their settings section, so no
/// DATABASE_URL under compose, no database in init.sql and no dependency on postgres.
/// Every other server owns exactly one database.
const DATABASE_LESS: &[&str] = &["gateway"];

/// The compose service every server with a database waits for.
const POSTGRES: &str = "postgres";

/// The `duban` client commands a one-shot compose job may run, with the server its
/// `--addr` must name. The clap `Cli` lives in services/cli/src/main.rs, out of reach of
/// this package, so the list is kept here; `job_commands_parse_with_the_built_binary`
/// runs them through a freshly built `duban` when there is one.
const JOB_COMMANDS: &[(&[&str], &str)] = &[(&["plan", "import"], "measures")];

/// Variables the `duban` command line reads itself (not configuration settings); jobs
/// may set them.
const CLI_VARIABLES: &[&str] = &["DUBAN_TOKEN"];

/// Compose services that are not Duban servers but may run beside them.
const INFRASTRUCTURE: &[&str] = &["postgres", "otel-collector", "jaeger"];

/// The port Jaeger all-in-one receives OTLP/gRPC on, and the port of its UI.
const JAEGER_OTLP_GRPC: u16 = 4317;
const JAEGER_UI: u16 = 16686;

/// The host variable the compose file documents for switching trace export on.
const OTLP_HOST_VARIABLE: &str = "DUBAN_OTLP_ENDPOINT";

/// Top-level compose keys other than `x-` extensions.
const COMPOSE_TOP_LEVEL: &[&str] = &[
    "name", "services", "volumes", "networks", "configs", "secrets", "include",
];

// --- loading ------------------------------------------------------------------------------

/// The endpoint the compose file's comments tell people to export for tracing, e.g.
/// `http://otel-collector:4317`, if it documents one.
fn documented_otlp_endpoint() -> Option<String> {
    let text = read_file("docker-compose.yml");
    let start = text.find(&format!("{OTLP_HOST_VARIABLE}="))? + OTLP_HOST_VARIABLE.len() + 1;
    Some(text[start..].split_whitespace().next()?.to_owned())
}

/// The secrets compose refuses to start without (`${VAR:?…}`), as `.env` would hold them.
const REQUIRED_SECRETS: [(&str, &str); 3] = [
    (
        "DUBAN_SERVICE_TOKEN",
        "5e7c0de1c0ffee5e7c0de1c0ffee5e7c0de1c0ffee5e7c0de1c0ffee5e7c0de1",
    ),
    (
        "DUBAN_ADMIN_TOKEN",
        "ad3117ad3117ad3117ad3117ad3117ad3117ad3117ad3117ad3117ad3117ad31",
    ),
    ("POSTGRES_PASSWORD", "s3cret-pw"),
];

/// The required secrets, as `.env` holds them.
fn secrets_env() -> HashMap<String, String> {
    REQUIRED_SECRETS
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The shell environments `docker compose` is checked under: only the required
/// secrets set (a plain `docker compose up` with `.env`), and every documented variable
/// set to something unusual.
fn host_environments() -> Vec<(&'static str, HashMap<String, String>)> {
    let secrets = secrets_env();
    let mut everything = secrets.clone();
    everything.insert("POSTGRES_PORT".into(), "6543".into());
    everything.insert("DUBAN_PUBLISH_ADDRESS".into(), "0.0.0.0".into());
    if let Some(endpoint) = documented_otlp_endpoint() {
        everything.insert(OTLP_HOST_VARIABLE.to_owned(), endpoint);
    }
    vec![("only the secrets set", secrets), ("every variable set", everything)]
}

/// No known secret: without each required variable compose refuses to start, naming it.
#[test]
fn compose_starts_nothing_without_its_secrets() {
    let all = secrets_env();
    assert!(Compose::parse(&read_file("docker-compose.yml"), &all).is_ok());
    for (missing, _) in REQUIRED_SECRETS {
        let mut env = all.clone();
        env.remove(missing);
        let error = match Compose::parse(&read_file("docker-compose.yml"), &env) {
            Ok(_) => panic!("docker-compose.yml starts without {missing}"),
            Err(error) => error,
        };
        assert!(error.contains(missing), "{missing}: {error}");
    }
    let text = read_file("docker-compose.yml");
    for known in ["dev-admin-token", "dev-service-token", ":-duban}"] {
        assert!(!text.contains(known), "docker-compose.yml still carries {known}");
    }
    // `.env` holds them: neither git nor the Docker build context may take it.
    for ignore in [".gitignore", ".dockerignore"] {
        assert!(
            read_file(ignore).lines().any(|line| line.trim() == ".env"),
            "{ignore} does not ignore .env"
        );
    }
}

/// By default every port is published on the loopback address only.
#[test]
fn compose_publishes_on_loopback_by_default() {
    let (_, secrets) = host_environments().remove(0);
    let compose = compose(&secrets);
    let mut published = 0;
    for (name, service) in compose.services() {
        for port in ports(service).unwrap_or_else(|error| panic!("{name}: {error}")) {
            if port.published.is_some() {
                published += 1;
                assert_eq!(port.host_ip.as_deref(), Some("127.0.0.1"), "{name}: {port:?}");
            }
        }
    }
    assert!(published >= 6, "only {published} published ports");
}

fn compose(host_env: &HashMap<String, String>) -> Compose {
    Compose::parse(&read_file("docker-compose.yml"), host_env)
        .unwrap_or_else(|error| panic!("docker-compose.yml: {error}"))
}

fn dockerfile() -> Dockerfile {
    Dockerfile::parse(&read_file("Dockerfile")).unwrap_or_else(|error| panic!("Dockerfile: {error}"))
}

/// Whether a compose service is built from this repository's Dockerfile.
fn is_duban(service: &Value) -> bool {
    build(service).is_some_and(|(context, dockerfile)| {
        matches!(context.trim_end_matches('/'), "." | "") && dockerfile.trim_start_matches("./") == "Dockerfile"
    })
}

fn duban_services(compose: &Compose) -> BTreeMap<String, &Value> {
    compose
        .services()
        .into_iter()
        .filter(|(_, service)| is_duban(service))
        .collect()
}

/// Whether a Duban service runs a server (`serve <name>`) rather than a one-shot job.
fn is_server(service: &Value) -> bool {
    words(service.get("command"))
        .first()
        .is_some_and(|word| word == "serve")
}

/// The Duban services that run a server.
fn servers(compose: &Compose) -> BTreeMap<String, &Value> {
    let mut services = duban_services(compose);
    services.retain(|_, service| is_server(service));
    services
}

/// The Duban services that run a one-shot job.
fn jobs(compose: &Compose) -> BTreeMap<String, &Value> {
    let mut services = duban_services(compose);
    services.retain(|_, service| !is_server(service));
    services
}

/// The servers `name` calls, from [`CALLS`].
fn calls(name: &str) -> &'static [&'static str] {
    CALLS
        .iter()
        .find(|(server, _)| *server == name)
        .map(|(_, called)| *called)
        .unwrap_or_else(|| panic!("CALLS does not list {name}"))
}

/// Whether `name` owns a database, per [`DATABASE_LESS`].
fn has_database(name: &str) -> bool {
    !DATABASE_LESS.contains(&name)
}

/// The value of `--flag value` or `--flag=value` in `words`.
fn flag_value(words: &[String], flag: &str) -> Option<String> {
    words
        .iter()
        .position(|word| word == flag)
        .and_then(|index| words.get(index + 1).cloned())
        .or_else(|| {
            words
                .iter()
                .find_map(|word| word.strip_prefix(&format!("{flag}=")).map(str::to_owned))
        })
}

/// What a Duban server in `service` sees: the image's `ENV` overlaid by the compose
/// `environment`, only the `DUBAN*` variables.
fn duban_variables(name: &str, service: &Value) -> BTreeMap<String, String> {
    let dockerfile = dockerfile();
    let mut variables: BTreeMap<String, String> = dockerfile.env(dockerfile.final_stage());
    for (key, value) in environment(service) {
        let value = value.unwrap_or_else(|| panic!("{name}: {key} has no value; give every variable one"));
        variables.insert(key, value);
    }
    variables.retain(|key, _| key.to_ascii_uppercase().starts_with("DUBAN"));
    variables
}

/// The settings a Duban server in `service` loads, as the real `Settings::load` would.
fn settings(name: &str, service: &Value) -> Settings {
    load_settings(name, &duban_variables(name, service))
}

/// The settings a Duban server loads from `variables`, as the real `Settings::load` would.
fn load_settings(name: &str, variables: &BTreeMap<String, String>) -> Settings {
    let variables: HashMap<String, String> = variables.clone().into_iter().collect();
    Settings::load_from(None, config::Environment::with_prefix("DUBAN").source(Some(variables)))
        .unwrap_or_else(|error| panic!("{name}: its DUBAN__ variables are not a valid configuration: {error}"))
}

/// Asserts that every variable in `variables` is a setting, written so that the
/// configuration reads it, and that it loads as written.
fn assert_variables_are_settings(name: &str, label: &str, variables: &BTreeMap<String, String>) {
    for key in variables.keys() {
        assert!(
            key.starts_with("DUBAN__") && *key == key.to_ascii_uppercase(),
            "{name} ({label}): {key} would be ignored; settings are DUBAN__<SECTION>__<KEY> \
             or DUBAN__<KEY>, in capitals (e.g. DUBAN__DATA_DIR)"
        );
    }
    // Unknown keys fail here: every settings struct denies unknown fields.
    let settings = load_settings(name, variables);
    // And each value arrives as written, not reinterpreted.
    for (key, expected) in variables {
        let lower = key["DUBAN__".len()..].to_ascii_lowercase();
        let path: Vec<&str> = lower.split("__").collect();
        let loaded = match setting(&settings, &path) {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        assert_eq!(&loaded, expected, "{name} ({label}): {key} loads as {loaded:?}");
    }
}

/// `settings[section][key]` through the serialised form, so any server's section can
/// be looked up by name.
fn setting(settings: &Settings, path: &[&str]) -> serde_json::Value {
    let mut value = serde_json::to_value(settings).expect("settings serialise");
    for part in path {
        value = value
            .get(part)
            .unwrap_or_else(|| panic!("the configuration has no {}", path.join(".")))
            .clone();
    }
    value
}

fn listen(name: &str, settings: &Settings) -> SocketAddr {
    address(name, "listen", settings)
}

/// Where `name` serves `/metrics` (`<name>.metrics_listen`).
fn metrics_listen(name: &str, settings: &Settings) -> SocketAddr {
    address(name, "metrics_listen", settings)
}

fn address(name: &str, key: &str, settings: &Settings) -> SocketAddr {
    let addr = setting(settings, &[name, key]);
    addr.as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("{name}.{key} is not a socket address: {addr}"))
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

// --- docker-compose.yml -----------------------------------------------------------------

#[test]
fn compose_file_parses_and_its_anchors_resolve() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let root = compose.root.as_mapping().expect("the compose file is a mapping");
        for key in root.keys().filter_map(scalar) {
            assert!(
                key.starts_with("x-") || COMPOSE_TOP_LEVEL.contains(&key.as_str()),
                "docker-compose.yml: unexpected top-level key {key:?} (the obsolete `version` included)"
            );
        }
        let declared_volumes: BTreeSet<String> = root
            .get("volumes")
            .and_then(Value::as_mapping)
            .map(|volumes| volumes.keys().filter_map(scalar).collect())
            .unwrap_or_default();
        let services = compose.services();
        assert!(!services.is_empty(), "docker-compose.yml has no services");
        for (name, service) in services {
            assert!(
                service.get("image").is_some() || service.get("build").is_some(),
                "{name} ({label}): neither image nor build"
            );
            for (source, _) in volumes(service) {
                if !source.starts_with(['.', '/', '~']) {
                    assert!(
                        declared_volumes.contains(&source),
                        "{name}: named volume {source:?} is not declared"
                    );
                } else if source.starts_with("./") {
                    assert!(
                        workspace_root().join(&source).exists(),
                        "{name}: mounts {source}, which does not exist"
                    );
                }
            }
        }
    }
}

#[test]
fn every_duban_variable_is_a_real_setting() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let services = duban_services(&compose);
        assert!(!services.is_empty(), "no compose service is built from the Dockerfile");
        for (name, service) in services {
            let mut variables = duban_variables(&name, service);
            if !is_server(service) {
                variables.retain(|key, _| !CLI_VARIABLES.contains(&key.as_str()));
            }
            assert_variables_are_settings(&name, label, &variables);
        }
    }
}

#[test]
fn duban_services_serve_known_servers_and_report_health() {
    assert!(!SERVICES.is_empty(), "duban_cli::SERVICES is empty");
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        for (name, service) in compose.services() {
            assert!(
                is_duban(service) || INFRASTRUCTURE.contains(&name.as_str()),
                "{name}: neither built from the Dockerfile nor known infrastructure ({INFRASTRUCTURE:?})"
            );
        }
        for (name, service) in duban_services(&compose) {
            assert!(
                service.get("entrypoint").is_none(),
                "{name}: keep the image's ENTRYPOINT (duban) so `command` is its arguments"
            );
        }
        let services = servers(&compose);
        let in_compose: BTreeSet<&str> = services.keys().map(String::as_str).collect();
        let known: BTreeSet<&str> = SERVICES.iter().copied().collect();
        assert_eq!(
            in_compose, known,
            "the compose services running `duban serve` must be exactly the servers it knows"
        );

        for (name, service) in services {
            let restart = service
                .get("restart")
                .and_then(scalar)
                .unwrap_or_else(|| "no".to_owned());
            assert!(
                matches!(restart.as_str(), "unless-stopped" | "always"),
                "{name}: a server must come back after a crash or reboot (restart: unless-stopped), not {restart:?}"
            );
            assert_eq!(
                words(service.get("command")),
                ["serve", name.as_str()],
                "{name}: command must be [\"serve\", \"{name}\"]"
            );

            let settings = settings(&name, service);
            let listen = listen(&name, &settings);
            assert!(
                listen.ip().is_unspecified(),
                "{name}: listens on {listen}; in a container it must bind 0.0.0.0 to be reachable \
                 (set DUBAN__{}__LISTEN)",
                name.to_ascii_uppercase()
            );

            let metrics = metrics_listen(&name, &settings);
            assert!(
                metrics.ip().is_unspecified(),
                "{name}: serves metrics on {metrics}; in a container it must bind 0.0.0.0 to be \
                 scraped (set DUBAN__{}__METRICS_LISTEN)",
                name.to_ascii_uppercase()
            );
            assert_ne!(
                metrics.port(),
                listen.port(),
                "{name}: metrics need a port of their own"
            );

            let ports = ports(service).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(
                ports
                    .iter()
                    .any(|port| port.target == listen.port() && port.published.is_some()),
                "{name} ({label}): its listen port {} is not published; ports: {ports:?}",
                listen.port()
            );
            for port in &ports {
                assert!(
                    port.target == listen.port() || port.target == metrics.port(),
                    "{name}: publishes container port {}, where nothing listens",
                    port.target
                );
                if port.target == metrics.port() {
                    assert_eq!(
                        port.host_ip.as_deref(),
                        Some("127.0.0.1"),
                        "{name}: metrics are published to the host's loopback only, not to the network"
                    );
                }
            }

            let healthcheck = service
                .get("healthcheck")
                .unwrap_or_else(|| panic!("{name}: no healthcheck"));
            assert_ne!(
                healthcheck.get("disable").and_then(Value::as_bool),
                Some(true),
                "{name}: healthcheck disabled"
            );
            let test = words(healthcheck.get("test"));
            assert_eq!(
                test.get(..3),
                Some(&["CMD".to_owned(), "duban".to_owned(), "health".to_owned()][..]),
                "{name}: the healthcheck must be [\"CMD\", \"duban\", \"health\", ...], got {test:?}"
            );
            let addr = flag_value(&test, "--addr")
                .unwrap_or_else(|| panic!("{name}: the healthcheck gives no --addr: {test:?}"));
            assert_eq!(
                addr,
                format!("127.0.0.1:{}", listen.port()),
                "{name}: the healthcheck probes another port than the server listens on"
            );

            let on_postgres = depends_on(service).get(POSTGRES).cloned();
            if has_database(&name) {
                assert_eq!(
                    on_postgres.as_deref(),
                    Some("service_healthy"),
                    "{name}: owns a database, so it must depend on {POSTGRES} with condition service_healthy"
                );
            } else {
                assert_eq!(
                    on_postgres, None,
                    "{name}: has no database (DATABASE_LESS), so it must not depend on {POSTGRES}; \
                     does the shared anchor still add it?"
                );
            }
        }
    }
}

/// The dashboard access a gateway with `settings` serves under `duban serve gateway`.
fn served_dashboard_access(settings: &Settings) -> DashboardAccess {
    settings
        .gateway
        .dashboard_access
        .resolve(settings.gateway.listen, false)
}

#[test]
fn deployed_dashboards_ask_who_you_are() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let servers = servers(&compose);
        let gateway = servers.get("gateway").expect("compose runs the gateway");
        assert_eq!(
            served_dashboard_access(&settings("gateway", gateway)),
            DashboardAccess::SignIn,
            "compose ({label}): the dashboard must need a leadership sign-in"
        );
    }
    for cluster in clusters() {
        let servers = cluster.servers();
        let gateway = servers.get("gateway").expect("the cluster runs the gateway");
        assert_eq!(
            served_dashboard_access(&cluster.settings("gateway", gateway)),
            DashboardAccess::SignIn,
            "{}: the dashboard must need a leadership sign-in",
            cluster.dir
        );
    }
}

#[test]
fn each_service_owns_its_own_database() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let postgres = compose
            .service("postgres")
            .expect("docker-compose.yml has a postgres service");
        let image = postgres.get("image").and_then(scalar).unwrap_or_default();
        assert!(
            image.starts_with("postgres:1"),
            "postgres: pin a PostgreSQL major version, not {image:?}"
        );
        let probe = words(postgres.get("healthcheck").and_then(|check| check.get("test")));
        assert!(
            probe.iter().any(|word| word.contains("pg_isready")),
            "postgres: the healthcheck must run pg_isready, got {probe:?}"
        );

        let init_scripts: Vec<String> = volumes(postgres)
            .into_iter()
            .filter(|(_, target)| target.starts_with("/docker-entrypoint-initdb.d"))
            .map(|(source, _)| source)
            .collect();
        assert_eq!(
            init_scripts,
            ["./deploy/postgres/init.sql"],
            "postgres: mount deploy/postgres/init.sql into /docker-entrypoint-initdb.d"
        );
        let created = created_databases(&read_file("deploy/postgres/init.sql"));
        let unique: BTreeSet<&String> = created.iter().collect();
        assert_eq!(
            unique.len(),
            created.len(),
            "init.sql creates a database twice: {created:?}"
        );

        let postgres_env = environment(postgres);
        let user = postgres_env
            .get("POSTGRES_USER")
            .cloned()
            .flatten()
            .unwrap_or_else(|| "postgres".to_owned());
        let password = postgres_env.get("POSTGRES_PASSWORD").cloned().flatten();

        for name in DATABASE_LESS {
            assert!(
                SERVICES.contains(name),
                "DATABASE_LESS names {name}, which duban_cli::SERVICES does not know"
            );
        }

        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        for (name, service) in servers(&compose) {
            let settings = settings(&name, service);
            let section = setting(&settings, &[&name]);
            let has_url_setting = section.get("database_url").is_some();
            if !has_database(&name) {
                assert!(
                    !has_url_setting,
                    "{name}: declared database-less (DATABASE_LESS), but its settings have a database_url"
                );
                let urls: Vec<String> = duban_variables(&name, service)
                    .into_keys()
                    .filter(|key| key.ends_with("__DATABASE_URL"))
                    .collect();
                assert!(urls.is_empty(), "{name}: has no database, but sets {urls:?}");
                let database = format!("duban_{name}");
                assert!(
                    !created.contains(&database),
                    "{name}: has no database, but deploy/postgres/init.sql creates {database}"
                );
                continue;
            }
            assert!(
                has_url_setting,
                "{name}: its settings have no database_url; if it stores nothing, list it in DATABASE_LESS"
            );
            let url = setting(&settings, &[&name, "database_url"]);
            let url = url.as_str().unwrap_or_default();
            assert!(
                !url.is_empty(),
                "{name}: no DUBAN__{}__DATABASE_URL, so it would keep SQLite inside the container",
                name.to_ascii_uppercase()
            );
            let url = PostgresUrl::parse(url).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(
                url.host, "postgres",
                "{name}: the database host must be the postgres service"
            );
            assert_eq!(url.port, 5432, "{name}: postgres listens on 5432 inside the network");
            assert_eq!(url.user, user, "{name} ({label}): the URL's user is not POSTGRES_USER");
            assert_eq!(
                url.password, password,
                "{name} ({label}): the URL's password is not POSTGRES_PASSWORD"
            );
            assert_eq!(
                url.database,
                format!("duban_{name}"),
                "{name}: its database is duban_{name}"
            );
            assert!(
                created.contains(&url.database),
                "{name}: database {} is not created by deploy/postgres/init.sql ({created:?})",
                url.database
            );
            if let Some(other) = owners.insert(url.database.clone(), name.clone()) {
                panic!("{name} and {other} share database {}", url.database);
            }
        }
        for database in &created {
            assert!(
                owners.contains_key(database),
                "deploy/postgres/init.sql creates {database}, which no server uses ({owners:?})"
            );
        }
    }
}

#[test]
fn service_endpoints_point_at_the_compose_services() {
    for (_, host_env) in host_environments() {
        let compose = compose(&host_env);
        let ports: BTreeMap<String, u16> = servers(&compose)
            .iter()
            .map(|(name, service)| (name.clone(), listen(name, &settings(name, service)).port()))
            .collect();
        for (name, service) in &duban_services(&compose) {
            let settings = settings(name, service);
            for key in duban_variables(name, service).keys() {
                let Some(target) = key
                    .strip_prefix("DUBAN__")
                    .and_then(|rest| rest.strip_suffix("__ENDPOINT"))
                else {
                    continue;
                };
                let target = target.to_ascii_lowercase();
                let endpoint = setting(&settings, &[&target, "endpoint"]);
                let endpoint = endpoint.as_str().unwrap_or_default();
                if endpoint.is_empty() {
                    continue;
                }
                let port = ports
                    .get(&target)
                    .unwrap_or_else(|| panic!("{name}: {key} names {target}, which is not a compose service"));
                assert_eq!(
                    endpoint,
                    format!("http://{target}:{port}"),
                    "{name}: {key} must reach the {target} service on the port it listens on"
                );
            }
        }
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files
}

/// The source directory of the server called `name`: that of the workspace member whose
/// package is `duban-<name>` (services/<name>/src for the four services, gateway/src
/// for the gateway).
fn server_sources(name: &str) -> PathBuf {
    let root: toml::Table = read_file("Cargo.toml").parse().expect("Cargo.toml parses");
    let package = format!("duban-{name}");
    let members: Vec<&str> = root["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    let member = members
        .iter()
        .find(|member| {
            let manifest: toml::Table = read_file(&format!("{member}/Cargo.toml"))
                .parse()
                .unwrap_or_else(|error| panic!("{member}/Cargo.toml: {error}"));
            manifest
                .get("package")
                .and_then(|package| package.get("name"))
                .and_then(toml::Value::as_str)
                == Some(package.as_str())
        })
        .unwrap_or_else(|| panic!("no workspace member is the {package} package, the {name} server ({members:?})"));
    workspace_root().join(member).join("src")
}

#[test]
fn server_calls_match_the_sources() {
    let listed: BTreeSet<&str> = CALLS.iter().map(|(server, _)| *server).collect();
    let known: BTreeSet<&str> = SERVICES.iter().copied().collect();
    assert_eq!(
        listed, known,
        "CALLS must list exactly the servers in duban_cli::SERVICES"
    );
    for (position, server) in SERVICES.iter().enumerate() {
        for called in calls(server) {
            assert!(
                SERVICES[..position].contains(called),
                "duban_cli::SERVICES starts {server} before {called}, which it calls: {SERVICES:?}"
            );
        }
        let dir = server_sources(server);
        let sources: String = rust_files(&dir)
            .iter()
            .map(|file| std::fs::read_to_string(file).expect("source file reads"))
            .collect::<String>()
            .split_whitespace()
            .collect();
        let in_sources: BTreeSet<&str> = SERVICES
            .iter()
            .copied()
            .filter(|other| other != server && sources.contains(&format!(".{other}.endpoint_url()")))
            .collect();
        let listed: BTreeSet<&str> = calls(server).iter().copied().collect();
        assert_eq!(
            in_sources,
            listed,
            "{} calls the endpoint_url() of {in_sources:?}, but CALLS says {listed:?}",
            dir.strip_prefix(workspace_root()).unwrap_or(&dir).display()
        );
    }
}

#[test]
fn servers_wait_for_the_servers_they_call_and_know_where_they_are() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let services = compose.services();
        let job_names: BTreeSet<String> = jobs(&compose).into_keys().collect();
        for (name, service) in duban_services(&compose) {
            for (dependency, condition) in depends_on(service) {
                assert!(
                    services.contains_key(&dependency),
                    "{name}: depends on {dependency}, which is no compose service"
                );
                let expected = if job_names.contains(&dependency) {
                    "service_completed_successfully"
                } else {
                    "service_healthy"
                };
                assert_eq!(
                    condition, expected,
                    "{name}: depends on {dependency} with condition {condition}; use {expected}"
                );
            }
        }
        for (name, service) in servers(&compose) {
            let dependencies = depends_on(service);
            let settings = settings(&name, service);
            let variables = duban_variables(&name, service);
            for called in calls(&name) {
                assert_eq!(
                    dependencies.get(*called).map(String::as_str),
                    Some("service_healthy"),
                    "{name}: calls {called}, so it must depend on {called} with condition service_healthy"
                );
                let key = format!("DUBAN__{}__ENDPOINT", called.to_ascii_uppercase());
                assert!(
                    variables.contains_key(&key),
                    "{name} ({label}): calls {called} but has no {key}; without it it dials its own loopback"
                );
                let endpoint = setting(&settings, &[called, "endpoint"]);
                assert!(
                    endpoint.as_str().is_some_and(|endpoint| !endpoint.is_empty()),
                    "{name} ({label}): {key} is empty"
                );
            }
        }
    }
}

#[test]
fn one_shot_jobs_run_real_commands_against_healthy_servers() {
    for (label, host_env) in host_environments() {
        let compose = compose(&host_env);
        let servers = servers(&compose);
        let jobs = jobs(&compose);
        assert!(
            jobs.values()
                .any(|job| words(job.get("command")).starts_with(&["plan".to_owned(), "import".to_owned()])),
            "no compose job runs `duban plan import`, so nothing loads the plan under compose"
        );
        let admin_token = servers
            .get("departments")
            .map(|departments| {
                setting(
                    &settings("departments", departments),
                    &["auth", "bootstrap_admin_token"],
                )
            })
            .and_then(|token| token.as_str().map(str::to_owned))
            .unwrap_or_default();

        for (name, job) in jobs {
            assert_eq!(
                job.get("restart").and_then(scalar).as_deref(),
                Some("no"),
                "{name}: a one-shot job needs restart: \"no\" (quoted), or it runs again and again"
            );
            let published = ports(job).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(
                published.is_empty(),
                "{name}: a job serves nothing; publish no ports: {published:?}"
            );

            let command = words(job.get("command"));
            let (subcommand, server) = JOB_COMMANDS
                .iter()
                .find(|(subcommand, _)| {
                    command
                        .iter()
                        .map(String::as_str)
                        .take(subcommand.len())
                        .eq(subcommand.iter().copied())
                })
                .unwrap_or_else(|| {
                    panic!("{name}: {command:?} is not a known `duban` client command ({JOB_COMMANDS:?})")
                });

            let addr = flag_value(&command, "--addr").unwrap_or_else(|| {
                panic!("{name}: give --addr {server}:<port>; the default is the container's loopback")
            });
            let (host, port) = addr
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{name}: --addr {addr} is not host:port"));
            assert_eq!(
                host,
                *server,
                "{name}: `{}` talks to the {server} server, not {host}",
                subcommand.join(" ")
            );
            let target = servers
                .get(*server)
                .unwrap_or_else(|| panic!("{name}: calls {server}, which is no compose server"));
            let listen_port = listen(server, &settings(server, target)).port();
            assert_eq!(
                port.parse::<u16>().ok(),
                Some(listen_port),
                "{name}: --addr {addr}, but {server} listens on {listen_port}"
            );
            let target_ports = ports(target).unwrap_or_else(|error| panic!("{server}: {error}"));
            assert!(
                target_ports
                    .iter()
                    .any(|port| port.target == listen_port && port.published.is_some()),
                "{name}: {server}'s port {listen_port} is not published, so the same command cannot be run from the host"
            );
            assert_eq!(
                depends_on(job).get(*server).map(String::as_str),
                Some("service_healthy"),
                "{name}: must wait for {server} with condition service_healthy"
            );

            let variables = duban_variables(&name, job);
            let token = variables.get("DUBAN_TOKEN").cloned().unwrap_or_default();
            assert!(
                !admin_token.is_empty() && token == admin_token,
                "{name} ({label}): DUBAN_TOKEN must be the ADMIN token departments registers \
                 (DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN = {admin_token:?}), got {token:?}"
            );
        }
    }
}

/// A `duban` binary built for this profile beside this test, if it is newer than every
/// source of the command line (a stale one would check an old `Cli`).
fn fresh_duban_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe
        .parent()?
        .parent()?
        .join(format!("duban{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&binary).ok()?.modified().ok()?;
    let newest_source = rust_files(&workspace_root().join("services/cli/src"))
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok()?.modified().ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    (built >= newest_source).then_some(binary)
}

#[test]
fn job_commands_parse_with_the_built_binary() {
    let Some(binary) = fresh_duban_binary() else {
        eprintln!("no fresh `duban` binary beside the tests (cargo build --bin duban); checked JOB_COMMANDS only");
        return;
    };
    let compose = compose(&secrets_env());
    let mut commands: Vec<Vec<String>> = JOB_COMMANDS
        .iter()
        .map(|(subcommand, _)| subcommand.iter().map(|word| (*word).to_owned()).collect())
        .collect();
    commands.extend(jobs(&compose).values().map(|job| words(job.get("command"))));
    for cluster in clusters() {
        commands.extend(cluster.jobs().values().map(|job| words_at(the_container(job), "args")));
    }
    for command in commands {
        // clap reads the arguments in order and stops at --help, so every argument
        // before it must be known.
        let output = Command::new(&binary)
            .args(&command)
            .arg("--help")
            .env_remove("DUBAN_TOKEN")
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
        assert!(
            output.status.success(),
            "`duban {}` does not parse: {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn tracing_collector_is_optional_and_matches_its_config() {
    let compose = compose(&secrets_env());
    // By default no export is configured, or it goes to a service that always runs.
    for (name, service) in servers(&compose) {
        let endpoint = setting(&settings(&name, service), &["telemetry", "otlp_endpoint"]);
        let endpoint = endpoint.as_str().unwrap_or_default();
        if let Some(host) = endpoint
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split([':', '/']).next())
        {
            let target = compose
                .service(host)
                .unwrap_or_else(|| panic!("{name}: OTLP endpoint {endpoint} is no compose service"));
            assert!(
                target.get("profiles").is_none(),
                "{name}: by default it exports to {host}, which only runs under a profile; \
                 leave the endpoint empty unless the profile is on"
            );
        }
    }

    let Some((collector_name, collector)) = compose.services().into_iter().find(|(_, service)| {
        service
            .get("image")
            .and_then(scalar)
            .is_some_and(|image| image.starts_with("otel/opentelemetry-collector"))
    }) else {
        return;
    };
    let profiles = words(collector.get("profiles"));
    assert!(
        profiles.iter().any(|profile| profile == "tracing"),
        "{collector_name}: put it behind the `tracing` profile"
    );
    for (name, service) in duban_services(&compose) {
        assert!(
            !depends_on(service).contains_key(&collector_name),
            "{name} depends on {collector_name}, which does not run by default"
        );
    }

    let (source, target) = volumes(collector)
        .into_iter()
        .find(|(source, _)| source.starts_with("./deploy/"))
        .unwrap_or_else(|| panic!("{collector_name}: mount its config from deploy/"));
    let command = words(collector.get("command"));
    if !command.is_empty() {
        assert!(
            command.contains(&format!("--config={target}"))
                || command
                    .windows(2)
                    .any(|pair| pair[0] == "--config" && pair[1] == target),
            "{collector_name}: --config does not name the mounted {target}: {command:?}"
        );
    }
    let config: Value = serde_yaml::from_str(&read_file(source.trim_start_matches("./")))
        .unwrap_or_else(|error| panic!("{source}: {error}"));
    let grpc = config
        .get("receivers")
        .and_then(|receivers| receivers.get("otlp"))
        .and_then(|otlp| otlp.get("protocols"))
        .and_then(|protocols| protocols.get("grpc"))
        .and_then(|grpc| grpc.get("endpoint"))
        .and_then(scalar)
        .unwrap_or_else(|| panic!("{source}: receivers.otlp.protocols.grpc.endpoint must be set"));
    assert!(
        grpc.starts_with("0.0.0.0:"),
        "{source}: the OTLP receiver must listen on 0.0.0.0, not {grpc}"
    );
    let grpc_port = port_of(&grpc).unwrap_or_else(|| panic!("{source}: no port in {grpc}"));
    let traces = config
        .get("service")
        .and_then(|service| service.get("pipelines"))
        .and_then(|pipelines| pipelines.get("traces"))
        .unwrap_or_else(|| panic!("{source}: no traces pipeline"));
    assert!(
        words(traces.get("receivers")).contains(&"otlp".to_owned()),
        "{source}: the traces pipeline must receive otlp"
    );
    for section in ["receivers", "processors", "exporters"] {
        for component in words(traces.get(section)) {
            assert!(
                config
                    .get(section)
                    .and_then(|defined| defined.get(&component))
                    .is_some(),
                "{source}: the traces pipeline uses {section}.{component}, which is not defined"
            );
        }
    }

    let documented = documented_otlp_endpoint()
        .unwrap_or_else(|| panic!("docker-compose.yml: document `{OTLP_HOST_VARIABLE}=http://{collector_name}:...`"));
    assert_eq!(
        documented,
        format!("http://{collector_name}:{grpc_port}"),
        "docker-compose.yml documents another collector endpoint than {source} listens on"
    );
    let mut tracing_env = secrets_env();
    tracing_env.insert(OTLP_HOST_VARIABLE.to_owned(), documented.clone());
    let compose = self::compose(&tracing_env);
    for (name, service) in servers(&compose) {
        let endpoint = setting(&settings(&name, service), &["telemetry", "otlp_endpoint"]);
        assert_eq!(
            endpoint.as_str(),
            Some(documented.as_str()),
            "{name}: with {OTLP_HOST_VARIABLE} set, it must export there"
        );
    }
}

#[test]
fn tracing_profile_passes_the_traces_on_to_a_trace_ui() {
    let compose = compose(&secrets_env());
    let Some((collector_name, collector)) = compose.services().into_iter().find(|(_, service)| {
        service
            .get("image")
            .and_then(scalar)
            .is_some_and(|image| image.starts_with("otel/opentelemetry-collector"))
    }) else {
        panic!("docker-compose.yml: no OpenTelemetry collector behind the `tracing` profile");
    };
    let (source, _) = volumes(collector)
        .into_iter()
        .find(|(source, _)| source.starts_with("./deploy/"))
        .unwrap_or_else(|| panic!("{collector_name}: mount its config from deploy/"));
    let config: Value = serde_yaml::from_str(&read_file(source.trim_start_matches("./")))
        .unwrap_or_else(|error| panic!("{source}: {error}"));
    let exporters = words(
        config
            .get("service")
            .and_then(|service| service.get("pipelines"))
            .and_then(|pipelines| pipelines.get("traces"))
            .and_then(|traces| traces.get("exporters")),
    );

    // Every exporter that sends somewhere sends to a service of the same profile, which
    // the collector waits for, in plain text (nothing inside the network speaks TLS).
    let mut uis = Vec::new();
    for exporter in &exporters {
        let defined = config
            .get("exporters")
            .and_then(|defined| defined.get(exporter.as_str()))
            .unwrap_or_else(|| panic!("{source}: exporters.{exporter} is not defined"));
        let Some(endpoint) = defined.get("endpoint").and_then(scalar) else {
            continue;
        };
        let address = endpoint.split("://").last().unwrap_or_default();
        let (host, port) = address
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{source}: exporters.{exporter}.endpoint {endpoint} names no port"));
        let port: u16 = port
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("{source}: exporters.{exporter}.endpoint {endpoint}: bad port"));
        let target = compose
            .service(host)
            .unwrap_or_else(|| panic!("{source}: exporters.{exporter} sends to {host}, which is no compose service"));
        assert!(
            words(target.get("profiles")).contains(&"tracing".to_owned()),
            "{host}: {collector_name} sends to it, so it belongs behind the `tracing` profile too"
        );
        assert!(
            depends_on(collector).contains_key(host),
            "{collector_name}: depend on {host}, which it sends its traces to"
        );
        assert!(
            is_true(defined, &["tls", "insecure"]) || endpoint.starts_with("http://"),
            "{source}: exporters.{exporter}: {host} speaks no TLS; set tls.insecure: true"
        );
        let image = target.get("image").and_then(scalar).unwrap_or_default();
        if image.contains("jaegertracing/") {
            assert_eq!(
                port, JAEGER_OTLP_GRPC,
                "{source}: Jaeger receives OTLP/gRPC on {JAEGER_OTLP_GRPC}, not {port}"
            );
            uis.push((host.to_owned(), target));
        }
    }

    // A trace UI is reached, published where the README and the compose file send people.
    let [(ui_name, ui)] = uis.as_slice() else {
        panic!(
            "{source}: the traces pipeline must send to one Jaeger service, not {:?}",
            uis.len()
        );
    };
    let published = ports(ui)
        .unwrap_or_else(|error| panic!("{ui_name}: {error}"))
        .into_iter()
        .find(|port| port.target == JAEGER_UI)
        .and_then(|port| port.published)
        .unwrap_or_else(|| panic!("{ui_name}: publish the UI's port {JAEGER_UI}"));
    let url = format!("http://localhost:{published}");
    for file in ["README.md", "docker-compose.yml"] {
        assert!(
            read_file(file).contains(&url),
            "{file}: say where the trace UI is ({url})"
        );
    }
}

// --- Dockerfile ----------------------------------------------------------------------------

/// The `COPY --from=<stage> <source> <destination>` that puts the binary into the image:
/// (stage index, source).
fn binary_copy(dockerfile: &Dockerfile) -> (usize, String) {
    let final_stage = dockerfile.final_stage();
    dockerfile
        .in_stage(final_stage, "COPY")
        .find_map(|copy| {
            let words = copy.words();
            let from = words.iter().find_map(|word| word.strip_prefix("--from="))?;
            let paths: Vec<&&str> = words.iter().filter(|word| !word.starts_with("--")).collect();
            let (destination, sources) = paths.split_last()?;
            let to_binary = **destination == "/usr/local/bin/duban"
                || (destination.ends_with('/') && sources.iter().any(|source| source.ends_with("/duban")));
            if !to_binary {
                return None;
            }
            let stage = dockerfile
                .stage_index(from)
                .unwrap_or_else(|| panic!("Dockerfile: COPY --from={from} names no stage"));
            Some((stage, sources.first()?.to_string()))
        })
        .expect("Dockerfile: the final stage must COPY --from=<build stage> the binary to /usr/local/bin/duban")
}

/// The names of the `[[bin]]` targets (or main.rs packages) of every workspace member.
fn workspace_binaries() -> BTreeSet<String> {
    let root: toml::Table = read_file("Cargo.toml").parse().expect("Cargo.toml parses");
    let members = root["workspace"]["members"].as_array().expect("workspace.members");
    let mut binaries = BTreeSet::new();
    for member in members.iter().filter_map(toml::Value::as_str) {
        let manifest: toml::Table = read_file(&format!("{member}/Cargo.toml"))
            .parse()
            .unwrap_or_else(|error| panic!("{member}/Cargo.toml: {error}"));
        if let Some(bins) = manifest.get("bin").and_then(toml::Value::as_array) {
            binaries.extend(
                bins.iter()
                    .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str).map(str::to_owned)),
            );
        } else if workspace_root().join(member).join("src/main.rs").exists() {
            let name = manifest["package"]["name"].as_str().expect("package.name");
            binaries.insert(name.to_owned());
        }
    }
    binaries
}

#[test]
fn dockerfile_builds_the_duban_binary_and_runs_it() {
    let dockerfile = dockerfile();
    assert!(
        dockerfile.stages.len() >= 2,
        "Dockerfile: build in one stage, run in a slim one"
    );
    let (build_stage, source) = binary_copy(&dockerfile);
    let final_stage = dockerfile.final_stage();
    assert_ne!(
        build_stage, final_stage,
        "Dockerfile: the binary comes from the build stage"
    );

    assert!(
        workspace_binaries().contains("duban"),
        "no workspace member has a `duban` binary, which the Dockerfile builds"
    );
    let build_run = dockerfile
        .in_stage(build_stage, "RUN")
        .find(|run| run.arguments.contains("cargo build"))
        .expect("Dockerfile: the build stage must RUN cargo build");
    let after_build = build_run.arguments.split("cargo build").nth(1).unwrap_or_default();
    let flags: Vec<&str> = after_build
        .split(['&', ';', '|'])
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for flag in ["--release", "--locked"] {
        assert!(
            flags.contains(&flag),
            "Dockerfile: cargo build without {flag}: {flags:?}"
        );
    }
    assert!(
        flags.windows(2).any(|pair| pair == ["--bin", "duban"]) || flags.contains(&"--bin=duban"),
        "Dockerfile: cargo build must name --bin duban: {flags:?}"
    );
    assert!(
        source.ends_with("target/release/duban")
            || build_run.arguments.contains(&format!("target/release/duban {source}")),
        "Dockerfile: the runtime stage copies {source}, which is not the release binary cargo built"
    );

    let runtime = &dockerfile.stages[final_stage];
    assert!(
        runtime.image.starts_with("debian:") && runtime.image.ends_with("-slim"),
        "Dockerfile: run on debian:<release>-slim, not {}",
        runtime.image
    );
    assert!(
        dockerfile
            .in_stage(final_stage, "RUN")
            .any(|run| run.arguments.contains("ca-certificates")),
        "Dockerfile: the runtime stage must install ca-certificates"
    );
    let entrypoint = dockerfile
        .in_stage(final_stage, "ENTRYPOINT")
        .last()
        .and_then(|entrypoint| entrypoint.exec_form())
        .expect("Dockerfile: an exec-form ENTRYPOINT");
    assert!(
        entrypoint == ["duban"] || entrypoint == ["/usr/local/bin/duban"],
        "Dockerfile: ENTRYPOINT must be [\"duban\"], got {entrypoint:?}"
    );
    let user = dockerfile
        .in_stage(final_stage, "USER")
        .last()
        .map(|user| user.arguments.clone())
        .expect("Dockerfile: the runtime stage must switch to a non-root USER");
    let user_name = user.split(':').next().unwrap_or_default();
    assert!(
        !matches!(user_name, "root" | "0" | ""),
        "Dockerfile: runs as {user}; use a non-root user"
    );
    let workdir = dockerfile
        .in_stage(final_stage, "WORKDIR")
        .last()
        .map(|w| w.arguments.clone());
    assert_eq!(
        workdir.as_deref(),
        Some("/var/lib/duban"),
        "Dockerfile: WORKDIR /var/lib/duban"
    );
}

#[test]
fn dockerfile_uses_no_port_compose_does_not_publish() {
    let compose = compose(&secrets_env());
    let published: BTreeSet<u16> = duban_services(&compose)
        .values()
        .flat_map(|service| ports(service).expect("ports parse"))
        .filter(|port| port.published.is_some())
        .map(|port| port.target)
        .collect();
    let dockerfile = dockerfile();
    let final_stage = dockerfile.final_stage();

    let mut used = BTreeMap::new();
    for expose in dockerfile.in_stage(final_stage, "EXPOSE") {
        for port in expose.words() {
            let number = port.split('/').next().unwrap_or_default();
            used.insert(
                number.parse::<u16>().unwrap_or_else(|_| panic!("EXPOSE {port}")),
                format!("EXPOSE {port}"),
            );
        }
    }
    for (key, value) in dockerfile.env(final_stage) {
        if key.ends_with("__LISTEN") {
            used.insert(
                port_of(&value).unwrap_or_else(|| panic!("ENV {key}={value}")),
                format!("ENV {key}"),
            );
        }
    }
    for healthcheck in dockerfile.in_stage(final_stage, "HEALTHCHECK") {
        let words = healthcheck.words();
        if let Some(addr) = words.windows(2).find(|pair| pair[0] == "--addr").map(|pair| pair[1]) {
            let addr = addr.trim_matches(['"', ',', '[', ']']);
            used.insert(
                port_of(addr).unwrap_or_else(|| panic!("HEALTHCHECK --addr {addr}")),
                "HEALTHCHECK".into(),
            );
        }
    }
    assert!(
        !used.is_empty(),
        "Dockerfile: EXPOSE the server ports compose publishes"
    );
    for (port, instruction) in used {
        assert!(
            published.contains(&port),
            "Dockerfile: {instruction} uses port {port}, which no compose service publishes ({published:?})"
        );
    }
}

#[test]
fn dockerfile_rust_image_is_recent_enough_and_matches_the_runtime() {
    let root: toml::Table = read_file("Cargo.toml").parse().expect("Cargo.toml parses");
    let rust_version = root["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("workspace.package.rust-version");
    let minimum = version_parts(rust_version).expect("rust-version is numeric");

    let dockerfile = dockerfile();
    let (build_stage, _) = binary_copy(&dockerfile);
    let image = &dockerfile.stages[build_stage].image;
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("Dockerfile: build on the official rust image, not {image}"));
    let (version, variant) = tag.split_once('-').unwrap_or((tag, ""));
    let version = version_parts(version).unwrap_or_else(|| panic!("Dockerfile: pin a Rust version, not rust:{tag}"));
    assert!(
        tag_satisfies(&version, &minimum),
        "Dockerfile: {image} is older than the workspace rust-version {rust_version}"
    );

    let runtime = &dockerfile.stages[dockerfile.final_stage()].image;
    let codename = runtime
        .strip_prefix("debian:")
        .and_then(|tag| tag.split('-').next())
        .unwrap_or_default();
    assert!(
        !codename.is_empty() && variant.split('-').any(|part| part == codename),
        "Dockerfile: build on the runtime's Debian release ({runtime}), not {image}, so glibc matches"
    );
}

#[test]
fn dockerignore_keeps_the_context_small_but_complete() {
    let patterns: Vec<String> = read_file(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .map(|line| {
            line.trim_start_matches('/')
                .trim_start_matches("**/")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    for excluded in ["target", ".git"] {
        assert!(
            patterns.iter().any(|pattern| pattern == excluded),
            ".dockerignore: exclude {excluded}"
        );
    }

    let root: toml::Table = read_file("Cargo.toml").parse().expect("Cargo.toml parses");
    let mut needed: Vec<String> = root["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .filter_map(|member| member.as_str().map(str::to_owned))
        .collect();
    // plans/ is compiled into the catalog crate with include_str!.
    needed.extend(["Cargo.toml", "Cargo.lock", "plans"].map(str::to_owned));
    for path in needed {
        for pattern in &patterns {
            let hides = pattern == "*" || path == *pattern || path.starts_with(&format!("{pattern}/"));
            assert!(!hides, ".dockerignore: {pattern:?} hides {path}, which the build needs");
        }
    }
}

// --- Kubernetes (deploy/kubernetes) ---------------------------------------------------------

/// The kustomizations a cluster is given: the base, and the production overlay on it.
const KUBERNETES_BUILDS: &[&str] = &["deploy/kubernetes/base", PRODUCTION_OVERLAY];

/// The production overlay: every server runs at least two pods there, and the image is
/// the release of this workspace's version.
const PRODUCTION_OVERLAY: &str = "deploy/kubernetes/overlays/production";

/// The oldest Kubernetes the manifests are written for (native gRPC probes are GA from
/// 1.27), as the README states it. The schema validator checks against it and against
/// the newest version it ships.
const OLDEST_KUBERNETES: &str = "1.27";

/// The servers a HorizontalPodAutoscaler scales; the others run a fixed number of pods.
const AUTOSCALED: &[&str] = &["gateway", "reporting"];

/// The image the Dockerfile builds, as the manifests name it (without registry or tag).
const IMAGE: &str = "duban";

/// The namespace label that lets a namespace's pods (Prometheus) reach every server's
/// metrics port, and only that port.
const MONITORING_NAMESPACE_LABEL: (&str, &str) = ("duban.org/monitoring", "true");

/// Environment variable names whose values are secrets: set only from a Secret.
const SECRET_NAME_PARTS: &[&str] = &["TOKEN", "PASSWORD", "SECRET", "DATABASE_URL"];

/// One kustomization, built.
struct Cluster {
    /// Where it is built from, relative to the workspace root.
    dir: &'static str,
    /// The objects a cluster would get.
    objects: Vec<Value>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum EnvValue {
    /// Written in the manifests (directly or through a ConfigMap).
    Literal(String),
    /// A key of a Secret the manifests only name.
    Secret { name: String, key: String },
}

fn clusters() -> Vec<Cluster> {
    KUBERNETES_BUILDS
        .iter()
        .map(|dir| Cluster {
            dir,
            objects: duban_tests::kustomize::build(&workspace_root().join(dir))
                .unwrap_or_else(|error| panic!("{dir}: {error}")),
        })
        .collect()
}

/// The value at `path` inside `value`.
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, part| value.get(part))
}

/// The text at `path`, or empty.
fn text_at(value: &Value, path: &[&str]) -> String {
    at(value, path).and_then(scalar).unwrap_or_default()
}

/// The integer at `path`.
fn integer_at(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(Value::as_i64)
}

fn is_true(value: &Value, path: &[&str]) -> bool {
    at(value, path).and_then(Value::as_bool) == Some(true)
}

fn name_of(object: &Value) -> String {
    text_at(object, &["metadata", "name"])
}

/// A mapping of strings (labels, a Service's selector), empty if absent.
fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_mapping)
        .map(|mapping| {
            mapping
                .iter()
                .filter_map(|(key, value)| Some((scalar(key)?, scalar(value)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A label selector's `matchLabels`; `matchExpressions` are not used here.
fn match_labels(selector: &Value, what: &str) -> BTreeMap<String, String> {
    assert!(
        selector.get("matchExpressions").is_none(),
        "{what}: use matchLabels only, so selections can be checked"
    );
    string_map(selector.get("matchLabels"))
}

/// Whether a selector (all of its labels) picks pods carrying `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

fn pod_spec(workload: &Value) -> &Value {
    at(workload, &["spec", "template", "spec"]).unwrap_or_else(|| panic!("{}: no pod template", name_of(workload)))
}

fn pod_labels(workload: &Value) -> BTreeMap<String, String> {
    string_map(at(workload, &["spec", "template", "metadata", "labels"]))
}

/// Every container of a pod template, init containers included.
fn containers(workload: &Value) -> Vec<&Value> {
    let spec = pod_spec(workload);
    ["initContainers", "containers"]
        .iter()
        .filter_map(|field| spec.get(field).and_then(Value::as_sequence))
        .flatten()
        .collect()
}

/// The one container of a Duban pod.
fn the_container(workload: &Value) -> &Value {
    let containers = containers(workload);
    assert_eq!(
        containers.len(),
        1,
        "{}: one container per pod, the duban binary",
        name_of(workload)
    );
    containers[0]
}

/// An image reference as (repository, tag).
fn image_parts(image: &str) -> (String, String) {
    match image.rfind(':') {
        Some(colon) if colon > image.rfind('/').unwrap_or(0) => {
            (image[..colon].to_owned(), image[colon + 1..].to_owned())
        }
        _ => (image.to_owned(), String::new()),
    }
}

/// The number in a `--uid N` of the Dockerfile's final stage: the user the image runs as.
fn image_uid() -> i64 {
    let dockerfile = dockerfile();
    dockerfile
        .in_stage(dockerfile.final_stage(), "RUN")
        .find_map(|run| {
            let words = run.words();
            let position = words.iter().position(|word| *word == "--uid")?;
            words.get(position + 1)?.parse().ok()
        })
        .expect("Dockerfile: the runtime stage creates its user with `useradd --uid N`")
}

/// A resource quantity (`250m`, `2`, `128Mi`, `1Gi`) as a number of base units.
fn quantity(text: &str) -> f64 {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|number| (number, *factor)))
        .unwrap_or((text, 1.0));
    number
        .parse::<f64>()
        .map(|number| number * factor)
        .unwrap_or_else(|_| panic!("{text:?} is not a resource quantity"))
}

/// The `--addr host:port` of a job's arguments, as host and port.
fn addr_of(name: &str, args: &[String]) -> (String, u16) {
    let addr = flag_value(args, "--addr").unwrap_or_else(|| panic!("{name}: give --addr <service>:<port>"));
    let (host, port) = addr
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{name}: --addr {addr} is not host:port"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("{name}: --addr {addr} has no port number"));
    (host.to_owned(), port)
}

/// The servers that call `name`, from [`CALLS`].
fn callers(name: &str) -> BTreeSet<&'static str> {
    CALLS
        .iter()
        .filter(|(_, called)| called.contains(&name))
        .map(|(caller, _)| *caller)
        .collect()
}

fn words_at(value: &Value, field: &str) -> Vec<String> {
    words(value.get(field))
}

impl Cluster {
    fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
        let kind = kind.to_owned();
        self.objects
            .iter()
            .filter(move |object| text_at(object, &["kind"]) == kind)
    }

    fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.of_kind(kind).find(|object| name_of(object) == name)
    }

    /// The Deployments, by name.
    fn deployments(&self) -> BTreeMap<String, &Value> {
        self.of_kind("Deployment")
            .map(|deployment| (name_of(deployment), deployment))
            .collect()
    }

    /// The Deployments that run a server (`serve <name>`), by that server.
    fn servers(&self) -> BTreeMap<String, &Value> {
        let mut servers = BTreeMap::new();
        for (name, deployment) in self.deployments() {
            let args = words_at(the_container(deployment), "args");
            assert_eq!(
                args.first().map(String::as_str),
                Some("serve"),
                "{}: Deployment {name} runs {args:?}; every Deployment runs `serve <server>`",
                self.dir
            );
            let server = args.get(1).cloned().unwrap_or_default();
            assert_eq!(
                server, name,
                "{}: Deployment {name} must be named after the server it runs, {server}",
                self.dir
            );
            servers.insert(server, deployment);
        }
        servers
    }

    /// The Jobs, by name.
    fn jobs(&self) -> BTreeMap<String, &Value> {
        self.of_kind("Job").map(|job| (name_of(job), job)).collect()
    }

    /// Every Deployment and Job, by name.
    fn workloads(&self) -> BTreeMap<String, &Value> {
        let mut workloads = self.deployments();
        for (name, job) in self.jobs() {
            assert!(
                workloads.insert(name.clone(), job).is_none(),
                "{}: a Job and a Deployment are both called {name}",
                self.dir
            );
        }
        workloads
    }

    fn config_map(&self, name: &str) -> BTreeMap<String, String> {
        let config_map = self
            .find("ConfigMap", name)
            .unwrap_or_else(|| panic!("{}: ConfigMap {name} is referenced but not defined", self.dir));
        string_map(config_map.get("data"))
    }

    /// The environment of a workload's container, by where each value comes from.
    fn environment(&self, workload: &Value) -> BTreeMap<String, EnvValue> {
        let owner = name_of(workload);
        let container = the_container(workload);
        let mut variables = BTreeMap::new();
        for source in container
            .get("envFrom")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            assert!(
                source.get("secretRef").is_none(),
                "{}: {owner} takes a whole Secret with envFrom; name each secret variable with secretKeyRef",
                self.dir
            );
            let config_map = text_at(source, &["configMapRef", "name"]);
            for (key, value) in self.config_map(&config_map) {
                variables.insert(key, EnvValue::Literal(value));
            }
        }
        for variable in container.get("env").and_then(Value::as_sequence).into_iter().flatten() {
            let key = text_at(variable, &["name"]);
            let value = if let Some(value) = variable.get("value") {
                EnvValue::Literal(scalar(value).unwrap_or_default())
            } else if let Some(reference) = at(variable, &["valueFrom", "secretKeyRef"]) {
                EnvValue::Secret {
                    name: text_at(reference, &["name"]),
                    key: text_at(reference, &["key"]),
                }
            } else if let Some(reference) = at(variable, &["valueFrom", "configMapKeyRef"]) {
                let map = self.config_map(&text_at(reference, &["name"]));
                let key = text_at(reference, &["key"]);
                EnvValue::Literal(map.get(&key).cloned().unwrap_or_else(|| {
                    panic!(
                        "{}: {owner} reads key {key} of a ConfigMap that has no such key",
                        self.dir
                    )
                }))
            } else {
                panic!(
                    "{}: {owner}: {key} is set neither by a value, a Secret nor a ConfigMap",
                    self.dir
                );
            };
            variables.insert(key, value);
        }
        variables
    }

    /// What the duban process in `workload` sees: the image's `ENV` overlaid by the
    /// manifests, only the `DUBAN*` variables, each Secret's value standing in as
    /// `<from Secret name, key key>` (long enough to pass as a token).
    fn duban_variables(&self, workload: &Value) -> BTreeMap<String, String> {
        let dockerfile = dockerfile();
        let mut variables = dockerfile.env(dockerfile.final_stage());
        for (key, value) in self.environment(workload) {
            let value = match value {
                EnvValue::Literal(value) => value,
                EnvValue::Secret { name, key } => format!("<from Secret {name}, key {key}>"),
            };
            variables.insert(key, value);
        }
        variables.retain(|key, _| key.to_ascii_uppercase().starts_with("DUBAN"));
        variables
    }

    /// The settings the server in `deployment` loads.
    fn settings(&self, name: &str, deployment: &Value) -> Settings {
        load_settings(name, &self.duban_variables(deployment))
    }

    /// The port each server listens on, by server.
    fn listen_ports(&self) -> BTreeMap<String, u16> {
        self.servers()
            .into_iter()
            .map(|(name, deployment)| {
                let port = listen(&name, &self.settings(&name, deployment)).port();
                (name, port)
            })
            .collect()
    }

    /// The port each server serves its metrics on, by server.
    fn metrics_ports(&self) -> BTreeMap<String, u16> {
        self.servers()
            .into_iter()
            .map(|(name, deployment)| {
                let port = metrics_listen(&name, &self.settings(&name, deployment)).port();
                (name, port)
            })
            .collect()
    }

    /// All of it as one YAML stream.
    fn yaml(&self) -> String {
        self.objects
            .iter()
            .map(|object| serde_yaml::to_string(object).expect("objects serialise"))
            .collect::<Vec<_>>()
            .join("---\n")
    }
}

/// The files a kustomization names: its resources that are files, and its patches.
fn kustomization_files(dir: &str) -> BTreeSet<String> {
    let kustomization: Value = serde_yaml::from_str(&read_file(&format!("{dir}/kustomization.yaml")))
        .unwrap_or_else(|error| panic!("{dir}/kustomization.yaml: {error}"));
    let mut files: BTreeSet<String> = words(kustomization.get("resources")).into_iter().collect();
    files.extend(
        kustomization
            .get("patches")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|patch| patch.get("path").and_then(scalar)),
    );
    files
}

/// `object` as YAML with every mapping's keys sorted, as kubectl prints it, so two
/// builds compare (and differ readably) whatever order their files wrote keys in.
fn canonical_yaml(object: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Mapping(mapping) => {
                let mut entries: Vec<(&Value, &Value)> = mapping.iter().collect();
                entries.sort_by_key(|(key, _)| scalar(key).unwrap_or_default());
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.clone(), sorted(value)))
                        .collect(),
                )
            }
            Value::Sequence(items) => Value::Sequence(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_yaml::to_string(&sorted(object)).expect("objects serialise")
}

/// The identity of an object: apiVersion, kind, namespace, name.
fn identity(object: &Value) -> (String, String, String, String) {
    (
        text_at(object, &["apiVersion"]),
        text_at(object, &["kind"]),
        text_at(object, &["metadata", "namespace"]),
        name_of(object),
    )
}

#[test]
fn kubernetes_manifests_build_as_kubectl_kustomize_builds_them() {
    for dir in KUBERNETES_BUILDS {
        let named = kustomization_files(dir);
        for entry in std::fs::read_dir(workspace_root().join(dir)).expect("the kustomization directory lists") {
            let file = entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if file.ends_with(".yaml") && file != "kustomization.yaml" {
                assert!(
                    named.contains(&file),
                    "{dir}/{file} is named neither in resources nor in patches, so kustomize ignores it"
                );
            }
        }
    }

    for cluster in clusters() {
        let mut seen = BTreeSet::new();
        for object in &cluster.objects {
            assert!(
                seen.insert(identity(object)),
                "{}: {:?} is defined twice",
                cluster.dir,
                identity(object)
            );
        }

        let path = workspace_root().join(cluster.dir);
        let output = match Command::new("kubectl").arg("kustomize").arg(&path).output() {
            Ok(output) => output,
            Err(error) => {
                eprintln!(
                    "kubectl cannot be run ({error}): the tests' kustomize subset was not compared with \
                     `kubectl kustomize {}`",
                    cluster.dir
                );
                continue;
            }
        };
        assert!(
            output.status.success(),
            "kubectl kustomize {}: {}",
            cluster.dir,
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs = duban_tests::kustomize::documents(&String::from_utf8_lossy(&output.stdout))
            .unwrap_or_else(|error| panic!("kubectl kustomize {}: {error}", cluster.dir));
        let theirs: BTreeMap<_, _> = theirs.iter().map(|object| (identity(object), object)).collect();
        let ours: BTreeMap<_, _> = cluster
            .objects
            .iter()
            .map(|object| (identity(object), object))
            .collect();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{}: the tests' kustomize and kubectl kustomize build different objects",
            cluster.dir
        );
        for (id, object) in ours {
            assert_eq!(
                canonical_yaml(object),
                canonical_yaml(theirs[&id]),
                "{}: {id:?} is built differently by the tests' kustomize (left) and kubectl kustomize (right)",
                cluster.dir
            );
        }
    }
}

/// Runs kubernetes-validate (strict: unknown fields are errors) over `yaml` for
/// `version` (its own newest when `None`). `None` if it is not installed.
fn kubernetes_validate(yaml: &str, version: Option<&str>) -> Option<(bool, String)> {
    use std::io::Write;

    let mut command = Command::new("python3");
    command.args(["-m", "kubernetes_validate", "--strict"]);
    if let Some(version) = version {
        command.args(["--kubernetes-version", version]);
    }
    let mut child = command
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(yaml.as_bytes())
        .expect("kubernetes-validate reads its input");
    let output = child.wait_with_output().expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if text.contains("No module named kubernetes_validate") {
        return None;
    }
    Some((output.status.success(), text))
}

#[test]
fn kubernetes_manifests_pass_the_schema_validator() {
    let versions = [Some(format!("{OLDEST_KUBERNETES}.0")), None];
    // A field Kubernetes does not know: the validator must refuse it, or it checks nothing.
    let broken =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 1\n  headless: true\n";
    let Some((accepted, _)) = kubernetes_validate(broken, None) else {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot run kubernetes_validate (pip install kubernetes-validate)"
        );
        eprintln!(
            "\n!!! kubernetes-validate is missing (pip install kubernetes-validate): SKIPPING the schema check\n"
        );
        return;
    };
    assert!(!accepted, "kubernetes-validate --strict accepts an unknown field");

    // The built base holds every object of the base's files; the overlay's patches are
    // checked as part of the overlay they make.
    for cluster in clusters() {
        let (label, yaml) = (cluster.dir, cluster.yaml());
        let documents = duban_tests::kustomize::documents(&yaml)
            .unwrap_or_else(|error| panic!("{label}: {error}"))
            .len();
        for version in &versions {
            let (valid, report) =
                kubernetes_validate(&yaml, version.as_deref()).expect("kubernetes-validate ran before");
            let against = version.as_deref().unwrap_or("its newest version");
            assert!(
                valid && !report.contains("WARN") && !report.contains("ERROR"),
                "{label} does not validate against Kubernetes {against}:\n{report}"
            );
            // Each object was checked against a schema, none skipped for want of one.
            assert_eq!(
                report.matches(" passed for resource ").count(),
                documents,
                "{label}: not every object was validated against Kubernetes {against}:\n{report}"
            );
        }
    }
}

#[test]
fn kubernetes_runs_every_server_as_its_configuration_says() {
    for cluster in clusters() {
        let dir = cluster.dir;
        let servers = cluster.servers();
        let in_cluster: BTreeSet<&str> = servers.keys().map(String::as_str).collect();
        let known: BTreeSet<&str> = SERVICES.iter().copied().collect();
        assert_eq!(
            in_cluster, known,
            "{dir}: the Deployments must run exactly the servers `duban serve` knows"
        );
        let ports = cluster.listen_ports();

        for (name, deployment) in &servers {
            let container = the_container(deployment);
            assert!(
                container.get("command").is_none(),
                "{dir}: {name}: keep the image's ENTRYPOINT (duban) so `args` are its arguments"
            );
            let variables = cluster.duban_variables(deployment);
            assert_variables_are_settings(name, dir, &variables);
            let settings = cluster.settings(name, deployment);
            let listen = listen(name, &settings);
            assert!(
                listen.ip().is_unspecified(),
                "{dir}: {name} listens on {listen}; in a pod it must bind 0.0.0.0 to be reachable"
            );

            let container_ports: Vec<(String, i64)> = container
                .get("ports")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .map(|port| {
                    (
                        text_at(port, &["name"]),
                        integer_at(port, &["containerPort"]).unwrap_or(0),
                    )
                })
                .collect();
            let metrics = metrics_listen(name, &settings);
            assert!(
                metrics.ip().is_unspecified(),
                "{dir}: {name} serves metrics on {metrics}; in a pod it must bind 0.0.0.0 to be scraped"
            );
            assert_eq!(
                container_ports,
                [
                    ("grpc".to_owned(), i64::from(listen.port())),
                    ("metrics".to_owned(), i64::from(metrics.port()))
                ],
                "{dir}: {name}: the container must declare the ports it listens on: grpc {} and metrics {}",
                listen.port(),
                metrics.port()
            );
            let annotations = string_map(at(deployment, &["spec", "template", "metadata", "annotations"]));
            for (key, value) in [
                ("prometheus.io/scrape", "true".to_owned()),
                ("prometheus.io/port", metrics.port().to_string()),
                ("prometheus.io/path", "/metrics".to_owned()),
            ] {
                assert_eq!(
                    annotations.get(key),
                    Some(&value),
                    "{dir}: {name}: its pods must tell Prometheus where /metrics is ({key})"
                );
            }

            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                let probe_spec = container
                    .get(probe)
                    .unwrap_or_else(|| panic!("{dir}: {name} has no {probe}"));
                for other in ["exec", "httpGet", "tcpSocket"] {
                    assert!(
                        probe_spec.get(other).is_none(),
                        "{dir}: {name}: the {probe} must be a native gRPC probe, not {other}"
                    );
                }
                assert_eq!(
                    integer_at(probe_spec, &["grpc", "port"]),
                    Some(i64::from(listen.port())),
                    "{dir}: {name}: the {probe} must ask grpc.health.v1 on the port it listens on, {}",
                    listen.port()
                );
                assert_eq!(
                    text_at(probe_spec, &["grpc", "service"]),
                    "",
                    "{dir}: {name}: the {probe} asks about the whole server (service \"\")"
                );
            }

            let grace_seconds = integer_at(pod_spec(deployment), &["terminationGracePeriodSeconds"]).unwrap_or(30);
            assert!(
                u64::try_from(grace_seconds).unwrap_or(0) * 1000 > settings.server.shutdown_grace_ms,
                "{dir}: {name}: terminationGracePeriodSeconds {grace_seconds} does not outlast \
                 server.shutdown_grace_ms {}",
                settings.server.shutdown_grace_ms
            );

            // Reached through a Service named after the server: its DNS name.
            let service = cluster
                .find("Service", name)
                .unwrap_or_else(|| panic!("{dir}: no Service called {name}"));
            let selector = string_map(at(service, &["spec", "selector"]));
            assert!(!selector.is_empty(), "{dir}: Service {name} selects nothing");
            for (other, workload) in cluster.workloads() {
                assert_eq!(
                    selects(&selector, &pod_labels(workload)),
                    other == *name,
                    "{dir}: Service {name} must select the pods of Deployment {name} and no others (checked {other})"
                );
            }
            let service_ports = at(service, &["spec", "ports"])
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            // Not the metrics port: the gateway's Service is public, and Prometheus scrapes
            // pod by pod anyway.
            assert_eq!(service_ports.len(), 1, "{dir}: Service {name} has one port, the API's");
            let service_port = &service_ports[0];
            assert_eq!(
                integer_at(service_port, &["port"]),
                Some(i64::from(listen.port())),
                "{dir}: Service {name} must offer the port {name} listens on"
            );
            let target = match service_port.get("targetPort") {
                None => i64::from(listen.port()),
                Some(Value::Number(number)) => number.as_i64().unwrap_or(0),
                Some(named) => {
                    let named = scalar(named).unwrap_or_default();
                    container_ports
                        .iter()
                        .find(|(port_name, _)| *port_name == named)
                        .map(|(_, port)| *port)
                        .unwrap_or_else(|| {
                            panic!("{dir}: Service {name} targets port {named}, which {name} does not name")
                        })
                }
            };
            assert_eq!(
                target,
                i64::from(listen.port()),
                "{dir}: Service {name} targets another port"
            );

            // Servers that others call are balanced over by those callers: headless.
            let headless = text_at(service, &["spec", "clusterIP"]) == "None";
            if callers(name).is_empty() {
                assert!(
                    !headless,
                    "{dir}: {name} is called from outside the cluster, which cannot resolve pod addresses: \
                     give its Service a cluster IP"
                );
            } else {
                assert!(
                    headless,
                    "{dir}: {name} is called by {:?}, which balance over its pods: make Service {name} headless \
                     (clusterIP: None)",
                    callers(name)
                );
            }

            for called in calls(name) {
                let endpoint = setting(&settings, &[called, "endpoint"]);
                assert_eq!(
                    endpoint.as_str().unwrap_or_default(),
                    format!("http://{called}:{}", ports[*called]),
                    "{dir}: {name} must reach {called} at its Service's name and the port {called} listens on \
                     (DUBAN__{}__ENDPOINT)",
                    called.to_ascii_uppercase()
                );
            }
        }
    }
}

/// The `kubectl create secret generic` commands in the README's Kubernetes section:
/// (namespace, secret, key) to the literal value given.
fn readme_secrets() -> BTreeMap<(String, String, String), String> {
    let readme = read_file("README.md");
    let section = readme
        .split("\n## Run on Kubernetes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a \"Run on Kubernetes\" section");
    let joined = section.replace("\\\n", " ");
    let mut secrets = BTreeMap::new();
    for line in joined.lines().filter(|line| line.contains("create secret generic")) {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let namespace = flag_value(&words, "-n")
            .or_else(|| flag_value(&words, "--namespace"))
            .unwrap_or_else(|| panic!("README: `{line}` names no namespace (-n)"));
        let secret = words
            .iter()
            .position(|word| word == "generic")
            .and_then(|position| words.get(position + 1))
            .cloned()
            .unwrap_or_default();
        for word in &words {
            if let Some((key, value)) = word
                .strip_prefix("--from-literal=")
                .and_then(|rest| rest.split_once('='))
            {
                secrets.insert(
                    (namespace.clone(), secret.clone(), key.to_owned()),
                    value.trim_matches(['\'', '"']).to_owned(),
                );
            }
        }
    }
    secrets
}

#[test]
fn kubernetes_secrets_are_referenced_never_contained() {
    let created = created_databases(&read_file("deploy/postgres/init.sql"));
    let documented = readme_secrets();
    for cluster in clusters() {
        let dir = cluster.dir;
        assert_eq!(
            cluster.of_kind("Secret").count(),
            0,
            "{dir}: the manifests must not contain a Secret"
        );
        let is_secret_name = |key: &str| {
            SECRET_NAME_PARTS
                .iter()
                .any(|part| key.to_ascii_uppercase().contains(part))
        };
        for config_map in cluster.of_kind("ConfigMap") {
            for (key, value) in string_map(config_map.get("data")) {
                assert!(
                    !is_secret_name(&key),
                    "{dir}: ConfigMap {} holds {key}; secrets belong in a Secret",
                    name_of(config_map)
                );
                assert!(
                    !value.split("://").nth(1).is_some_and(|rest| rest
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .contains('@')),
                    "{dir}: ConfigMap {}: {key} holds credentials in a URL",
                    name_of(config_map)
                );
            }
        }

        let mut referenced = BTreeSet::new();
        for (owner, workload) in cluster.workloads() {
            for (key, value) in cluster.environment(workload) {
                match value {
                    EnvValue::Secret { name, key } => {
                        referenced.insert((name, key));
                    }
                    EnvValue::Literal(_) => assert!(
                        !is_secret_name(&key),
                        "{dir}: {owner} sets {key} in the manifests; take it from a Secret (secretKeyRef)"
                    ),
                }
            }
        }

        let servers = cluster.servers();
        let secret_of =
            |name: &str, key: &str| -> Option<EnvValue> { cluster.environment(servers[name]).get(key).cloned() };
        let mut service_tokens = BTreeSet::new();
        let mut database_urls = BTreeMap::new();
        for name in servers.keys() {
            let token = secret_of(name, "DUBAN__AUTH__SERVICE_TOKEN");
            assert!(
                matches!(token, Some(EnvValue::Secret { .. })),
                "{dir}: {name} needs DUBAN__AUTH__SERVICE_TOKEN from a Secret"
            );
            service_tokens.insert(token);
            let url_key = format!("DUBAN__{}__DATABASE_URL", name.to_ascii_uppercase());
            match (has_database(name), secret_of(name, &url_key)) {
                (true, Some(EnvValue::Secret { name: secret, key })) => {
                    if let Some(other) = database_urls.insert((secret.clone(), key.clone()), name.clone()) {
                        panic!("{dir}: {name} and {other} share the database URL {secret}/{key}");
                    }
                }
                (true, other) => panic!(
                    "{dir}: {name} owns a database: set {url_key} from a Secret (SQLite cannot live on a \
                     read-only filesystem), not {other:?}"
                ),
                (false, None) => {}
                (false, Some(_)) => panic!("{dir}: {name} has no database (DATABASE_LESS), but sets {url_key}"),
            }
        }
        assert_eq!(
            service_tokens.len(),
            1,
            "{dir}: every server must present the same service token: {service_tokens:?}"
        );
        let admin_token = secret_of("departments", "DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN");
        assert!(
            matches!(admin_token, Some(EnvValue::Secret { .. })),
            "{dir}: departments needs DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN from a Secret, or there is no first administrator"
        );
        for (name, job) in cluster.jobs() {
            assert_eq!(
                cluster.environment(job).get("DUBAN_TOKEN"),
                admin_token.as_ref(),
                "{dir}: {name} must run with the ADMIN token departments registers"
            );
        }

        // The README creates exactly the Secrets the manifests reference, in their namespace.
        let namespace = cluster
            .of_kind("Namespace")
            .next()
            .map(name_of)
            .unwrap_or_else(|| panic!("{dir}: no Namespace"));
        for object in &cluster.objects {
            if text_at(object, &["kind"]) != "Namespace" {
                assert_eq!(
                    text_at(object, &["metadata", "namespace"]),
                    namespace,
                    "{dir}: {:?} is not in namespace {namespace}",
                    identity(object)
                );
            }
        }
        let in_readme: BTreeSet<(String, String)> = documented
            .keys()
            .filter(|(secret_namespace, _, _)| *secret_namespace == namespace)
            .map(|(_, secret, key)| (secret.clone(), key.clone()))
            .collect();
        assert_eq!(
            in_readme, referenced,
            "{dir}: the README's `kubectl -n {namespace} create secret generic` commands must create exactly \
             the Secret keys the manifests reference"
        );
        for ((secret, key), server) in database_urls {
            let value = &documented[&(namespace.clone(), secret.clone(), key.clone())];
            let url = PostgresUrl::parse(value).unwrap_or_else(|error| panic!("README: {secret}/{key}: {error}"));
            assert_eq!(
                url.database,
                format!("duban_{server}"),
                "README: {secret}/{key} is {server}'s database URL"
            );
            assert!(
                created.contains(&url.database),
                "README: {secret}/{key} names {}, which deploy/postgres/init.sql does not create",
                url.database
            );
        }
    }
}

#[test]
fn kubernetes_pods_run_locked_down_and_sized() {
    let uid = image_uid();
    let version = {
        let root: toml::Table = read_file("Cargo.toml").parse().expect("Cargo.toml parses");
        root["workspace"]["package"]["version"]
            .as_str()
            .expect("workspace.package.version")
            .to_owned()
    };
    let compose_image = compose(&secrets_env())
        .service("departments")
        .and_then(|service| service.get("image"))
        .and_then(scalar)
        .expect("docker-compose.yml names the image it builds");
    for cluster in clusters() {
        let dir = cluster.dir;
        let workloads = cluster.workloads();
        assert!(!workloads.is_empty(), "{dir}: no workloads");
        for (name, workload) in workloads {
            let pod = pod_spec(workload);
            assert_eq!(
                at(pod, &["automountServiceAccountToken"]).and_then(Value::as_bool),
                Some(false),
                "{dir}: {name} never talks to the Kubernetes API: automountServiceAccountToken: false"
            );
            for host in ["hostNetwork", "hostPID", "hostIPC"] {
                assert!(!is_true(pod, &[host]), "{dir}: {name} must not use {host}");
            }
            for volume in pod.get("volumes").and_then(Value::as_sequence).into_iter().flatten() {
                assert!(volume.get("hostPath").is_none(), "{dir}: {name} mounts a hostPath");
            }
            assert!(
                is_true(pod, &["securityContext", "runAsNonRoot"]),
                "{dir}: {name}: securityContext.runAsNonRoot: true"
            );
            assert_eq!(
                integer_at(pod, &["securityContext", "runAsUser"]),
                Some(uid),
                "{dir}: {name}: run as the image's user, uid {uid} (numeric, so runAsNonRoot can be checked)"
            );
            assert_eq!(
                text_at(pod, &["securityContext", "seccompProfile", "type"]),
                "RuntimeDefault",
                "{dir}: {name}: seccompProfile RuntimeDefault"
            );

            for container in containers(workload) {
                let context = container
                    .get("securityContext")
                    .unwrap_or_else(|| panic!("{dir}: {name}: the container has no securityContext"));
                assert_eq!(
                    context.get("allowPrivilegeEscalation").and_then(Value::as_bool),
                    Some(false),
                    "{dir}: {name}: allowPrivilegeEscalation: false"
                );
                assert!(
                    is_true(context, &["readOnlyRootFilesystem"]),
                    "{dir}: {name}: readOnlyRootFilesystem: true"
                );
                assert!(
                    !is_true(context, &["privileged"]),
                    "{dir}: {name} must not be privileged"
                );
                assert!(
                    words(at(context, &["capabilities", "drop"])).contains(&"ALL".to_owned()),
                    "{dir}: {name}: drop ALL capabilities"
                );
                assert!(
                    words(at(context, &["capabilities", "add"])).is_empty(),
                    "{dir}: {name} needs no capabilities"
                );

                for resource in ["cpu", "memory"] {
                    let request = text_at(container, &["resources", "requests", resource]);
                    let limit = text_at(container, &["resources", "limits", resource]);
                    assert!(
                        !request.is_empty() && !limit.is_empty(),
                        "{dir}: {name}: set both a request and a limit for {resource}"
                    );
                    assert!(
                        quantity(&request) <= quantity(&limit),
                        "{dir}: {name}: the {resource} request {request} exceeds its limit {limit}"
                    );
                }

                let image = text_at(container, &["image"]);
                let (repository, tag) = image_parts(&image);
                assert!(
                    repository == IMAGE || repository.ends_with(&format!("/{IMAGE}")),
                    "{dir}: {name} runs {image}, not the {IMAGE} image the Dockerfile builds"
                );
                if dir == PRODUCTION_OVERLAY {
                    assert_eq!(
                        tag, version,
                        "{dir}: {name} must run the release of this workspace's version {version}, not {image}"
                    );
                } else {
                    assert_eq!(
                        image, compose_image,
                        "{dir}: {name} runs {image}; the base runs the image docker compose builds, {compose_image}"
                    );
                }
            }
        }
    }
}

#[test]
fn kubernetes_keeps_servers_available_and_scales_gateway_and_reporting() {
    for cluster in clusters() {
        let dir = cluster.dir;
        let servers = cluster.servers();
        let workloads = cluster.workloads();

        let mut autoscalers = BTreeMap::new();
        for autoscaler in cluster.of_kind("HorizontalPodAutoscaler") {
            let name = name_of(autoscaler);
            let target = at(autoscaler, &["spec", "scaleTargetRef"]).expect("scaleTargetRef");
            assert_eq!(
                (text_at(target, &["apiVersion"]), text_at(target, &["kind"])),
                ("apps/v1".to_owned(), "Deployment".to_owned()),
                "{dir}: HPA {name} must scale a Deployment"
            );
            let deployment_name = text_at(target, &["name"]);
            let deployment = servers
                .get(&deployment_name)
                .unwrap_or_else(|| panic!("{dir}: HPA {name} scales {deployment_name}, which is no server"));
            assert!(
                at(deployment, &["spec", "replicas"]).is_none(),
                "{dir}: {deployment_name} is scaled by HPA {name}: leave out spec.replicas, or every apply resets it"
            );
            let minimum = integer_at(autoscaler, &["spec", "minReplicas"]).unwrap_or(1);
            let maximum = integer_at(autoscaler, &["spec", "maxReplicas"]).unwrap_or(0);
            assert!(
                minimum >= 1 && maximum >= minimum,
                "{dir}: HPA {name}: {minimum}..{maximum} replicas"
            );
            let on_cpu = at(autoscaler, &["spec", "metrics"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .any(|metric| {
                    text_at(metric, &["type"]) == "Resource" && text_at(metric, &["resource", "name"]) == "cpu"
                });
            assert!(on_cpu, "{dir}: HPA {name} scales on CPU use");
            assert!(
                autoscalers.insert(deployment_name.clone(), minimum).is_none(),
                "{dir}: two HPAs scale {deployment_name}"
            );
        }
        let scaled: BTreeSet<&str> = autoscalers.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = AUTOSCALED.iter().copied().collect();
        assert_eq!(scaled, expected, "{dir}: the servers an HPA scales");

        for (name, deployment) in &servers {
            let minimum_pods = autoscalers
                .get(name)
                .copied()
                .unwrap_or_else(|| integer_at(deployment, &["spec", "replicas"]).unwrap_or(1));
            if *dir == *PRODUCTION_OVERLAY {
                assert!(
                    minimum_pods >= 2,
                    "{dir}: {name} runs {minimum_pods} pod(s) at times; production needs two, so one can go"
                );
            }
            let labels = pod_labels(deployment);
            let budgets: Vec<&Value> = cluster
                .of_kind("PodDisruptionBudget")
                .filter(|budget| selects(&match_labels(&budget["spec"]["selector"], dir), &labels))
                .collect();
            assert_eq!(budgets.len(), 1, "{dir}: {name} needs one PodDisruptionBudget");
            let budget = budgets[0];
            let selector = match_labels(&budget["spec"]["selector"], dir);
            for (other, workload) in &workloads {
                assert_eq!(
                    selects(&selector, &pod_labels(workload)),
                    other == name,
                    "{dir}: PodDisruptionBudget {} must cover {name}'s pods only (checked {other})",
                    name_of(budget)
                );
            }
            // A budget that allows no eviction blocks every node drain.
            let allows_eviction = match (
                at(budget, &["spec", "maxUnavailable"]).map(Value::as_i64),
                at(budget, &["spec", "minAvailable"]).map(Value::as_i64),
            ) {
                (Some(Some(max_unavailable)), None) => max_unavailable >= 1,
                (None, Some(Some(min_available))) => min_available < minimum_pods,
                other => {
                    panic!("{dir}: {name}'s budget: give maxUnavailable or minAvailable as a number, not {other:?}")
                }
            };
            assert!(
                allows_eviction,
                "{dir}: {name}'s PodDisruptionBudget never lets a pod go with {minimum_pods} pod(s)"
            );
        }
    }
}

#[test]
fn kubernetes_network_policies_let_in_only_callers() {
    for cluster in clusters() {
        let dir = cluster.dir;
        let workloads = cluster.workloads();
        let policies: Vec<&Value> = cluster.of_kind("NetworkPolicy").collect();
        let denies_all = policies.iter().any(|policy| {
            match_labels(&policy["spec"]["podSelector"], dir).is_empty()
                && words(at(policy, &["spec", "policyTypes"])).contains(&"Ingress".to_owned())
                && at(policy, &["spec", "ingress"])
                    .and_then(Value::as_sequence)
                    .is_none_or(Vec::is_empty)
        });
        assert!(
            denies_all,
            "{dir}: a NetworkPolicy must deny all ingress to every pod by default"
        );

        // Who the jobs call: the server named in their --addr.
        let ports = cluster.listen_ports();
        let metrics_ports = cluster.metrics_ports();
        let job_targets: Vec<(String, String)> = cluster
            .jobs()
            .into_iter()
            .map(|(name, job)| {
                let (host, _) = addr_of(&name, &words_at(the_container(job), "args"));
                (name, host)
            })
            .collect();

        for (name, port) in &ports {
            let labels = pod_labels(workloads[name]);
            let metrics_port = metrics_ports[name];
            let mut from_anywhere = false;
            let mut scraped = false;
            let mut sources = BTreeSet::new();
            for policy in policies
                .iter()
                .filter(|policy| selects(&match_labels(&policy["spec"]["podSelector"], dir), &labels))
            {
                let policy_name = name_of(policy);
                for rule in at(policy, &["spec", "ingress"])
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    let rule_ports: Vec<i64> = rule
                        .get("ports")
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .map(|rule_port| integer_at(rule_port, &["port"]).unwrap_or(0))
                        .collect();
                    let peers = rule
                        .get("from")
                        .and_then(Value::as_sequence)
                        .cloned()
                        .unwrap_or_default();
                    if rule_ports == [i64::from(metrics_port)] {
                        // The metrics port: a monitoring namespace, nothing else.
                        assert!(
                            !peers.is_empty(),
                            "{dir}: NetworkPolicy {policy_name} opens {name}'s metrics to anyone"
                        );
                        for peer in &peers {
                            let (key, value) = MONITORING_NAMESPACE_LABEL;
                            assert!(
                                peer.get("podSelector").is_none() && peer.get("ipBlock").is_none(),
                                "{dir}: NetworkPolicy {policy_name}: admit to metrics by namespace label only"
                            );
                            assert_eq!(
                                match_labels(&peer["namespaceSelector"], dir),
                                BTreeMap::from([(key.to_owned(), value.to_owned())]),
                                "{dir}: NetworkPolicy {policy_name}: {name}'s metrics admit namespaces labelled {key}={value}"
                            );
                        }
                        scraped = true;
                        continue;
                    }
                    assert_eq!(
                        rule_ports,
                        [i64::from(*port)],
                        "{dir}: NetworkPolicy {policy_name} must open {name}'s port {port} (or its metrics port \
                         {metrics_port}) only, one per rule"
                    );
                    if peers.is_empty() {
                        from_anywhere = true;
                    }
                    for peer in peers {
                        assert!(
                            peer.get("namespaceSelector").is_none() && peer.get("ipBlock").is_none(),
                            "{dir}: NetworkPolicy {policy_name}: admit Duban pods by podSelector only"
                        );
                        let selector = match_labels(&peer["podSelector"], dir);
                        assert!(
                            !selector.is_empty(),
                            "{dir}: NetworkPolicy {policy_name} admits every pod"
                        );
                        let matched: Vec<&String> = workloads
                            .iter()
                            .filter(|(_, workload)| selects(&selector, &pod_labels(workload)))
                            .map(|(source, _)| source)
                            .collect();
                        assert!(
                            !matched.is_empty(),
                            "{dir}: NetworkPolicy {policy_name} admits {selector:?}, which matches no pod"
                        );
                        sources.extend(matched.into_iter().cloned());
                    }
                }
            }

            assert!(
                scraped,
                "{dir}: no NetworkPolicy lets a monitoring namespace reach {name}'s metrics port {metrics_port}"
            );
            let mut expected: BTreeSet<String> = callers(name).into_iter().map(str::to_owned).collect();
            expected.extend(
                job_targets
                    .iter()
                    .filter(|(_, host)| host == name)
                    .map(|(job, _)| job.clone()),
            );
            if callers(name).is_empty() {
                assert!(
                    from_anywhere,
                    "{dir}: {name} is the front door: a NetworkPolicy must admit anyone to port {port}"
                );
            } else {
                assert!(
                    !from_anywhere,
                    "{dir}: {name} must take traffic only from its callers, not from anywhere"
                );
                assert_eq!(
                    sources, expected,
                    "{dir}: {name} must take traffic from exactly the servers and jobs that call it"
                );
            }
        }
    }
}

#[test]
fn kubernetes_job_imports_the_plan_from_the_measures_service() {
    for cluster in clusters() {
        let dir = cluster.dir;
        let ports = cluster.listen_ports();
        let jobs = cluster.jobs();
        assert!(
            jobs.values()
                .any(|job| words_at(the_container(job), "args").starts_with(&["plan".to_owned(), "import".to_owned()])),
            "{dir}: no Job runs `duban plan import`, so nothing loads the plan"
        );
        for (name, job) in jobs {
            let restart = text_at(pod_spec(job), &["restartPolicy"]);
            assert!(
                matches!(restart.as_str(), "OnFailure" | "Never"),
                "{dir}: {name}: restartPolicy OnFailure or Never, not {restart:?}"
            );
            assert!(
                integer_at(job, &["spec", "backoffLimit"]).unwrap_or(6) >= 1,
                "{dir}: {name}: the servers may not be up yet; let it retry (backoffLimit)"
            );
            let container = the_container(job);
            assert!(
                container.get("command").is_none(),
                "{dir}: {name}: keep the image's ENTRYPOINT (duban) so `args` are its arguments"
            );
            assert!(
                container.get("ports").is_none(),
                "{dir}: {name} serves nothing; declare no ports"
            );
            let args = words_at(container, "args");
            let (subcommand, server) = JOB_COMMANDS
                .iter()
                .find(|(subcommand, _)| {
                    args.iter()
                        .map(String::as_str)
                        .take(subcommand.len())
                        .eq(subcommand.iter().copied())
                })
                .unwrap_or_else(|| panic!("{dir}: {name}: {args:?} is not a known `duban` client command"));
            let (host, port) = addr_of(&name, &args);
            assert_eq!(
                host,
                *server,
                "{dir}: {name}: `{}` talks to the {server} Service, not {host}",
                subcommand.join(" ")
            );
            assert_eq!(
                Some(&port),
                ports.get(*server),
                "{dir}: {name}: --addr {host}:{port}, but {server} listens on another port (headless: no mapping)"
            );
        }
    }
}

#[test]
fn readme_tells_how_to_run_on_kubernetes() {
    let readme = read_file("README.md");
    let section = readme
        .split("\n## Run on Kubernetes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a \"Run on Kubernetes\" section");
    assert!(
        section.contains(&format!("Kubernetes {OLDEST_KUBERNETES} or later")),
        "README: say which Kubernetes the manifests need (\"Kubernetes {OLDEST_KUBERNETES} or later\")"
    );
    for dir in KUBERNETES_BUILDS {
        assert!(
            section.contains(&format!("kubectl apply -k {dir}")),
            "README: show `kubectl apply -k {dir}`"
        );
    }
    assert!(!readme_secrets().is_empty(), "README: show how to create the Secrets");
    let (key, value) = MONITORING_NAMESPACE_LABEL;
    assert!(
        section.contains("kubectl label namespace") && section.contains(&format!("{key}={value}")),
        "README: show how to let Prometheus's namespace reach the metrics (`kubectl label namespace … {key}={value}`)"
    );
}
