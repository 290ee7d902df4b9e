//! SMART Backend Services as the client: the harness signs a JWT client assertion (ES384),
//! trades it for an access token at a token endpoint that verifies the signature and claims,
//! and sends the token to a server that requires it. A key the endpoint does not know gets a
//! clear error (exit 2) and nothing runs. Neither the token nor the assertion reaches any output.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cdex_harness::actors;
use cdex_harness::mock::MockServer;
use ring::signature::{ECDSA_P384_SHA384_FIXED, RSA_PKCS1_2048_8192_SHA384, UnparsedPublicKey};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");
const TOKEN: &str = "issued-access-token-5d2e91";

struct Endpoint {
    /// `ES384` (raw P-384 point) or `RS384` (PKCS#1 RSAPublicKey DER).
    alg: &'static str,
    public_key: Vec<u8>,
    url: String,
}

/// A token endpoint that checks the assertion like a SMART server must.
async fn token(State(ep): State<Arc<Endpoint>>, body: String) -> (StatusCode, String) {
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let refuse = |why: &str| {
        (
            StatusCode::UNAUTHORIZED,
            format!(r#"{{"error":"invalid_client","error_description":"{why}"}}"#),
        )
    };
    if get("grant_type") != "client_credentials"
        || get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        return refuse("wrong grant");
    }
    let jwt = get("client_assertion");
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return refuse("not a JWT");
    }
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
    let input = format!("{}.{}", parts[0], parts[1]);
    let verified = match ep.alg {
        "ES384" => UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &ep.public_key)
            .verify(input.as_bytes(), &sig),
        _ => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, &ep.public_key)
            .verify(input.as_bytes(), &sig),
    };
    if verified.is_err() {
        return refuse("bad signature");
    }
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    if header["alg"] != ep.alg
        || claims["iss"] != "harness-client"
        || claims["sub"] != "harness-client"
        || claims["aud"] != ep.url.as_str()
        || claims["exp"].as_i64().unwrap_or(0) <= now
        || claims["exp"].as_i64().unwrap_or(0) > now + 300
        || claims["jti"].as_str().unwrap_or("").is_empty()
    {
        return refuse("bad claims");
    }
    (
        StatusCode::OK,
        format!(
            r#"{{"access_token":"{TOKEN}","token_type":"bearer","expires_in":300,"scope":"system/*.read"}}"#
        ),
    )
}

fn key_file(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, key.serialize_pem()).unwrap();
    (path, key.public_key_raw().to_vec())
}

/// An RSA key made with OpenSSL (ring cannot generate RSA keys): the PKCS#8 PEM file and
/// the PKCS#1 public key DER.
fn rsa_key_file(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("openssl is needed for the RS384 test")
        .status
        .success();
    assert!(ok, "openssl genpkey failed");
    let der = dir.join(format!("{name}.der"));
    let ok = Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&path)
        .arg("-out")
        .arg(&der)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "openssl rsa failed");
    (path, std::fs::read(der).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_gets_and_uses_a_smart_backend_services_token() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("smart-es-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (good_key, public_key) = key_file(&dir, "client.pem");
    let (other_key, _) = key_file(&dir, "other.pem");
    exercise("ES384", &dir, good_key, public_key, other_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs384_assertions_work_too() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("smart-rs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (good_key, public_key) = rsa_key_file(&dir, "client.pem");
    let (other_key, _) = rsa_key_file(&dir, "other.pem");
    exercise("RS384", &dir, good_key, public_key, other_key).await;
}

async fn exercise(
    alg: &'static str,
    dir: &Path,
    good_key: PathBuf,
    public_key: Vec<u8>,
    other_key: PathBuf,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let ep = Arc::new(Endpoint {
        alg,
        public_key,
        url: url.clone(),
    });
    let app = axum::Router::new()
        .route("/token", post(token))
        .with_state(ep);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A FHIR server that accepts only the issued token.
    let spec = actors::find("information-server").unwrap();
    let actor = (spec.build)(&serde_json::json!({"token": TOKEN}), Default::default()).unwrap();
    let fhir = MockServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), actor.server.unwrap())
        .await
        .unwrap();
    let target = fhir.base_url().to_string();

    let run = |key: PathBuf, out: PathBuf| {
        let (url, target) = (url.clone(), target.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args([
                    "run",
                    "--actor",
                    "information-server",
                    "--scenario",
                    "is-push-create",
                    "--target",
                    &target,
                ])
                .args([
                    "--smart-token-url",
                    &url,
                    "--smart-client-id",
                    "harness-client",
                    "--smart-alg",
                    alg,
                ])
                .arg("--smart-key")
                .arg(key)
                .arg("--out")
                .arg(&out)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        })
    };

    let out = dir.join("ok");
    let o = run(good_key, out.clone()).await.unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("SMART: got an access token"));
    let mut everything = all.clone();
    for f in ["report.html", "junit.xml", "results.json"] {
        everything.push_str(&std::fs::read_to_string(out.join(f)).unwrap());
    }
    assert!(!everything.contains(TOKEN), "the access token leaked");
    assert!(everything.contains("Bearer [REDACTED]"));

    let o = run(other_key, dir.join("refused")).await.unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("answered 401: bad signature"), "{err}");
    assert!(!dir.join("refused/results.json").exists(), "nothing ran");
}
