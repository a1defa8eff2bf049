//! The JWT attack list (../shared/REFERENCE.md), each case against a real JWKS served on
//! loopback by keys generated here.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::auth::testkit::{EcSigner, Idp, RsaSigner, hs256, now, unsigned};

const AUDIENCE: &str = "portico-client";

struct Setup {
    idp: Idp,
    signer: RsaSigner,
    verifier: JwtVerifier,
    audience: Vec<String>,
}

impl Setup {
    async fn new(settings: JwtSettings) -> Setup {
        let signer = RsaSigner::generate("k1");
        let idp = Idp::start(vec![signer.jwk()]).await;
        Setup {
            idp,
            signer,
            verifier: JwtVerifier::new(settings),
            audience: vec![AUDIENCE.to_owned()],
        }
    }

    fn config(&self) -> JwtConfig<'_> {
        JwtConfig {
            issuer: &self.idp.issuer,
            audience: &self.audience,
            jwks_uri: None,
        }
    }

    fn claims(&self) -> Value {
        json!({
            "iss": self.idp.issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "exp": now() + 600,
            "iat": now(),
            "scope": "pets/read pets/write",
        })
    }

    fn with(&self, changes: Value) -> Value {
        let mut claims = self.claims();
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    async fn verify(&self, token: &str) -> Result<Claims, String> {
        self.verifier.verify(&self.config(), token).await
    }
}

#[tokio::test]
async fn a_valid_token_is_verified_once_then_served_from_the_cache() {
    let setup = Setup::new(JwtSettings::default()).await;
    let token = setup.signer.token(&setup.claims());
    let claims = setup.verify(&token).await.expect("valid");
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(
        scopes(&claims).expect("scopes"),
        Some(vec!["pets/read".to_owned(), "pets/write".to_owned()])
    );
    // Discovery found the JWKS; a repeat costs no fetch (and no signature check).
    setup.verify(&token).await.expect("cached");
    assert_eq!(setup.idp.jwks_fetches(), 1);

    // The same token under another audience is checked again, and refused.
    let other = vec!["someone-else".to_owned()];
    let config = JwtConfig {
        audience: &other,
        ..setup.config()
    };
    assert!(setup.verifier.verify(&config, &token).await.is_err());
}

#[tokio::test]
async fn ec_keys_and_cognito_style_client_id() {
    let setup = Setup::new(JwtSettings::default()).await;
    let ec = EcSigner::generate("ec1");
    setup.idp.set_keys(vec![setup.signer.jwk(), ec.jwk()]);
    let token = ec.token(&setup.claims());
    setup.verify(&token).await.expect("ES256");
    // An access token without aud, naming its client.
    let token = setup
        .signer
        .token(&setup.with(json!({"aud": null, "client_id": AUDIENCE})));
    setup.verify(&token).await.expect("client_id");
}

