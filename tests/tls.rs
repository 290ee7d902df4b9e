//! Real TLS handshakes on loopback, both ways: the harness as a client of an https server
//! under test (trusting a CA it is given, refusing one it is not, presenting a client
//! certificate), and the harness's own endpoint over https for a client under test.

use cdex_harness::actors;
use cdex_harness::http::client::OutgoingRequest;
use cdex_harness::http::tls::ClientTls;
use cdex_harness::mock::MockServer;
use cdex_harness::mock::tls::{self, ServerTls};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");

fn tmp(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn https_reference_server(tls: &ServerTls) -> MockServer {
    let spec = actors::find("information-server").unwrap();
    let actor = (spec.build)(&serde_json::json!({}), Default::default()).unwrap();
    MockServer::start_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        actor.server.unwrap(),
        Some(tls),
    )
    .await
    .unwrap()
}

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_server_under_test_is_trusted_through_ca_cert_and_refused_without() {
    let tls = tls::self_signed(&[], None).unwrap();
    let server = https_reference_server(&tls).await;
    let dir = tmp("server");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, tls.generated_ca_pem.as_ref().unwrap()).unwrap();
    let target = server.base_url().to_string();
    assert!(target.starts_with("https://"));

    let (out, ca_s, target2) = (
        dir.join("ok"),
        ca.to_str().unwrap().to_string(),
        target.clone(),
    );
    let o = tokio::task::spawn_blocking(move || {
        harness(&[
            "run",
            "--actor",
            "information-server",
            "--scenario",
            "is-push-create",
            "--target",
            &target2,
            "--ca-cert",
            &ca_s,
            "--out",
            out.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let out = dir.join("refused");
    let out_s = out.to_str().unwrap().to_string();
    let o = tokio::task::spawn_blocking(move || {
        harness(&[
            "run",
            "--actor",
            "information-server",
            "--scenario",
            "is-push-create",
            "--target",
            &target,
            "--timeout",
            "3s",
            "--out",
            &out_s,
        ])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {results}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    // A client CA and a client certificate it signs.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test client CA");
    let client_ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["cdex-client".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "cdex-client");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &client_ca).unwrap();
    let dir = tmp("mtls");
    let (ca_file, cert_file, key_file, server_ca) = (
        dir.join("client-ca.pem"),
        dir.join("client.pem"),
        dir.join("client.key"),
        dir.join("server-ca.pem"),
    );
    std::fs::write(&ca_file, client_ca.pem()).unwrap();
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let tls = tls::self_signed(&[], Some(&ca_file)).unwrap();
    std::fs::write(&server_ca, tls.generated_ca_pem.as_ref().unwrap()).unwrap();
    let server = https_reference_server(&tls).await;
    let get = |client: cdex_harness::http::client::HttpClient| {
        let url = format!("{}/metadata", server.base_url());
        async move {
            client
                .send(
                    OutgoingRequest {
                        method: "GET".into(),
                        url,
                        path: "metadata".into(),
                        headers: vec![],
                        body: None,
                    },
                    Duration::from_secs(5),
                )
                .await
        }
    };
    let with_cert = ClientTls {
        ca_files: vec![server_ca.clone()],
        client_cert: Some(cert_file),
        client_key: Some(key_file),
    };
    let x = get(with_cert.client().unwrap()).await;
    assert_eq!(
        x.response.as_ref().and_then(|r| r.status),
        Some(200),
        "{:?}",
        x.error
    );

    let without = ClientTls {
        ca_files: vec![server_ca],
        ..Default::default()
    };
    let x = get(without.client().unwrap()).await;
    assert!(
        x.response.is_none(),
        "the endpoint refused a client without a certificate"
    );
    assert!(x.error.is_some());
    assert_eq!(
        server.recorder().since(0).len(),
        1,
        "only the authenticated exchange reached the endpoint"
    );
}

#[test]
fn client_under_test_talks_to_the_harness_over_https_with_a_generated_certificate() {
    let out = tmp("client");
    let trigger = format!("{BIN} act");
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-push",
        "--scenario",
        "ic-pull",
        "--tls-self-signed",
        "--trigger",
        &trigger,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read_to_string(out.join("harness-ca.pem"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.contains("\"url\": \"https://127.0.0.1:"),
        "the client's requests came over https"
    );
}

#[test]
fn bad_tls_options_are_usage_errors() {
    let o = harness(&[
        "run",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.pem"));
    let o = harness(&["run", "--client-cert", "/x.pem"]);
    assert_eq!(o.status.code(), Some(2));
    let o = harness(&["run", "--ca-cert", "Cargo.toml"]);
    assert_eq!(o.status.code(), Some(2));
}
