//! Test support, not part of the gateway (compiled only into tests and benches): keys generated
//! in the test, their JWKS entries, and tokens signed with them. Signing goes through aws-lc-rs
//! directly, so the tests do not rely on the library they test to make their tokens.

#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

fn encode(part: &Value) -> String {
    B64.encode(serde_json::to_vec(part).expect("json"))
}

/// `header.claims`, base64url-encoded: what a JWS signs.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", encode(header), encode(claims))
}

pub struct RsaSigner {
    key: RsaKeyPair,
    pub kid: String,
}

impl RsaSigner {
    pub fn generate(kid: &str) -> RsaSigner {
        RsaSigner {
            key: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
            kid: kid.to_owned(),
        }
    }

    /// The public key as a JWKS entry.
    pub fn jwk(&self) -> Value {
        let public = self.key.public_key();
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The public key's DER bytes: what an RS/HS confusion attack uses as an HMAC secret.
    pub fn public_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Signs `header.claims` with RS256, whatever `header` claims the algorithm is.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("sign");
        format!("{input}.{}", B64.encode(signature))
    }

    /// A well-formed RS256 token for `claims`, naming this key.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

pub struct EcSigner {
    key: EcdsaKeyPair,
    pub kid: String,
}

impl EcSigner {
    pub fn generate(kid: &str) -> EcSigner {
        EcSigner {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key"),
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        // Uncompressed point: 0x04 || x || y.
        let point = self.key.public_key().as_ref();
        json!({
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "x": B64.encode(&point[1..33]),
            "y": B64.encode(&point[33..65]),
        })
    }

    pub fn token(&self, claims: &Value) -> String {
        let input = signing_input(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            claims,
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", B64.encode(signature.as_ref()))
    }
}

/// An HS256 token made with `secret`.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

/// An `alg: none` token: no signature at all.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.",
        signing_input(&json!({"alg": "none", "typ": "JWT"}), claims)
    )
}

/// Seconds since the epoch, for `exp` / `nbf` / `iat`.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// An identity provider on loopback: OIDC discovery at `/.well-known/openid-configuration`
/// (pointing at `/keys`) and the JWKS at `/keys`, which a test can change, break, or count.
pub struct Idp {
    pub issuer: String,
    state: std::sync::Arc<std::sync::Mutex<IdpState>>,
    task: tokio::task::JoinHandle<()>,
}

struct IdpState {
    jwks: Value,
    status: u16,
    delay: std::time::Duration,
    jwks_fetches: u64,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Idp {
    pub async fn start(keys: Vec<Value>) -> Idp {
        use http_body_util::Full;
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let state = std::sync::Arc::new(std::sync::Mutex::new(IdpState {
            jwks: json!({ "keys": keys }),
            status: 200,
            delay: std::time::Duration::ZERO,
            jwks_fetches: 0,
        }));
        let (shared, base) = (state.clone(), issuer.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, base) = (shared.clone(), base.clone());
                tokio::spawn(async move {
                    let service = service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (state, base) = (state.clone(), base.clone());
                            async move {
                                let (status, body, delay) = {
                                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                                    match request.uri().path() {
                                        "/.well-known/openid-configuration" => (
                                            200,
                                            json!({"issuer": base, "jwks_uri": format!("{base}/keys")}),
                                            std::time::Duration::ZERO,
                                        ),
                                        "/keys" => {
                                            state.jwks_fetches += 1;
                                            (state.status, state.jwks.clone(), state.delay)
                                        }
                                        _ => (404, json!({}), std::time::Duration::ZERO),
                                    }
                                };
                                tokio::time::sleep(delay).await;
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .body(Full::new(bytes::Bytes::from(body.to_string())))
                                        .expect("response"),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Idp {
            issuer,
            state,
            task,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut IdpState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/keys", self.issuer)
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.with(|s| s.jwks_fetches)
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        self.with(|s| s.jwks = json!({ "keys": keys }));
    }

    /// Makes the JWKS answer `status` (500: an outage).
    pub fn set_status(&self, status: u16) {
        self.with(|s| s.status = status);
    }

    pub fn set_delay(&self, delay: std::time::Duration) {
        self.with(|s| s.delay = delay);
    }
}
