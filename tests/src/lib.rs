//! Shared helpers for the end-to-end and deployment checks in `tests/`: reading the repository's deployment files
//! (docker-compose.yml, the Dockerfile, and the Kubernetes manifests through [`kustomize`]).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde_yaml::Value;

pub mod kustomize;

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// The text of `relative` (a path from the workspace root), or a panic naming it.
pub fn read_file(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

// --- docker compose -------------------------------------------------------------------

/// A compose file after YAML parsing, `${VAR}` interpolation and `<<:` merging: what
/// `docker compose config` would work from.
#[derive(Debug, Clone)]
pub struct Compose {
    /// The whole document.
    pub root: Value,
}

impl Compose {
    /// Parses `text`, interpolates every string value with `host_env` standing in for
    /// the shell's environment (a missing variable counts as unset), and applies merge
    /// keys. Fails on undefined aliases, bad interpolation or a `${VAR:?}` left unset.
    pub fn parse(text: &str, host_env: &HashMap<String, String>) -> Result<Self, String> {
        let mut root: Value = serde_yaml::from_str(text).map_err(|error| format!("not valid YAML: {error}"))?;
        interpolate_values(&mut root, host_env)?;
        root.apply_merge()
            .map_err(|error| format!("merge keys do not resolve: {error}"))?;
        if let Some(path) = find_merge_key(&root, "") {
            return Err(format!("a `<<` merge key is left unresolved at {path}"));
        }
        Ok(Self { root })
    }

    /// The `services` mapping, by name.
    pub fn services(&self) -> BTreeMap<String, &Value> {
        let Some(services) = self.root.get("services").and_then(Value::as_mapping) else {
            return BTreeMap::new();
        };
        services
            .iter()
            .map(|(name, service)| (scalar(name).expect("service names are strings"), service))
            .collect()
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Value> {
        self.root.get("services")?.get(name)
    }
}

/// Replaces `${VAR}`-style references in every string scalar (not in keys).
fn interpolate_values(value: &mut Value, host_env: &HashMap<String, String>) -> Result<(), String> {
    match value {
        Value::String(text) => *text = interpolate(text, host_env)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate_values(item, host_env)?;
            }
        }
        Value::Mapping(mapping) => {
            for (_, item) in mapping.iter_mut() {
                interpolate_values(item, host_env)?;
            }
        }
        Value::Tagged(tagged) => interpolate_values(&mut tagged.value, host_env)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn find_merge_key(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Mapping(mapping) => mapping.iter().find_map(|(key, item)| {
            let key = scalar(key).unwrap_or_default();
            let here = format!("{path}/{key}");
            if key == "<<" {
                Some(here)
            } else {
                find_merge_key(item, &here)
            }
        }),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find_merge_key(item, &format!("{path}/{index}"))),
        _ => None,
    }
}

