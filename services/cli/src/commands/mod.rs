//! One module per `duban` subcommand.

pub mod departments;
pub mod health;
pub mod plan;
pub mod token;
pub mod up;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use duban_kit::{Settings, client::ServiceChannel};

/// How a command reaches a server: its address and the caller's token.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Server address, `host:port` or a URL. Defaults to where `duban up` serves it.
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// Bearer token. Defaults to `DUBAN_TOKEN`, then to the development admin token
    /// that `duban up` keeps in `<data_dir>/admin.token`.
    #[arg(long, env = "DUBAN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 10, global = true)]
    pub timeout: u64,
}

impl Connection {
    /// A channel to `addr` (or `default_endpoint`) that sends the token.
    pub fn channel(&self, settings: &Settings, default_endpoint: &str) -> anyhow::Result<ServiceChannel> {
        let endpoint = match &self.addr {
            Some(addr) if addr.contains("://") => addr.clone(),
            Some(addr) => format!("http://{addr}"),
            None => default_endpoint.to_owned(),
        };
        let token = self.token(settings)?;
        Ok(duban_kit::client::connect_lazy(
            &endpoint,
            Some(&token),
            Duration::from_secs(self.timeout),
        )?)
    }

    fn token(&self, settings: &Settings) -> anyhow::Result<String> {
        if let Some(token) = self.token.as_ref().filter(|token| !token.is_empty()) {
            return Ok(token.clone());
        }
        let file = admin_token_path(settings);
        match std::fs::read_to_string(&file) {
            Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
            _ => bail!(
                "no token: pass --token, set DUBAN_TOKEN, or run `duban up` here to create {}",
                file.display()
            ),
        }
    }
}

/// Where `duban up` keeps the development admin token.
pub fn admin_token_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("admin.token")
}

/// Turns a failed call into an error that names the server and the status.
pub fn call_failed(what: &str, status: tonic::Status) -> anyhow::Error {
    let mut message = format!("{what} failed: {:?}: {}", status.code(), status.message());
    for violation in duban_kit::status::field_violations(&status) {
        message.push_str(&format!("\n  {}: {}", violation.field, violation.description));
    }
    anyhow::anyhow!(message)
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("cannot encode the output as JSON")?
    );
    Ok(())
}
