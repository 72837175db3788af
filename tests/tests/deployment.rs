//! Static checks of the deployment files (no Docker needed): docker-compose.yml, the
//! Dockerfile, .dockerignore, deploy/postgres/init.sql and deploy/otel-collector/ are
//! read and checked against the real configuration schema, the `duban` binary's list
//! of servers and the workspace manifest, so that drift between them fails here
//! rather than at `docker compose up`.
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

use duban_kit::Settings;
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
const INFRASTRUCTURE: &[&str] = &["postgres", "otel-collector"];

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

/// The shell environments `docker compose` is checked under: nothing set (a plain
/// `docker compose up`), and every documented variable set to something unusual.
fn host_environments() -> Vec<(&'static str, HashMap<String, String>)> {
    let mut everything: HashMap<String, String> = [
        ("DUBAN_SERVICE_TOKEN", "svc-0123456789"),
        ("DUBAN_ADMIN_TOKEN", "adm-0123456789"),
        ("POSTGRES_PASSWORD", "s3cret-pw"),
        ("POSTGRES_PORT", "6543"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    if let Some(endpoint) = documented_otlp_endpoint() {
        everything.insert(OTLP_HOST_VARIABLE.to_owned(), endpoint);
    }
    vec![("no variables set", HashMap::new()), ("every variable set", everything)]
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
    let variables: HashMap<String, String> = duban_variables(name, service).into_iter().collect();
    Settings::load_from(None, config::Environment::with_prefix("DUBAN").source(Some(variables)))
        .unwrap_or_else(|error| panic!("{name}: its DUBAN__ variables are not a valid configuration: {error}"))
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
            for key in variables.keys() {
                assert!(
                    key.starts_with("DUBAN__") && *key == key.to_ascii_uppercase(),
                    "{name}: {key} would be ignored; settings are DUBAN__<SECTION>__<KEY> \
                     or DUBAN__<KEY>, in capitals (e.g. DUBAN__DATA_DIR)"
                );
            }
            // Unknown keys fail here: every settings struct denies unknown fields.
            let settings = settings(&name, service);
            // And each value arrives as written, not reinterpreted.
            for (key, expected) in &variables {
                let lower = key["DUBAN__".len()..].to_ascii_lowercase();
                let path: Vec<&str> = lower.split("__").collect();
                let loaded = match setting(&settings, &path) {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                assert_eq!(&loaded, expected, "{name} ({label}): {key} loads as {loaded:?}");
            }
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
    let compose = compose(&HashMap::new());
    let mut commands: Vec<Vec<String>> = JOB_COMMANDS
        .iter()
        .map(|(subcommand, _)| subcommand.iter().map(|word| (*word).to_owned()).collect())
        .collect();
    commands.extend(jobs(&compose).values().map(|job| words(job.get("command"))));
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
    let compose = compose(&HashMap::new());
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
    let mut tracing_env = HashMap::new();
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
    let compose = compose(&HashMap::new());
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
