//! TLS for the harness as a client: extra trusted CAs (a connectathon's private CA, a
//! vendor's test CA) and a client certificate for mutual TLS.

use super::client::HttpClient;
use std::path::PathBuf;

/// Client-side TLS settings; the default trusts the system's CAs and presents no certificate.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM files of CA certificates to trust besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// PEM certificate (chain) and private key to present (mutual TLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl ClientTls {
    pub fn is_default(&self) -> bool {
        self.ca_files.is_empty() && self.client_cert.is_none() && self.client_key.is_none()
    }

    /// A client with these settings.
    pub fn client(&self) -> Result<HttpClient, String> {
        if self.is_default() {
            return HttpClient::shared();
        }
        super::client::init_tls();
        let mut roots = Vec::new();
        for f in &self.ca_files {
            let pem = std::fs::read(f).map_err(|e| format!("--ca-cert {}: {e}", f.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "--ca-cert {}: not a PEM certificate bundle: {e}",
                    f.display()
                )
            })?;
            if certs.is_empty() {
                return Err(format!("--ca-cert {}: holds no certificate", f.display()));
            }
            roots.extend(certs);
        }
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => {
                let mut pem =
                    std::fs::read(c).map_err(|e| format!("--client-cert {}: {e}", c.display()))?;
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(k).map_err(|e| format!("--client-key {}: {e}", k.display()))?,
                );
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!(
                        "--client-cert/--client-key: not a PEM certificate and private key: {e}"
                    )
                })?)
            }
            (None, None) => None,
            _ => return Err("--client-cert and --client-key go together".into()),
        };
        HttpClient::build(roots, identity).map_err(|e| format!("cannot build the TLS client: {e}"))
    }
}
