//! JWT verification (issue 6 goals: RS256 with a cached JWKS ≤ 100 µs p99; a repeat token
//! ≤ 25 µs). The JWKS comes once from an identity provider on loopback; then:
//! - `rs256_fresh_token`: a token never seen (a new `jti` each time), so the signature and
//!   every claim are checked;
//! - `rs256_repeat_token`: the same token again, answered by the verified-token cache.
//!
//! Criterion reports means; the p50 / p99 of 20,000 timed calls of each are printed after.
//! Run: `cargo bench -p portico-gateway --bench jwt`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portico_gateway::auth::jwt::{JwtConfig, JwtSettings, JwtVerifier};
use serde_json::json;

#[path = "../src/auth/testkit.rs"]
mod testkit;

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let signer = testkit::RsaSigner::generate("bench");
    let idp = runtime.block_on(testkit::Idp::start(vec![signer.jwk()]));
    let audience = vec!["bench".to_owned()];
    let config = JwtConfig {
        issuer: &idp.issuer,
        audience: &audience,
        jwks_uri: None,
    };
    let verifier = JwtVerifier::new(JwtSettings::default());
    let claims = |jti: u64| {
        json!({"iss": idp.issuer, "aud": "bench", "sub": "user", "jti": jti,
            "exp": testkit::now() + 3_600, "iat": testkit::now(), "scope": "read write"})
    };
    let repeat = signer.token(&claims(0));
    runtime
        .block_on(verifier.verify(&config, &repeat))
        .expect("the JWKS is fetched and the token verifies");

    let mut jti = 1u64;
    c.bench_function("rs256_fresh_token", |b| {
        b.iter_batched(
            || {
                jti += 1;
                signer.token(&claims(jti))
            },
            |token| {
                runtime
                    .block_on(verifier.verify(&config, black_box(&token)))
                    .expect("verifies")
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("rs256_repeat_token", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(&config, black_box(&repeat)))
                .expect("verifies")
        })
    });

    // Percentiles, from individually timed calls.
    let tokens: Vec<String> = (0..20_000u64)
        .map(|i| signer.token(&claims(1_000_000 + i)))
        .collect();
    let mut fresh = Vec::with_capacity(tokens.len());
    let mut again = Vec::with_capacity(tokens.len());
    runtime.block_on(async {
        for token in &tokens {
            let started = Instant::now();
            black_box(verifier.verify(&config, token).await.expect("verifies"));
            fresh.push(started.elapsed());
            let started = Instant::now();
            black_box(verifier.verify(&config, &repeat).await.expect("verifies"));
            again.push(started.elapsed());
        }
    });
    let (p50, p99) = percentiles(fresh);
    eprintln!("rs256_fresh_token  p50 {p50:?}  p99 {p99:?}  (goal p99 <= 100 µs)");
    let (p50, p99) = percentiles(again);
    eprintln!("rs256_repeat_token p50 {p50:?}  p99 {p99:?}  (goal <= 25 µs)");
}

criterion_group!(jwt, benches);
criterion_main!(jwt);
