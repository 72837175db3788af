//! The suite over TLS: a fresh development CA and the suite's certificates (made by the
//! code behind `duban certs`) in a temporary directory, and the settings that use them.

use std::path::{Path, PathBuf};

use duban_kit::{
    Settings,
    settings::ClientSettings,
    tls::certs::{CA_FILE, CertsError, DevCa, SERVICE_FILES},
};
use tempfile::TempDir;

/// How the suite's servers and the harness's clients talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// No TLS (the default).
    #[default]
    Plaintext,
    /// TLS on every port; every client (the servers' and the harness's) trusts the CA.
    Tls,
    /// TLS with client certificates verified against the CA (`server.tls.client_ca_file`),
    /// refused without one when `require_client_certificate`. The servers, and the
    /// harness's clients, present the service certificate (`service.pem`, naming the
    /// five servers).
    MutualTls {
        /// `server.tls.require_client_certificate`.
        require_client_certificate: bool,
    },
}

/// The suite's CA and certificates, removed with the suite.
pub struct Certificates {
    dir: TempDir,
    ca: DevCa,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("dir", &self.dir.path()).finish()
    }
}

impl Certificates {
    /// Writes a fresh set and points `settings` at it for `transport`. Every server
    /// uses the gateway's certificate: the servers share one set of settings, and every
    /// server certificate names 127.0.0.1, where they all listen.
    pub(crate) fn new(transport: Transport, settings: &mut Settings) -> Result<Certificates, CertsError> {
        let dir = tempfile::tempdir().map_err(|source| CertsError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let ca = DevCa::new()?;
        ca.write_suite(dir.path(), &[], false)?;
        let certificates = Certificates { dir, ca };
        let file = |name: &str| certificates.file(name);
        settings.server.tls.cert_file = file("gateway.pem");
        settings.server.tls.key_file = file("gateway-key.pem");
        settings.client.tls.ca_file = file(CA_FILE);
        if let Transport::MutualTls {
            require_client_certificate,
        } = transport
        {
            settings.server.tls.client_ca_file = file(CA_FILE);
            settings.server.tls.require_client_certificate = require_client_certificate;
            settings.client.tls.cert_file = file(SERVICE_FILES.0);
            settings.client.tls.key_file = file(SERVICE_FILES.1);
        }
        Ok(certificates)
    }

    /// The directory the certificates are in (`ca.pem`, `<server>.pem`, `service.pem` …).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the directory, as a setting takes it.
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The CA, to issue more certificates.
    pub fn ca(&self) -> &DevCa {
        &self.ca
    }

    /// Client settings that trust the CA and present a fresh client certificate for
    /// `names` (written beside the others as `<first name>-client.pem`).
    ///
    /// # Panics
    ///
    /// If the certificate cannot be made or written.
    pub fn client_presenting(&self, names: &[&str]) -> ClientSettings {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let pair = self
            .ca
            .client(&names)
            .unwrap_or_else(|error| panic!("cannot issue a client certificate: {error}"));
        let stem = names.first().map_or("client", String::as_str);
        let write = |suffix: &str, contents: &str| -> PathBuf {
            let path = self.dir.path().join(format!("{stem}-client{suffix}.pem"));
            std::fs::write(&path, contents).unwrap_or_else(|error| panic!("cannot write {path:?}: {error}"));
            path
        };
        let mut client = self.client_trusting();
        client.tls.cert_file = write("", &pair.certificate).display().to_string();
        client.tls.key_file = write("-key", &pair.private_key).display().to_string();
        client
    }

    /// Client settings that trust the CA and present no certificate.
    pub fn client_trusting(&self) -> ClientSettings {
        let mut client = ClientSettings::default();
        client.tls.ca_file = self.file(CA_FILE);
        client
    }
}
