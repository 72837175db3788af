//! One module per `duban` subcommand.

pub mod audit;
pub mod bulletin;
pub mod certs;
pub mod dashboard;
pub mod demo;
pub mod departments;
pub mod endpoints;
pub mod health;
pub mod notices;
pub mod orders;
pub mod plan;
pub mod report;
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
            &settings.client,
        )?)
    }

    /// A channel to `endpoint` whatever `--addr` says, for the second and later servers a
    /// command needs (`--addr` names the command's main server).
    pub fn channel_to(&self, settings: &Settings, endpoint: &str) -> anyhow::Result<ServiceChannel> {
        self.channel_with_timeout(settings, endpoint, Duration::from_secs(self.timeout))
    }

    /// Like [`Connection::channel_to`], with a longer limit per call (bulk streams).
    pub fn channel_with_timeout(
        &self,
        settings: &Settings,
        endpoint: &str,
        timeout: Duration,
    ) -> anyhow::Result<ServiceChannel> {
        let token = self.token(settings)?;
        Ok(duban_kit::client::connect_lazy(
            endpoint,
            Some(&token),
            timeout,
            &settings.client,
        )?)
    }

    /// The endpoint `--addr` names, or `default_endpoint`.
    pub fn endpoint(&self, default_endpoint: &str) -> String {
        match &self.addr {
            Some(addr) if addr.contains("://") => addr.clone(),
            Some(addr) => format!("http://{addr}"),
            None => default_endpoint.to_owned(),
        }
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
    let mut message = format!("{what} failed: {}", code_name(status.code()));
    if let Some(reason) = duban_kit::status::reason(&status) {
        message.push_str(&format!(" ({reason})"));
    }
    message.push_str(&format!(": {}", status.message()));
    for violation in duban_kit::status::field_violations(&status) {
        message.push_str(&format!("\n  {}: {}", violation.field, violation.description));
    }
    anyhow::anyhow!(message)
}

/// The canonical name of a status code, as gRPC documents it: `PERMISSION_DENIED`.
pub fn code_name(code: tonic::Code) -> String {
    let camel = format!("{code:?}");
    let mut name = String::new();
    for (index, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("cannot encode the output as JSON")?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_print_as_grpc_names_them() {
        assert_eq!(code_name(tonic::Code::PermissionDenied), "PERMISSION_DENIED");
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
    }
}
