//! SMART Backend Services for the harness as a client: get an access token from the
//! server's token endpoint with `client_credentials` and a JWT client assertion signed with
//! the client's private key (RS384 or ES384), then send it as a bearer token.
//!
//! The JWT is assembled here (three base64url parts joined by dots); the signing is ring's,
//! the crypto provider the rest of the harness already uses, rather than a second crypto stack
//! from a JWT crate.

use super::client::{HttpClient, OutgoingRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// What `--smart-*` options give.
#[derive(Debug, Clone)]
pub struct SmartBackend {
    pub token_url: String,
    pub client_id: String,
    /// PKCS#8 PEM private key.
    pub key_file: PathBuf,
    /// `RS384` or `ES384`.
    pub alg: String,
    pub scope: String,
    /// Key id announced in the JWT header (the `kid` of the client's JWKS).
    pub kid: Option<String>,
}

/// A token and what to redact.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: String,
    pub expires_in: Option<u64>,
    /// The signed assertion (a credential too).
    pub assertion: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signed client assertion.
pub fn assertion(cfg: &SmartBackend, now: i64, jti: &str) -> Result<String, String> {
    let pem = std::fs::read(&cfg.key_file)
        .map_err(|e| format!("--smart-key {}: {e}", cfg.key_file.display()))?;
    let key = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "--smart-key {}: not a PKCS#8 PEM private key: {e}",
            cfg.key_file.display()
        )
    })?;
    let mut header = json!({"alg": cfg.alg, "typ": "JWT"});
    if let Some(kid) = &cfg.kid {
        header["kid"] = Value::String(kid.clone());
    }
    let claims = json!({
        "iss": cfg.client_id, "sub": cfg.client_id, "aud": cfg.token_url,
        "exp": now + 300, "iat": now, "jti": jti,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let rng = SystemRandom::new();
    let sig = match cfg.alg.as_str() {
        "RS384" => {
            let pair = RsaKeyPair::from_pkcs8(key.secret_pkcs8_der())
                .map_err(|e| format!("--smart-key: not an RSA key: {e}"))?;
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(
                &signature::RSA_PKCS1_SHA384,
                &rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| format!("cannot sign the SMART assertion: {e}"))?;
            sig
        }
        "ES384" => {
            let pair = EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                key.secret_pkcs8_der(),
                &rng,
            )
            .map_err(|e| format!("--smart-key: not a P-384 EC key: {e}"))?;
            pair.sign(&rng, signing_input.as_bytes())
                .map_err(|e| format!("cannot sign the SMART assertion: {e}"))?
                .as_ref()
                .to_vec()
        }
        other => {
            return Err(format!(
                "--smart-alg `{other}`: SMART Backend Services uses RS384 or ES384"
            ));
        }
    };
    Ok(format!("{signing_input}.{}", b64(&sig)))
}

/// Ask the token endpoint for an access token.
pub async fn fetch_token(
    cfg: &SmartBackend,
    client: &HttpClient,
    timeout: Duration,
) -> Result<Token, String> {
    let now = chrono::Utc::now().timestamp();
    let jti = format!("{}-{}", now, std::process::id());
    let assertion = assertion(cfg, now, &jti)?;
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", &cfg.scope)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", &assertion)
        .finish();
    let x = client
        .send(
            OutgoingRequest {
                method: "POST".into(),
                url: cfg.token_url.clone(),
                path: cfg.token_url.clone(),
                headers: vec![
                    (
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ),
                    ("Accept".into(), "application/json".into()),
                ],
                body: Some(form.into_bytes()),
            },
            timeout,
        )
        .await;
    let resp = match (x.response, x.error) {
        (Some(r), _) => r,
        (None, e) => {
            return Err(format!(
                "the SMART token request to {} failed: {}",
                cfg.token_url,
                e.unwrap_or_default()
            ));
        }
    };
    let status = resp.status.unwrap_or(0);
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let why = body
            .get("error_description")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(format!(
            "the SMART token endpoint {} answered {status}: {why}",
            cfg.token_url
        ));
    }
    let access_token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            format!(
                "the SMART token endpoint {} answered without an access_token",
                cfg.token_url
            )
        })?
        .to_string();
    Ok(Token {
        access_token,
        expires_in: body.get("expires_in").and_then(Value::as_u64),
        assertion,
    })
}
