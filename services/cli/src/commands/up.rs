//! `duban up` runs every server in one process, each on its own loopback port with its
//! own database; `duban serve <name>` runs one, for containers.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use duban_kit::{
    Settings,
    auth::new_token,
    settings::{ClientSettings, DashboardAccess},
};

use crate::{
    commands::{Connection, admin_token_path, health, plan},
    output::table,
    servers::{self, Started},
};

/// Starts every server, waits until all are SERVING, prints how to reach them, and
/// runs until Ctrl-C or SIGTERM.
pub async fn up(mut settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
    if settings.auth.bootstrap_admin_token.is_empty() {
        settings.auth.bootstrap_admin_token = development_admin_token(&settings)?;
    }
    if settings.auth.service_token.is_empty() {
        // Lives only as long as this process: every server in it shares it.
        settings.auth.service_token = new_token();
    }
    // One person's machine: on loopback the dashboard opens without signing in (unless configured
    // otherwise), and the banner says so.
    let gateway = &mut settings.gateway;
    gateway.dashboard_access = gateway.dashboard_access.resolve(gateway.listen, true);
    if settings.server.tls.enabled() && settings.client.tls.ca_file.is_empty() {
        bail!(
            "server.tls.cert_file is set but client.tls.ca_file is not: the servers in this process call \
             each other and need the CA that issued the certificate (`duban certs` writes it as ca.pem)"
        );
    }

    let mut started = Vec::new();
    for name in crate::SERVICES {
        match servers::start(name, &settings).await {
            Ok(server) => started.push(server),
            Err(error) => {
                stop_all(started).await;
                return Err(error);
            }
        }
    }
    if let Err(error) = wait_all_serving(&settings.client, &started, Duration::from_secs(60)).await {
        stop_all(started).await;
        return Err(error);
    }

    let admin = Connection {
        addr: None,
        token: Some(settings.auth.bootstrap_admin_token.clone()),
        timeout: 60,
    };
    if let Err(error) = import_plan(&settings, &admin).await {
        stop_all(started).await;
        return Err(error);
    }

    // Listen for Ctrl-C before saying we are up, so that one sent right after the banner
    // stops the suite cleanly instead of killing it.
    let shutdown = duban_kit::server::shutdown_signal();
    tokio::pin!(shutdown);
    let early = futures::FutureExt::now_or_never(&mut shutdown).is_some();

    let rows: Vec<Vec<String>> = started
        .iter()
        .map(|s| {
            vec![
                s.name.to_owned(),
                s.server.local_addr().to_string(),
                "SERVING".to_owned(),
                format!("http://{}/metrics", s.server.metrics_addr()),
                if s.database.is_empty() {
                    "-".to_owned()
                } else {
                    s.database.clone()
                },
            ]
        })
        .collect();
    println!(
        "Duban is up.\n\n{}",
        table(&["server", "address", "health", "metrics", "database"], &rows)
    );
    let tls = &settings.server.tls;
    if let Some(gateway) = started.iter().find(|s| s.name == "gateway") {
        let addr = gateway.server.local_addr();
        let scheme = if tls.enabled() { "https" } else { "http" };
        println!("Dashboard:     {scheme}://{addr}/");
        println!("               {}", access_note(settings.gateway.dashboard_access));
        println!("Front door:    {addr}  (gRPC: every service's RPCs at one address, for department systems)");
    }
    println!("{}\n", transport_note(&settings, &started));
    println!(
        "Development admin token (also in {}):",
        admin_token_path(&settings).display()
    );
    println!("  {}\n", settings.auth.bootstrap_admin_token);
    println!(
        "Try:  duban departments list\n      duban plan export --format json\n      duban demo            # synthetic 2023 reports\n      duban report list\n      duban dashboard --as-of 2023-09-30\nStop: Ctrl-C"
    );

    if !early {
        shutdown.await;
    }
    // Stdout may be gone by now (a closed pipe); stopping cleanly matters more.
    let _ = writeln!(std::io::stdout(), "stopping...");
    stop_all(started).await;
    Ok(())
}

