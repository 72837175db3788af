//! A development CA and the suite's certificates, generated with rcgen (the rustls
//! project's generator, no `openssl` needed): what `duban certs` writes for `duban up`,
//! docker compose and a test cluster, and what tests start TLS servers with. Keys are
//! ECDSA P-256; certificates are valid from yesterday for a year. The CA's own key is
//! never written: to add a name, generate the whole set again.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{Datelike, Days, NaiveDate, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::SERVER_NAMES;

/// The names every server certificate carries besides its server's own, so that the
/// same files serve `duban up` on loopback and the tests.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The files of the client certificate every server presents under mutual TLS.
pub const SERVICE_FILES: (&str, &str) = ("service.pem", "service-key.pem");

/// The CA's certificate file.
pub const CA_FILE: &str = "ca.pem";

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// rcgen refused a name or failed to sign.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("cannot write {path:?}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory already holds certificates, and overwriting was not asked for.
    #[error("{0:?} exists; pass --force to replace the whole set (certificates of the old CA stop being trusted)")]
    Exists(PathBuf),
}

/// A certificate and its private key, in PEM.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate.
    pub certificate: String,
    /// Its private key (PKCS#8).
    pub private_key: String,
}

/// A development certificate authority, held in memory.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A fresh CA with a new key.
    pub fn new() -> Result<DevCa, CertsError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "Duban development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        valid_for_a_year(&mut params);
        Ok(DevCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate()?)?,
        })
    }

    /// The CA's certificate: what clients and mutual-TLS servers trust.
    pub fn certificate(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is also its
    /// common name).
    pub fn server(&self, names: &[String]) -> Result<Pair, CertsError> {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate for `names`. It lets its holder act as SERVICE when one of
    /// them is a Duban server's name (`tls::SERVER_NAMES`).
    pub fn client(&self, names: &[String]) -> Result<Pair, CertsError> {
        self.issue(names, ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// Writes this CA's certificate and the suite's certificates into `dir`: `ca.pem`,
    /// for each server `<server>.pem` and `<server>-key.pem` naming the server, the
    /// loopback names and `extra_names` (a public name of the gateway, say), and
    /// `service.pem` with `service-key.pem`, the client certificate every server
    /// presents under mutual TLS (it names the five servers). Keys are readable by
    /// their owner only. Refuses to replace an existing set unless `overwrite`.
    pub fn write_suite(&self, dir: &Path, extra_names: &[String], overwrite: bool) -> Result<Vec<Written>, CertsError> {
        let mut files: Vec<(PathBuf, String, bool, String)> = vec![(
            dir.join(CA_FILE),
            self.certificate(),
            false,
            "the development CA: client.tls.ca_file, and server.tls.client_ca_file for mutual TLS".to_owned(),
        )];
        for server in SERVER_NAMES {
            let names: Vec<String> = std::iter::once(server)
                .chain(LOOPBACK_NAMES)
                .map(str::to_owned)
                .chain(extra_names.iter().cloned())
                .collect();
            let pair = self.server(&names)?;
            files.push((
                dir.join(format!("{server}.pem")),
                pair.certificate,
                false,
                format!(
                    "the {server} server's certificate ({}): server.tls.cert_file",
                    names.join(", ")
                ),
            ));
            files.push((
                dir.join(format!("{server}-key.pem")),
                pair.private_key,
                true,
                "its key: server.tls.key_file".to_owned(),
            ));
        }
        let service = self.client(&SERVER_NAMES.map(str::to_owned))?;
        files.push((
            dir.join(SERVICE_FILES.0),
            service.certificate,
            false,
            "the servers' client certificate for mutual TLS: client.tls.cert_file".to_owned(),
        ));
        files.push((
            dir.join(SERVICE_FILES.1),
            service.private_key,
            true,
            "its key: client.tls.key_file".to_owned(),
        ));

        if !overwrite && let Some((existing, ..)) = files.iter().find(|(path, ..)| path.exists()) {
            return Err(CertsError::Exists(existing.clone()));
        }
        std::fs::create_dir_all(dir).map_err(|source| CertsError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut written = Vec::new();
        for (path, contents, private, purpose) in files {
            write(&path, &contents, private).map_err(|source| CertsError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(Written { path, purpose });
        }
        Ok(written)
    }

    fn issue(&self, names: &[String], usage: ExtendedKeyUsagePurpose) -> Result<Pair, CertsError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(name) = names.first() {
            params.distinguished_name.push(DnType::CommonName, name.as_str());
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        valid_for_a_year(&mut params);
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(Pair {
            certificate: certificate.pem(),
            private_key: key.serialize_pem(),
        })
    }
}

/// From yesterday (clocks differ a little) for a year.
fn valid_for_a_year(params: &mut CertificateParams) {
    let today = Utc::now().date_naive();
    let day = |date: NaiveDate| {
        // Month and day always fit in a u8.
        rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
    };
    params.not_before = day(today - Days::new(1));
    params.not_after = day(today + Days::new(365));
}

/// One file written, and what it is for.
#[derive(Debug, Clone)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// What it is, and which setting takes it.
    pub purpose: String,
}

/// Writes a fresh CA and the suite's certificates into `dir` (see
/// [`DevCa::write_suite`]): what `duban certs` does.
pub fn write_suite(dir: &Path, extra_names: &[String], overwrite: bool) -> Result<Vec<Written>, CertsError> {
    DevCa::new()?.write_suite(dir, extra_names, overwrite)
}

/// Writes `contents` to `path`; a private file is readable by its owner only (also
/// when it replaces a file that was not).
fn write(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 }))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(contents.as_bytes())
}
