//! `duban certs`: a development CA and certificates for every server, for TLS under
//! `duban up`, docker compose and a test cluster (production certificates come from the
//! installation's own CA).

use std::path::Path;

use anyhow::Context;
use duban_kit::tls::certs;

use crate::output::table;

/// Writes a fresh CA and the suite's certificates into `out` (every server certificate
/// also naming `extra_names`), refusing to replace an existing set unless `force`, and
/// prints what each file is for and the settings that use them.
pub fn write(out: &Path, extra_names: &[String], force: bool) -> anyhow::Result<()> {
    let written = certs::write_suite(out, extra_names, force)
        .with_context(|| format!("cannot write certificates into {}", out.display()))?;
    let rows: Vec<Vec<String>> = written
        .iter()
        .map(|file| vec![file.path.display().to_string(), file.purpose.clone()])
        .collect();
    println!("{}", table(&["file", "what it is"], &rows));
    let file = |name: &str| out.join(name).display().to_string();
    println!(
        "TLS for `duban up` (every server certificate names localhost and 127.0.0.1):\n  \
         DUBAN__SERVER__TLS__CERT_FILE={} DUBAN__SERVER__TLS__KEY_FILE={} \\\n  \
         DUBAN__CLIENT__TLS__CA_FILE={} duban up\n\
         Mutual TLS adds DUBAN__SERVER__TLS__CLIENT_CA_FILE={} and the servers' client certificate,\n  \
         DUBAN__CLIENT__TLS__CERT_FILE={} DUBAN__CLIENT__TLS__KEY_FILE={}\n\
         Keys are readable by their owner only. The CA's key was not kept: run again (--force) to add a name.",
        file("gateway.pem"),
        file("gateway-key.pem"),
        file(certs::CA_FILE),
        file(certs::CA_FILE),
        file(certs::SERVICE_FILES.0),
        file(certs::SERVICE_FILES.1),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use duban_kit::settings::ServerTlsSettings;

    #[test]
    fn writes_a_usable_set_once_and_replaces_it_only_when_forced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        write(&out, &["duban.example.gov".to_owned()], false).unwrap();
        let file = |name: &str| out.join(name).display().to_string();
        for server in duban_kit::tls::SERVER_NAMES {
            let settings = ServerTlsSettings {
                cert_file: file(&format!("{server}.pem")),
                key_file: file(&format!("{server}-key.pem")),
                client_ca_file: file(certs::CA_FILE),
                require_client_certificate: true,
            };
            assert!(
                duban_kit::tls::server::acceptor(&settings, server == "gateway")
                    .unwrap()
                    .is_some(),
                "{server}"
            );
            let certificate = std::fs::read_to_string(file(&format!("{server}.pem"))).unwrap();
            assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"), "{server}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["gateway-key.pem", certs::SERVICE_FILES.1] {
                let mode = std::fs::metadata(out.join(key)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }

        let before = std::fs::read_to_string(file(certs::CA_FILE)).unwrap();
        let refused = write(&out, &[], false).unwrap_err();
        assert!(format!("{refused:#}").contains("--force"), "{refused:#}");
        assert_eq!(std::fs::read_to_string(file(certs::CA_FILE)).unwrap(), before);
        write(&out, &[], true).unwrap();
        assert_ne!(std::fs::read_to_string(file(certs::CA_FILE)).unwrap(), before);
    }
}
