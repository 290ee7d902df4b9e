//! TLS for the harness's own endpoint: a certificate the user provides, or one generated on
//! the fly (with its CA written out for the peer to trust), and optionally a CA whose client
//! certificates the endpoint requires (mutual TLS).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A ready server TLS configuration.
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    /// PEM of the CA that signed a generated certificate: give it to the peer to trust.
    pub generated_ca_pem: Option<String>,
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: holds no certificate"));
    }
    Ok(certs)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    crate::http::client::init_tls();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(&read(ca, "--tls-client-ca")?, "--tls-client-ca")? {
                roots.add(c).map_err(|e| format!("--tls-client-ca: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| format!("--tls-client-ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// TLS from PEM files: a certificate chain and its private key.
pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<ServerTls, String> {
    let chain = certs(&read(cert, "--tls-cert")?, "--tls-cert")?;
    let key = PrivateKeyDer::from_pem_slice(&read(key, "--tls-key")?)
        .map_err(|e| format!("--tls-key: not a PEM private key: {e}"))?;
    Ok(ServerTls {
        config: config(chain, key, client_ca)?,
        generated_ca_pem: None,
    })
}

/// A fresh CA and a certificate it signs for `localhost`, `127.0.0.1` and `::1` plus
/// `extra_names`; the CA's PEM is returned for the peer to trust.
pub fn self_signed(extra_names: &[String], client_ca: Option<&Path>) -> Result<ServerTls, String> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let err = |e: rcgen::Error| format!("cannot generate a TLS certificate: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cdex-harness generated CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?).map_err(err)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut params = CertificateParams::new(names).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "cdex-harness endpoint");
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    let chain = vec![cert.der().clone()];
    let key =
        PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).map_err(|e| e.to_string())?;
    Ok(ServerTls {
        config: config(chain, key, client_ca)?,
        generated_ca_pem: Some(ca.pem()),
    })
}