/// Compose-style interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`,
/// `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`
/// (defaults may nest). A variable is "unset" if it is not in `env`, "empty" if it is
/// the empty string.
pub fn interpolate(text: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let close = matching_brace(braced).ok_or_else(|| format!("unclosed `${{` in {text:?}"))?;
            out.push_str(&expand(&braced[..close], env, text)?);
            rest = &braced[close + 1..];
        } else {
            let name_len = after
                .char_indices()
                .find(|&(index, c)| !(c == '_' || c.is_ascii_alphabetic() || (index > 0 && c.is_ascii_digit())))
                .map_or(after.len(), |(index, _)| index);
            if name_len == 0 {
                return Err(format!("a lone `$` in {text:?}; write `$$` for a literal dollar"));
            }
            out.push_str(env.get(&after[..name_len]).map_or("", String::as_str));
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${` whose body starts `body`.
fn matching_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(index),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn expand(body: &str, env: &HashMap<String, String>, whole: &str) -> Result<String, String> {
    let name_len = body
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, operator) = body.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("bad variable name in `${{{body}}}` in {whole:?}"));
    }
    let value = env.get(name);
    let set_and_nonempty = value.is_some_and(|value| !value.is_empty());
    let current = value.cloned().unwrap_or_default();
    let (op, argument) = [":-", ":?", ":+", "-", "?", "+"]
        .iter()
        .find_map(|op| operator.strip_prefix(op).map(|argument| (*op, argument)))
        .unwrap_or(("", operator));
    if op.is_empty() && !argument.is_empty() {
        return Err(format!("unknown operator in `${{{body}}}` in {whole:?}"));
    }
    Ok(match op {
        "" => current,
        ":-" if set_and_nonempty => current,
        "-" if value.is_some() => current,
        ":-" | "-" => interpolate(argument, env)?,
        ":?" if !set_and_nonempty => return Err(format!("{name} must be set: {argument}")),
        "?" if value.is_none() => return Err(format!("{name} must be set: {argument}")),
        ":?" | "?" => current,
        ":+" if set_and_nonempty => interpolate(argument, env)?,
        "+" if value.is_some() => interpolate(argument, env)?,
        _ => String::new(),
    })
}

/// A YAML scalar as compose reads it: strings, numbers and booleans as text.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A string or exec-form list (`command`, `entrypoint`, `healthcheck.test`) as words.
/// A plain string is split on whitespace, as compose does for `command`.
pub fn words(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar).collect(),
        Some(value) => scalar(value)
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// A service's `environment`, in either the mapping or the `KEY=VALUE` list form. A
/// key without a value (taken from the host) maps to `None`.
pub fn environment(service: &Value) -> BTreeMap<String, Option<String>> {
    match service.get("environment") {
        Some(Value::Mapping(mapping)) => mapping
            .iter()
            .map(|(key, value)| (scalar(key).unwrap_or_default(), scalar(value)))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|item| match item.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (item, None),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The host address it is published on, if one is given (`host_ip`).
    pub host_ip: Option<String>,
    /// The host port, if one is given.
    pub published: Option<u16>,
    /// The container port.
    pub target: u16,
}

/// A service's `ports`, short (`[ip:][host:]container[/proto]`) or long syntax.
pub fn ports(service: &Value) -> Result<Vec<Port>, String> {
    let Some(items) = service.get("ports") else {
        return Ok(Vec::new());
    };
    let items = items.as_sequence().ok_or("`ports` is not a list")?;
    items
        .iter()
        .map(|item| {
            if let Value::Mapping(long) = item {
                let target = long
                    .get("target")
                    .and_then(scalar)
                    .ok_or_else(|| format!("port without a target: {item:?}"))?;
                let published = long.get("published").and_then(scalar);
                return Ok(Port {
                    host_ip: long.get("host_ip").and_then(scalar),
                    published: published.map(|port| parse_port(&port)).transpose()?,
                    target: parse_port(&target)?,
                });
            }
            let text = scalar(item).ok_or_else(|| format!("not a port: {item:?}"))?;
            let without_protocol = text.split('/').next().unwrap_or_default();
            let parts: Vec<&str> = without_protocol.rsplitn(3, ':').collect();
            Ok(Port {
                host_ip: parts.get(2).map(|ip| (*ip).to_owned()),
                target: parse_port(parts[0])?,
                published: parts.get(1).map(|port| parse_port(port)).transpose()?,
            })
        })
        .collect()
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a single port number (ranges are not used here)"))
}

/// A service's `depends_on`, name to condition; the list form means `service_started`.
pub fn depends_on(service: &Value) -> BTreeMap<String, String> {
    match service.get("depends_on") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|name| (name, "service_started".to_owned()))
            .collect(),
        Some(Value::Mapping(mapping)) => mapping
            .iter()
            .map(|(name, spec)| {
                let condition = spec
                    .get("condition")
                    .and_then(scalar)
                    .unwrap_or_else(|| "service_started".to_owned());
                (scalar(name).unwrap_or_default(), condition)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The build context of a service (`build: dir` or `build: {context: dir}`), if it
/// builds an image, with the Dockerfile it names (`Dockerfile` by default).
pub fn build(service: &Value) -> Option<(String, String)> {
    match service.get("build")? {
        Value::Mapping(build) => Some((
            build.get("context").and_then(scalar).unwrap_or_else(|| ".".to_owned()),
            build
                .get("dockerfile")
                .and_then(scalar)
                .unwrap_or_else(|| "Dockerfile".to_owned()),
        )),
        other => Some((scalar(other)?, "Dockerfile".to_owned())),
    }
}

/// A volume's `(source, target)`, short (`src:dst[:mode]`) or long syntax.
pub fn volumes(service: &Value) -> Vec<(String, String)> {
    let Some(Value::Sequence(items)) = service.get("volumes") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Mapping(long) => Some((
                long.get("source").and_then(scalar)?,
                long.get("target").and_then(scalar)?,
            )),
            other => {
                let text = scalar(other)?;
                let mut parts = text.splitn(3, ':');
                Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
            }
        })
        .collect()
}

// --- Dockerfile ------------------------------------------------------------------------

/// One Dockerfile instruction, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// `FROM`, `RUN`, ... in upper case.
    pub keyword: String,
    /// Everything after the keyword, continuation backslashes removed.
    pub arguments: String,
    /// The index of the build stage (the `FROM`) it belongs to.
    pub stage: usize,
}

impl Instruction {
    /// The arguments as an exec-form JSON list, if they are one.
    pub fn exec_form(&self) -> Option<Vec<String>> {
        serde_json::from_str(&self.arguments).ok()
    }

    /// The arguments split on whitespace.
    pub fn words(&self) -> Vec<&str> {
        self.arguments.split_whitespace().collect()
    }
}

/// A build stage: `FROM <image> [AS <name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base image reference.
    pub image: String,
    /// The stage name, if any.
    pub name: Option<String>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Every instruction, in order.
    pub instructions: Vec<Instruction>,
    /// The build stages, in order; the last one is the image.
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Parses the instructions (no heredocs; comments and blank lines skipped).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            let heredoc = |word: &str| {
                word.strip_prefix("<<")
                    .is_some_and(|rest| rest.starts_with(|c: char| c == '-' || c == '"' || c.is_ascii_uppercase()))
            };
            if trimmed.split_whitespace().any(heredoc) {
                return Err(format!("heredocs are not supported by this parser: {trimmed}"));
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    current.push_str(part);
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    logical.push(std::mem::take(&mut current));
                }
            }
        }
        if !current.trim().is_empty() {
            return Err("the last instruction ends in a line continuation".into());
        }

        let mut instructions = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for line in logical.iter().filter(|line| !line.trim().is_empty()) {
            let (keyword, arguments) = line.trim().split_once(char::is_whitespace).unwrap_or((line.trim(), ""));
            let keyword = keyword.to_ascii_uppercase();
            let arguments = arguments.split_whitespace().collect::<Vec<_>>().join(" ");
            if keyword == "FROM" {
                let words: Vec<&str> = arguments.split_whitespace().filter(|w| !w.starts_with("--")).collect();
                let image = words.first().ok_or("FROM without an image")?.to_string();
                let name = match words.get(1..) {
                    Some([as_, name]) if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    Some([]) => None,
                    _ => return Err(format!("cannot read `FROM {arguments}`")),
                };
                stages.push(Stage { image, name });
            } else if stages.is_empty() && keyword != "ARG" {
                return Err(format!("{keyword} before the first FROM"));
            }
            instructions.push(Instruction {
                keyword,
                arguments,
                stage: stages.len().saturating_sub(1),
            });
        }
        if stages.is_empty() {
            return Err("no FROM".into());
        }
        Ok(Self { instructions, stages })
    }

    /// The instructions called `keyword` in stage `stage`.
    pub fn in_stage<'a>(&'a self, stage: usize, keyword: &'a str) -> impl Iterator<Item = &'a Instruction> + 'a {
        self.instructions
            .iter()
            .filter(move |instruction| instruction.stage == stage && instruction.keyword == keyword)
    }

    /// The index of the final stage, the one that becomes the image.
    pub fn final_stage(&self) -> usize {
        self.stages.len() - 1
    }

    /// The index of the stage named `name` (or numbered `name`).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages
            .iter()
            .position(|stage| stage.name.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(name)))
            .or_else(|| name.parse().ok().filter(|&index: &usize| index < self.stages.len()))
    }

    /// The `ENV` variables of stage `stage` (both `K=V ...` and `K V` forms).
    pub fn env(&self, stage: usize) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for instruction in self.in_stage(stage, "ENV") {
            let arguments = instruction.arguments.as_str();
            match arguments.split_once(char::is_whitespace) {
                Some((key, value)) if !key.contains('=') => {
                    env.insert(key.to_owned(), unquote(value.trim()).to_owned());
                }
                _ => {
                    for pair in arguments.split_whitespace() {
                        if let Some((key, value)) = pair.split_once('=') {
                            env.insert(key.to_owned(), unquote(value).to_owned());
                        }
                    }
                }
            }
        }
        env
    }
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(text)
}