/// What the banner says about who may read the dashboard.
fn access_note(access: DashboardAccess) -> &'static str {
    match access {
        DashboardAccess::Local => {
            "Open without signing in to anyone on this machine (gateway.dashboard_access = local: the gateway \
             listens on loopback)"
        }
        DashboardAccess::Public => {
            "Aggregate figures open to anyone who reaches it; the rest needs a leadership or admin sign-in \
             (gateway.dashboard_access = public)"
        }
        DashboardAccess::SignIn | DashboardAccess::Auto => {
            "Sign in with a leadership or admin token (gateway.dashboard_access = sign_in)"
        }
    }
}

/// What the banner says about TLS: plaintext is said out loud, and warned about when a
/// server listens beyond loopback.
fn transport_note(settings: &Settings, started: &[Started]) -> String {
    let tls = &settings.server.tls;
    if tls.mutual() {
        return format!(
            "Transport:     TLS with client certificates ({}), CA {}",
            if tls.require_client_certificate {
                "required"
            } else {
                "optional"
            },
            tls.client_ca_file
        );
    }
    if tls.enabled() {
        return format!("Transport:     TLS, certificate {}", tls.cert_file);
    }
    let exposed: Vec<String> = started
        .iter()
        .filter(|s| !s.server.local_addr().ip().is_loopback())
        .map(|s| format!("{} ({})", s.name, s.server.local_addr()))
        .collect();
    if exposed.is_empty() {
        "Transport:     plaintext on loopback, no TLS (see README, \"TLS\": `duban certs` and server.tls.*)".to_owned()
    } else {
        format!(
            "WARNING:       plaintext, no TLS, on addresses other machines can reach: {}. Tokens and the \
             login cookie cross the network readable; see README, \"TLS\".",
            exposed.join(", ")
        )
    }
}

/// Imports the configured plan through the public ImportPlan RPC. Idempotent: on a second
/// start the same plan is UNCHANGED and nothing is written.
async fn import_plan(settings: &Settings, admin: &Connection) -> anyhow::Result<()> {
    let plan = servers::load_plan(settings)?;
    let dataset = duban_measures::dataset::from_catalog(&plan, None);
    let response = plan::import(settings, admin, dataset, false)
        .await
        .context("cannot load the plan")?;
    let outcome = response
        .outcome()
        .as_str_name()
        .trim_start_matches("IMPORT_OUTCOME_")
        .to_ascii_lowercase();
    let loaded = response.plan.unwrap_or_default();
    println!(
        "Plan {} ({}) revision {}: {outcome}",
        loaded.id, loaded.document_number, loaded.revision
    );
    Ok(())
}

/// Runs the one server `name` until Ctrl-C or SIGTERM.
pub async fn serve(name: &str, settings: Settings) -> anyhow::Result<()> {
    let started = servers::start(name, &settings).await?;
    duban_kit::server::shutdown_signal().await;
    started.server.shutdown().await;
    Ok(())
}

/// The token in `<data_dir>/admin.token`, created on first use (owner-readable only).
fn development_admin_token(settings: &Settings) -> anyhow::Result<String> {
    let path = admin_token_path(settings);
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let token = new_token();
    write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{contents}")
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{contents}\n"))
}

async fn wait_all_serving(client: &ClientSettings, started: &[Started], limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    for server in started {
        let addr = server.server.local_addr().to_string();
        loop {
            if health::check_quietly(client, &addr, server.grpc_service, Duration::from_secs(1)).await {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the {} server at {addr} did not become SERVING within {} s; its log above says why (often the database: {})",
                    server.name,
                    limit.as_secs(),
                    server.database
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn stop_all(started: Vec<Started>) {
    for server in started.into_iter().rev() {
        server.server.shutdown().await;
    }
}
