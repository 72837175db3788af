//! Calls to the servers of the suite over TLS: tonic's client configuration from
//! `client.tls`, for one endpoint.

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::{TlsError, read};
use crate::settings::ClientTlsSettings;

/// How long a TLS handshake with a server may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The TLS configuration of calls to `host`, or `None` for plaintext. With
/// `client.tls.ca_file` every call is TLS, verified against that CA; without it only an
/// `https://` endpoint (`https` true) is, verified against the system's roots. The
/// client certificate, if configured, is presented to servers that ask for one. The
/// certificate must name `host` (a DNS name or an IP address), whichever address the
/// call goes to.
pub fn for_endpoint(
    settings: &ClientTlsSettings,
    https: bool,
    host: &str,
) -> Result<Option<ClientTlsConfig>, TlsError> {
    let config = ClientTlsConfig::new().domain_name(host).timeout(HANDSHAKE_TIMEOUT);
    let config = if !settings.ca_file.is_empty() {
        config.ca_certificate(Certificate::from_pem(read("client.tls.ca_file", &settings.ca_file)?))
    } else if https {
        config.with_native_roots()
    } else {
        return Ok(None);
    };
    Ok(Some(match identity(settings)? {
        Some(identity) => config.identity(identity),
        None => config,
    }))
}

/// The client certificate and key, if configured.
fn identity(settings: &ClientTlsSettings) -> Result<Option<Identity>, TlsError> {
    match (settings.cert_file.is_empty(), settings.key_file.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => Err(TlsError::Incomplete {
            set: "client.tls.cert_file",
            missing: "client.tls.key_file",
        }),
        (true, false) => Err(TlsError::Incomplete {
            set: "client.tls.key_file",
            missing: "client.tls.cert_file",
        }),
        (false, false) => Ok(Some(Identity::from_pem(
            read("client.tls.cert_file", &settings.cert_file)?,
            read("client.tls.key_file", &settings.key_file)?,
        ))),
    }
}