// --- PostgreSQL --------------------------------------------------------------------------

/// The databases `CREATE DATABASE` statements in `sql` create, in order.
pub fn created_databases(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .filter_map(|statement| {
            let words: Vec<&str> = statement.split_whitespace().collect();
            match words.as_slice() {
                [create, database, name, ..]
                    if create.eq_ignore_ascii_case("create") && database.eq_ignore_ascii_case("database") =>
                {
                    Some(name.trim_matches('"').to_owned())
                }
                _ => None,
            }
        })
        .collect()
}

/// The parts of a `postgres://user:password@host:port/database?options` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// User name.
    pub user: String,
    /// Password, if given.
    pub password: Option<String>,
    /// Host name.
    pub host: String,
    /// Port (5432 when not given).
    pub port: u16,
    /// Database name.
    pub database: String,
}

impl PostgresUrl {
    /// Parses a `postgres://` or `postgresql://` URL with a host and a database.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| format!("{url:?} is not a postgres:// URL"))?;
        let rest = rest.split('?').next().unwrap_or_default();
        let (credentials, location) = rest.rsplit_once('@').unwrap_or(("", rest));
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
            None => (credentials.to_owned(), None),
        };
        let (authority, database) = location
            .split_once('/')
            .ok_or_else(|| format!("{url:?} names no database"))?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), parse_port(port)?),
            None => (authority.to_owned(), 5432),
        };
        if host.is_empty() || database.is_empty() {
            return Err(format!("{url:?} needs a host and a database"));
        }
        Ok(Self {
            user,
            password,
            host,
            port,
            database: database.to_owned(),
        })
    }
}

