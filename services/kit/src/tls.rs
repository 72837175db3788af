//! TLS for every server and every call between them, through rustls (ring):
//! [`server`] turns `server.tls` into the handshake a server's port runs, [`client`]
//! turns `client.tls` into tonic's client configuration, and `certs` (feature `certs`)
//! makes the development CA and certificates that `duban certs` writes.
//!
//! Under mutual TLS a caller acts as SERVICE only when its verified client certificate
//! names a Duban server ([`SERVER_NAMES`]) *and* it sends the service token: the
//! certificate proves which machine calls, the token that the call is the service's
//! own and not one it forwards for somebody else (the gateway's front door passes
//! department systems' calls on over its own connections).

#[cfg(any(test, feature = "certs"))]
pub mod certs;
pub mod client;
pub mod server;

use std::path::PathBuf;

/// The servers of the suite, as their certificates name them: the DNS names in the
/// endpoints (`https://departments:50052`), and the names a client certificate must
/// carry for its holder to act as SERVICE.
pub const SERVER_NAMES: [&str; 5] = ["departments", "measures", "targets", "reporting", "gateway"];

/// Why TLS could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A configured file cannot be read.
    #[error("cannot read {setting} {path:?}: {source}")]
    File {
        /// The setting that names it (`server.tls.cert_file`).
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configured file holds no usable PEM certificate or key.
    #[error("{setting} {path:?} holds no PEM {what}")]
    Pem {
        /// The setting that names it.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for: `certificate` or `private key`.
        what: &'static str,
    },
    /// One of a pair of settings is set without the other.
    #[error("{set} is set but {missing} is not")]
    Incomplete {
        /// The setting given.
        set: &'static str,
        /// The one missing.
        missing: &'static str,
    },
    /// rustls refused the certificates or keys.
    #[error("invalid TLS configuration: {0}")]
    Rustls(String),
}

impl From<TlsError> for std::io::Error {
    fn from(error: TlsError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
    }
}

/// The contents of the file `path` names, for `setting`.
fn read(setting: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File {
        setting,
        path: path.into(),
        source,
    })
}
