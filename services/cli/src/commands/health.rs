//! `duban health`: a grpc_health_probe for containers and scripts.

use std::time::Duration;

use duban_kit::settings::ClientSettings;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// Asks `addr` for the status of `service` (empty = the whole server), over TLS as
/// `client.tls` says. Returns whether it is SERVING; prints the status either way.
pub async fn check(client: &ClientSettings, addr: &str, service: &str, timeout: Duration) -> bool {
    let (serving, report) = probe(client, addr, service, timeout).await;
    if serving {
        println!("{report}");
    } else {
        eprintln!("{report}");
    }
    serving
}

/// As [`check`], printing nothing.
pub async fn check_quietly(client: &ClientSettings, addr: &str, service: &str, timeout: Duration) -> bool {
    probe(client, addr, service, timeout).await.0
}

async fn probe(client: &ClientSettings, addr: &str, service: &str, timeout: Duration) -> (bool, String) {
    let endpoint = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let result = async {
        let channel = duban_kit::client::balance::balanced(&endpoint, duban_kit::client::tuned, client)?;
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        request.set_timeout(timeout);
        let response = HealthClient::new(channel).check(request).await?;
        anyhow::Ok(response.into_inner().status())
    };
    let label = if service.is_empty() {
        "server".to_owned()
    } else {
        service.to_owned()
    };
    match tokio::time::timeout(timeout, result).await {
        Ok(Ok(ServingStatus::Serving)) => (true, format!("{label} at {addr}: SERVING")),
        Ok(Ok(status)) => (false, format!("{label} at {addr}: {}", status.as_str_name())),
        Ok(Err(error)) => (false, format!("{label} at {addr}: unreachable: {error:#}")),
        Err(_) => (
            false,
            format!("{label} at {addr}: no answer within {} ms", timeout.as_millis()),
        ),
    }
}
