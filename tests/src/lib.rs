//! Test harness for Portico's integration and end-to-end tests, all on real parts:
//!
//! - [`dynamodb`]: a client for the dynalite server `./infra/test` started, and fresh,
//!   uniquely named tables per test so tests never see each other's items.
//! - [`backend`]: a real HTTP server on loopback that reports what it received.
//! - [`jwt`]: RSA and EC keys, signed tokens and a JWKS server (an identity provider).
//! - [`fleet`]: several front instances in process, each with its own memory and clients,
//!   over one DynamoDB server (what the counters table sees of many Lambda instances).
//! - [`stack`]: the admin and front functions as `cargo lambda watch` serves them, through
//!   their function URLs.
//!
//! The tests themselves live in `tests/` beside this crate: `store.rs` (the DynamoDB adapter),
//! `admin.rs` (the admin API in process over dynalite), `template.rs` (template.yaml against
//! the table definitions) and `e2e.rs` (whole requests through `cargo lambda watch`) and `limits.rs` (throttles and
//! quotas across instances, and with the counters table down).

pub mod backend;
pub mod dynamodb;
pub mod fleet;
/// Keys, tokens and a loopback identity provider for JWT tests: the gateway's own test kit,
/// shared so unit, end-to-end and benchmark tokens are made one way.
#[path = "../../shared/gateway/src/auth/testkit.rs"]
pub mod jwt;
pub mod stack;

/// A variable `./infra/test` sets. Missing means the suite was not started by it: fail loudly
/// rather than skip, so a test can never pass by not running.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with ./infra/test, which starts dynalite and cargo lambda watch")
    })
}