// --- Versions ------------------------------------------------------------------------------

/// `1.95.0` as `[1, 95, 0]`; `None` if any part is not a number.
pub fn version_parts(version: &str) -> Option<Vec<u64>> {
    version.split('.').map(|part| part.parse().ok()).collect()
}

/// Whether an image tag's version (`1.95`, which floats to the newest 1.95.x) satisfies
/// a minimum (`1.94` or `1.94.1`): compared over as many parts as the tag gives.
pub fn tag_satisfies(tag_version: &[u64], minimum: &[u64]) -> bool {
    let mut minimum = minimum.to_vec();
    minimum.resize(tag_version.len(), 0);
    tag_version >= minimum.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn interpolation_follows_compose() {
        let none = env(&[]);
        let empty = env(&[("A", "")]);
        let set = env(&[("A", "x"), ("B", "y")]);
        assert_eq!(interpolate("${A:-d}", &none).unwrap(), "d");
        assert_eq!(interpolate("${A:-d}", &empty).unwrap(), "d");
        assert_eq!(interpolate("${A-d}", &empty).unwrap(), "");
        assert_eq!(interpolate("${A:-d}", &set).unwrap(), "x");
        assert_eq!(interpolate("${A:-}", &none).unwrap(), "");
        assert_eq!(interpolate("p://u:${A:-pw}@h/$B", &set).unwrap(), "p://u:x@h/y");
        assert_eq!(interpolate("${C:-${B}}", &set).unwrap(), "y");
        assert_eq!(interpolate("${A:+alt}", &set).unwrap(), "alt");
        assert_eq!(interpolate("${A:+alt}", &none).unwrap(), "");
        assert_eq!(interpolate("$$HOME", &none).unwrap(), "$HOME");
        assert!(interpolate("${A:?needed}", &none).is_err());
        assert!(interpolate("${A", &none).is_err());
        assert!(interpolate("cost: $ 5", &none).is_err());
    }

    #[test]
    fn compose_merges_anchors_after_interpolating() {
        let text =
            "x-common: &common\n  image: a:${TAG:-1}\nservices:\n  s:\n    <<: *common\n    command: [\"run\"]\n";
        let compose = Compose::parse(text, &HashMap::new()).unwrap();
        let service = compose.service("s").unwrap();
        assert_eq!(service.get("image").and_then(scalar).unwrap(), "a:1");
        assert!(Compose::parse("services:\n  s:\n    <<: *missing\n", &HashMap::new()).is_err());
    }

    #[test]
    fn ports_in_both_syntaxes() {
        let service: Value = serde_yaml::from_str(
            "ports:\n  - \"127.0.0.1:5433:5432\"\n  - 50052\n  - target: 80\n    published: \"8080\"\n    host_ip: 127.0.0.1\n  - \"8081:81\"\n",
        )
        .unwrap();
        assert_eq!(
            ports(&service).unwrap(),
            vec![
                Port {
                    host_ip: Some("127.0.0.1".into()),
                    published: Some(5433),
                    target: 5432
                },
                Port {
                    host_ip: None,
                    published: None,
                    target: 50052
                },
                Port {
                    host_ip: Some("127.0.0.1".into()),
                    published: Some(8080),
                    target: 80
                },
                Port {
                    host_ip: None,
                    published: Some(8081),
                    target: 81
                },
            ]
        );
    }

    #[test]
    fn dockerfile_instructions_and_stages() {
        let dockerfile = Dockerfile::parse(
            "# syntax=docker/dockerfile:1\nFROM rust:1 AS build\nRUN a \\\n    # comment\n    && b\nFROM debian\nENV A=1 B=\"two\"\nENV C three\nENTRYPOINT [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(dockerfile.stages.len(), 2);
        assert_eq!(dockerfile.stage_index("build"), Some(0));
        assert_eq!(dockerfile.in_stage(0, "RUN").next().unwrap().arguments, "a && b");
        let env = dockerfile.env(1);
        assert_eq!(
            (env["A"].as_str(), env["B"].as_str(), env["C"].as_str()),
            ("1", "two", "three")
        );
        let entrypoint = dockerfile.in_stage(1, "ENTRYPOINT").next().unwrap();
        assert_eq!(entrypoint.exec_form().unwrap(), vec!["x"]);
    }

    #[test]
    fn postgres_urls_and_init_scripts() {
        let url = PostgresUrl::parse("postgres://duban:pw@postgres:5432/duban_x?sslmode=disable").unwrap();
        assert_eq!(url.user, "duban");
        assert_eq!(url.password.as_deref(), Some("pw"));
        assert_eq!(
            (url.host.as_str(), url.port, url.database.as_str()),
            ("postgres", 5432, "duban_x")
        );
        assert!(PostgresUrl::parse("sqlite://data/x.db").is_err());
        let sql = "-- CREATE DATABASE commented;\nCREATE DATABASE a; create database \"b\" OWNER x;\nCREATE ROLE c;";
        assert_eq!(created_databases(sql), vec!["a", "b"]);
    }

    #[test]
    fn image_tags_against_minimum_versions() {
        let v = |text| version_parts(text).unwrap();
        assert!(tag_satisfies(&v("1.95"), &v("1.94")));
        assert!(tag_satisfies(&v("1.95"), &v("1.95.1")));
        assert!(tag_satisfies(&v("1.95.0"), &v("1.95")));
        assert!(!tag_satisfies(&v("1.93"), &v("1.94")));
        assert!(!tag_satisfies(&v("1.94.0"), &v("1.94.1")));
        assert!(tag_satisfies(&v("2"), &v("1.94")));
        assert!(!tag_satisfies(&v("1"), &v("2.0")));
    }
}