#[tokio::test]
async fn the_attack_list_is_refused() {
    let setup = Setup::new(JwtSettings::default()).await;
    let s = &setup.signer;
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
    let other_key = RsaSigner::generate("k1");
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&setup.claims())),
        (
            "alg none with the key's kid",
            format!(
                "{}.",
                crate::auth::testkit::signing_input(
                    &json!({"alg": "none", "kid": "k1"}),
                    &setup.claims()
                )
            ),
        ),
        (
            "RS/HS confusion: the public key as an HMAC secret",
            hs256(&s.public_der(), &header, &setup.claims()),
        ),
        (
            "RS/HS confusion: the JWK's modulus as a secret",
            hs256(
                setup.signer.jwk()["n"].as_str().expect("n").as_bytes(),
                &header,
                &setup.claims(),
            ),
        ),
        (
            "ES256 header over an RSA key",
            s.sign(&json!({"alg": "ES256", "kid": "k1"}), &setup.claims()),
        ),
        (
            "signed by another key under the same kid",
            other_key.token(&setup.claims()),
        ),
        (
            "exp as a string",
            s.token(&setup.with(json!({"exp": (now() + 600).to_string()}))),
        ),
        (
            "nbf as a string, far in the future",
            s.token(&setup.with(json!({"nbf": "99999999999"}))),
        ),
        ("exp missing", s.token(&setup.with(json!({"exp": null})))),
        ("expired", s.token(&setup.with(json!({"exp": now() - 120})))),
        (
            "not yet valid",
            s.token(&setup.with(json!({"nbf": now() + 600}))),
        ),
        ("iss missing", s.token(&setup.with(json!({"iss": null})))),
        (
            "iss of another issuer",
            s.token(&setup.with(json!({"iss": "https://evil.example"}))),
        ),
        ("iss as a number", s.token(&setup.with(json!({"iss": 7})))),
        ("aud missing", s.token(&setup.with(json!({"aud": null})))),
        (
            "aud of another client",
            s.token(&setup.with(json!({"aud": "other"}))),
        ),
        ("aud as a number", s.token(&setup.with(json!({"aud": 42})))),
        (
            "aud array naming others",
            s.token(&setup.with(json!({"aud": ["a", "b"]}))),
        ),
        (
            "iat as a string",
            s.token(&setup.with(json!({"iat": "now"}))),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
        ("oversized", "a".repeat(MAX_TOKEN_BYTES + 1)),
    ];
    for (case, token) in cases {
        assert!(setup.verify(&token).await.is_err(), "accepted: {case}");
    }
    // None of it made the verifier fetch more than the first JWKS.
    assert!(setup.idp.jwks_fetches() <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_floods_fetch_the_jwks_at_most_once_per_interval() {
    let setup = std::sync::Arc::new(Setup::new(JwtSettings::default()).await);
    setup
        .verify(&setup.signer.token(&setup.claims()))
        .await
        .expect("valid");
    assert_eq!(setup.idp.jwks_fetches(), 1);
    let attacker = std::sync::Arc::new(RsaSigner::generate("attacker"));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (setup, attacker) = (setup.clone(), attacker.clone());
        tasks.push(tokio::spawn(async move {
            let token = attacker.sign(
                &json!({"alg": "RS256", "kid": format!("unknown-{i}")}),
                &setup.claims(),
            );
            setup.verify(&token).await.is_err()
        }));
    }
    for task in tasks {
        assert!(task.await.expect("task"), "an unknown kid was accepted");
    }
    // The JWKS was fetched moments ago: no unknown kid may refetch it within 30 s.
    assert_eq!(setup.idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn rotation_is_picked_up_and_an_outage_keeps_the_known_keys() {
    let setup = Setup::new(JwtSettings {
        jwks_ttl: Duration::ZERO,
        refetch_interval: Duration::ZERO,
        ..JwtSettings::default()
    })
    .await;
    setup
        .verify(&setup.signer.token(&setup.claims()))
        .await
        .expect("valid");
    // Rotation: a new key appears; a token naming it triggers the refetch that finds it.
    let next = RsaSigner::generate("k2");
    setup.idp.set_keys(vec![setup.signer.jwk(), next.jwk()]);
    setup
        .verify(&next.token(&setup.claims()))
        .await
        .expect("rotated key");
    // Outage: every fetch fails (keys are stale at once with a zero TTL), new tokens signed
    // by known keys still verify.
    setup.idp.set_status(500);
    let fetches = setup.idp.jwks_fetches();
    setup
        .verify(&next.token(&setup.with(json!({"sub": "user-2"}))))
        .await
        .expect("known key during an outage");
    assert!(
        setup.idp.jwks_fetches() > fetches,
        "the stale JWKS was tried"
    );
}

#[tokio::test]
async fn a_slow_jwks_is_abandoned_at_the_fetch_timeout() {
    let setup = Setup::new(JwtSettings {
        fetch_timeout: Duration::from_millis(200),
        ..JwtSettings::default()
    })
    .await;
    setup.idp.set_delay(Duration::from_secs(5));
    let started = std::time::Instant::now();
    assert!(
        setup
            .verify(&setup.signer.token(&setup.claims()))
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn scopes_and_claims_of_the_wrong_type() {
    let claims = |v: Value| v.as_object().expect("object").clone();
    assert_eq!(
        scopes(&claims(json!({"scp": ["a", "b"]}))),
        Ok(Some(vec!["a".to_owned(), "b".to_owned()]))
    );
    assert_eq!(scopes(&claims(json!({}))), Ok(None));
    assert!(scopes(&claims(json!({"scope": ["a"]}))).is_err());
    assert!(scopes(&claims(json!({"scp": [1]}))).is_err());
    assert_eq!(claim_text(&json!(["a", "b"])), "[a b]");
    assert_eq!(claim_text(&json!(12)), "12");
    assert_eq!(claim_text(&json!(true)), "true");
}
