//! A server's side of TLS: the rustls configuration of its port from `server.tls`, and
//! which Duban server a verified client certificate names.

use std::sync::Arc;

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
        server::{ParsedCertificate, WebPkiClientVerifier},
    },
};

use super::{SERVER_NAMES, TlsError, read};
use crate::settings::ServerTlsSettings;

/// ALPN: HTTP/2, which gRPC needs.
const H2: &[u8] = b"h2";
/// ALPN: HTTP/1.1, for the gateway's pages, JSON, CSV and gRPC-Web. tonic's own TLS
/// offers only h2, and a client that offers only `http/1.1` (Python's urllib3, `curl
/// --http1.1`) would fail the handshake; that is why kit runs the handshake itself.
const HTTP1: &[u8] = b"http/1.1";

/// The handshake a server's port runs, or `None` when `settings` leave TLS off.
/// `http1`: the port serves HTTP/1.1 too (the gateway), so ALPN offers it beside h2.
pub fn acceptor(settings: &ServerTlsSettings, http1: bool) -> Result<Option<TlsAcceptor>, TlsError> {
    if !settings.enabled() {
        for (set, value) in [
            ("server.tls.key_file", &settings.key_file),
            ("server.tls.client_ca_file", &settings.client_ca_file),
        ] {
            if !value.is_empty() {
                return Err(TlsError::Incomplete {
                    set,
                    missing: "server.tls.cert_file",
                });
            }
        }
        return Ok(None);
    }
    if settings.key_file.is_empty() {
        return Err(TlsError::Incomplete {
            set: "server.tls.cert_file",
            missing: "server.tls.key_file",
        });
    }
    let chain = certificates("server.tls.cert_file", &settings.cert_file)?;
    let key = private_key("server.tls.key_file", &settings.key_file)?;

    // The provider named, not the process default: nothing depends on which rustls
    // features other crates switch on.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error)?;
    let builder = if settings.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(certificates("server.tls.client_ca_file", &settings.client_ca_file)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if settings.require_client_certificate {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        builder.with_client_cert_verifier(verifier.build().map_err(rustls_error)?)
    };
    let mut config = builder.with_single_cert(chain, key).map_err(rustls_error)?;
    config.alpn_protocols = if http1 {
        vec![H2.to_vec(), HTTP1.to_vec()]
    } else {
        vec![H2.to_vec()]
    };
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// The Duban server that a client certificate names (a DNS subject alternative name in
/// [`SERVER_NAMES`]), given the chain the peer presented, end entity first. Only
/// meaningful for a chain the handshake verified against `server.tls.client_ca_file`.
pub fn server_named_by(chain: &[CertificateDer<'_>]) -> Option<&'static str> {
    let certificate = ParsedCertificate::try_from(chain.first()?).ok()?;
    SERVER_NAMES.into_iter().find(|name| {
        ServerName::try_from(*name).is_ok_and(|name| rustls::client::verify_server_name(&certificate, &name).is_ok())
    })
}

/// Every certificate in the PEM file `path`.
pub(crate) fn certificates(setting: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(setting, path)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::Pem {
            setting,
            path: path.into(),
            what: "certificate",
        });
    }
    Ok(chain)
}

/// The private key in the PEM file `path` (PKCS#8, PKCS#1 or SEC1).
fn private_key(setting: &'static str, path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(setting, path)?).map_err(|_| TlsError::Pem {
        setting,
        path: path.into(),
        what: "private key",
    })
}

fn rustls_error(error: impl std::fmt::Display) -> TlsError {
    TlsError::Rustls(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::DevCa;

    fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_certificate_is_a_servers_when_it_names_one() {
        let ca = DevCa::new().unwrap();
        let client = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
            chain(&ca.client(&names).unwrap().certificate)
        };
        assert_eq!(server_named_by(&client(&["reporting"])), Some("reporting"));
        assert_eq!(
            server_named_by(&client(&["tax-bureau-system", "gateway"])),
            Some("gateway")
        );
        assert_eq!(server_named_by(&client(&["tax-bureau-system"])), None);
        assert_eq!(server_named_by(&client(&["reporting.example.org"])), None);
        assert_eq!(server_named_by(&[]), None);
    }

    fn refusal(settings: &ServerTlsSettings) -> String {
        match acceptor(settings, false) {
            Ok(_) => panic!("accepted {settings:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn unusable_settings_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let off = ServerTlsSettings::default();
        assert!(acceptor(&off, false).unwrap().is_none());

        let only_key = ServerTlsSettings {
            key_file: "key.pem".into(),
            ..ServerTlsSettings::default()
        };
        let error = refusal(&only_key);
        assert!(
            error.contains("server.tls.key_file") && error.contains("server.tls.cert_file"),
            "{error}"
        );

        let missing = ServerTlsSettings {
            cert_file: dir.path().join("absent.pem").display().to_string(),
            key_file: "key.pem".into(),
            ..ServerTlsSettings::default()
        };
        let error = refusal(&missing);
        assert!(
            error.contains("server.tls.cert_file") && error.contains("absent.pem"),
            "{error}"
        );

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let garbage = ServerTlsSettings {
            cert_file: not_pem.display().to_string(),
            key_file: not_pem.display().to_string(),
            ..ServerTlsSettings::default()
        };
        let error = refusal(&garbage);
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }
}
