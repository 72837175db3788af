//! Starting servers by name, the way `duban up` and `duban serve` both do.

use std::path::Path;

use anyhow::{Context, bail};
use duban_catalog::directory::Directory;
use duban_kit::{GrpcServer, Settings};

/// A server that is running, with what a person needs to reach it.
#[derive(Debug)]
pub struct Started {
    /// The server's name, as in [`crate::SERVICES`].
    pub name: &'static str,
    /// The gRPC service it serves, for health checks.
    pub grpc_service: &'static str,
    /// Its database URL, with any password masked; empty for the gateway, which has none.
    pub database: String,
    /// The running server.
    pub server: GrpcServer,
}

/// Starts the server called `name`.
pub async fn start(name: &str, settings: &Settings) -> anyhow::Result<Started> {
    match name {
        "departments" => {
            let directory = load_directory(&settings.plan.directory_file)?;
            let server = duban_departments::start(settings, directory)
                .await
                .with_context(|| format!("cannot start the departments server on {}", settings.departments.listen))?;
            Ok(Started {
                name: "departments",
                grpc_service: duban_departments::SERVICE_NAME,
                database: mask_password(&settings.departments.database_url_in(&settings.data_dir, "departments")),
                server,
            })
        }
        "targets" => Ok(Started {
            name: "targets",
            grpc_service: duban_targets::SERVICE_NAME,
            database: mask_password(&settings.targets.database_url_in(&settings.data_dir, "targets")),
            server: duban_targets::start(settings)
                .await
                .with_context(|| format!("cannot start the targets server on {}", settings.targets.listen))?,
        }),
        "measures" => Ok(Started {
            name: "measures",
            grpc_service: duban_measures::SERVICE_NAME,
            database: mask_password(&settings.measures.database_url_in(&settings.data_dir, "measures")),
            server: duban_measures::start(settings)
                .await
                .with_context(|| format!("cannot start the measures server on {}", settings.measures.listen))?,
        }),
        "reporting" => Ok(Started {
            name: "reporting",
            grpc_service: duban_reporting::SERVICE_NAME,
            database: mask_password(&settings.reporting.database_url_in(&settings.data_dir, "reporting")),
            server: duban_reporting::start(settings)
                .await
                .with_context(|| format!("cannot start the reporting server on {}", settings.reporting.listen))?,
        }),
        "gateway" => Ok(Started {
            name: "gateway",
            grpc_service: duban_gateway::SERVICE_NAME,
            database: String::new(),
            server: duban_gateway::start(settings)
                .await
                .with_context(|| format!("cannot start the gateway on {}", settings.gateway.listen))?,
        }),
        other => bail!(
            "no server is called {other:?}; the servers are: {}",
            crate::SERVICES.join(", ")
        ),
    }
}

/// The configured directory file, or the Jiading directory built into the binary.
fn load_directory(file: &str) -> anyhow::Result<Directory> {
    if file.is_empty() {
        return Ok(Directory::from_toml_str(duban_catalog::JIADING_DIRECTORY)?);
    }
    let text = std::fs::read_to_string(Path::new(file))
        .with_context(|| format!("cannot read plan.directory_file {file:?}"))?;
    Directory::from_toml_str(&text).with_context(|| format!("plan.directory_file {file:?} is not a valid directory"))
}

/// The configured plan file, or the Jiading 2023 plan built into the binary.
pub fn load_plan(settings: &Settings) -> anyhow::Result<duban_catalog::Plan> {
    let file = &settings.plan.plan_file;
    if file.is_empty() {
        return Ok(duban_catalog::Plan::from_toml_str(duban_catalog::JIADING_2023_PLAN)?);
    }
    let text =
        std::fs::read_to_string(Path::new(file)).with_context(|| format!("cannot read plan.plan_file {file:?}"))?;
    duban_catalog::Plan::from_toml_str(&text).with_context(|| format!("plan.plan_file {file:?} is not a valid plan"))
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_terminal() {
        assert_eq!(
            mask_password("postgres://duban:s3cret@db:5432/x"),
            "postgres://duban:***@db:5432/x"
        );
        assert_eq!(
            mask_password("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(
            mask_password("sqlite://data/departments.db"),
            "sqlite://data/departments.db"
        );
    }

    #[test]
    fn the_built_in_directory_loads() {
        let directory = load_directory("").unwrap();
        assert!(directory.units().len() >= 46);
    }
}
