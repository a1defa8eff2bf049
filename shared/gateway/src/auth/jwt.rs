//! JWT authorizers (HTTP API style; a Cognito user pool is one issuer among others).
//!
//! A token is accepted only if all of these hold:
//! - its algorithm is one the key allows: the key's own `alg`, else its type's family (RSA:
//!   RS*/PS*, EC: the curve's ES*, OKP: EdDSA). The token's `alg` only selects among those; it
//!   never chooses the family, so `none` and HMAC (the RS/HS confusion, where the public key
//!   is used as a secret) are refused whatever the JWKS holds;
//! - the signature verifies with the key its `kid` names in the issuer's JWKS;
//! - `exp` is present and a number, and not past; `nbf`, when present, is a number and not in
//!   the future (both with [`LEEWAY_S`]); a claim of the wrong type is a failure, never an
//!   absence (jsonwebtoken is pinned to a release with that behaviour);
//! - `iss` is the authorizer's issuer;
//! - `aud` (a string or an array) names one of the audiences, or, when the token has no `aud`,
//!   `client_id` does (Cognito access tokens).
//!
//! JWKS are cached per instance for [`JwtSettings::jwks_ttl`]. An unknown `kid` refetches at
//! most once per [`JwtSettings::refetch_interval`] per JWKS, however many requests carry
//! unknown kids, and concurrent misses wait for one fetch rather than each making their own.
//! A failed fetch keeps the keys already known. Fetches are bounded by
//! [`JwtSettings::fetch_timeout`] (API Gateway's 1.5 s) and [`MAX_DOCUMENT_BYTES`].
//!
//! A verified token is cached by a SHA-256 of the authorizer's issuer and audiences and the
//! token, until its `exp`: a repeat token costs a hash and a map lookup, not a signature check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: u64 = 10;
/// Larger tokens are refused before any parsing (an identity header is at most a few KB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Larger discovery or JWKS documents are refused.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Verified tokens kept per instance; past it, expired ones go, then all.
const MAX_CACHED_TOKENS: usize = 10_000;
/// A JWKS that could not be fetched at all is tried again at most this often.
const COLD_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// How long fetched keys are trusted before they are fetched again.
    pub jwks_ttl: Duration,
    /// The least time between two fetches of one JWKS for unknown `kid`s or stale keys.
    pub refetch_interval: Duration,
    /// The bound on one fetch (discovery included).
    pub fetch_timeout: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            jwks_ttl: Duration::from_secs(3_600),
            refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_millis(1_500),
        }
    }
}

/// What a JWT authorizer checks a token against.
#[derive(Debug, Clone, Copy)]
pub struct JwtConfig<'a> {
    pub issuer: &'a str,
    pub audience: &'a [String],
    pub jwks_uri: Option<&'a str>,
}

/// A verified token's claims, as the integration sees them.
pub type Claims = Arc<Map<String, Value>>;

struct Key {
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// Keys without a `kid`: usable only by a token without one, when the set has one key.
    unnamed: Vec<Arc<Key>>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() + self.unnamed.len() == 1 => self
                .unnamed
                .first()
                .or_else(|| self.by_kid.values().next())
                .cloned(),
            None => None,
        }
    }
}

#[derive(Default)]
struct JwksState {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

#[derive(Default)]
struct Jwks {
    state: Mutex<JwksState>,
    /// Held while fetching, so concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

struct Verified {
    claims: Claims,
    exp: u64,
}

/// Per-instance JWT verification: JWKS and verified tokens, shared by every request.
pub struct JwtVerifier {
    http: reqwest::Client,
    settings: JwtSettings,
    jwks: Mutex<HashMap<String, Arc<Jwks>>>,
    tokens: Mutex<HashMap<[u8; 32], Verified>>,
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The algorithms a JWKS entry may verify, decided by the key alone.
fn key_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Vec::new();
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        // Symmetric keys have no place in a public key set; anything else is unknown.
        _ => Vec::new(),
    };
    let Some(declared) = jwk.common.key_algorithm else {
        return family;
    };
    let declared = match declared {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return Vec::new(),
    };
    // A declared algorithm outside the key's family is a broken entry, not a permission.
    if family.contains(&declared) {
        vec![declared]
    } else {
        Vec::new()
    }
}

/// Parses a JWKS document; entries this front cannot use are skipped, not fatal.
fn parse_jwks(document: &[u8]) -> Result<KeySet, String> {
    let value: Value =
        serde_json::from_slice(document).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let entries = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no keys array")?;
    let mut set = KeySet::default();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let algorithms = key_algorithms(&jwk);
        if algorithms.is_empty() {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = Arc::new(Key {
            decoding,
            algorithms,
        });
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, key);
            }
            None => set.unnamed.push(key),
        }
    }
    Ok(set)
}

/// `aud` or, without one, `client_id`, against the configured audiences. A claim of the wrong
/// type fails. No configured audience: not checked (a REST API's Cognito authorizer).
fn audience_ok(claims: &Map<String, Value>, audience: &[String]) -> Result<(), String> {
    let named = |v: &Value| v.as_str().is_some_and(|s| audience.iter().any(|a| a == s));
    match claims.get("aud") {
        Some(Value::String(_)) | Some(Value::Array(_)) if audience.is_empty() => Ok(()),
        Some(aud @ Value::String(_)) if named(aud) => Ok(()),
        Some(Value::Array(items))
            if items.iter().all(Value::is_string) && items.iter().any(named) =>
        {
            Ok(())
        }
        Some(Value::String(_)) | Some(Value::Array(_)) => {
            Err("aud names none of the audiences".into())
        }
        Some(_) => Err("aud is neither a string nor an array of strings".into()),
        None => match claims.get("client_id") {
            None if audience.is_empty() => Ok(()),
            Some(id) if named(id) || (audience.is_empty() && id.is_string()) => Ok(()),
            Some(Value::String(_)) => Err("client_id names none of the audiences".into()),
            Some(_) => Err("client_id is not a string".into()),
            None => Err("the token has neither aud nor client_id".into()),
        },
    }
}

/// The token's scopes: `scope` (space-separated) or `scp` (an array, or a string). `None`
/// when it has neither; an error when one is of the wrong type.
pub fn scopes(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Ok(Some(split(s))),
        (Some(_), _) => Err("scope is not a string".into()),
        (None, Some(Value::String(s))) => Ok(Some(split(s))),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| "scp holds something other than strings".into()),
        (None, Some(_)) => Err("scp is neither a string nor an array".into()),
        (None, None) => Ok(None),
    }
}

impl JwtVerifier {
    pub fn new(settings: JwtSettings) -> JwtVerifier {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .timeout(settings.fetch_timeout)
            .build()
            .unwrap_or_default();
        JwtVerifier {
            http,
            settings,
            jwks: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `token` for `config`; the error is the reason, for the access log only.
    pub async fn verify(&self, config: &JwtConfig<'_>, token: &str) -> Result<Claims, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("the token is over {MAX_TOKEN_BYTES} bytes"));
        }
        let cache_key = token_key(config, token);
        let now = now_s();
        if let Some(claims) = self.cached(&cache_key, now) {
            return Ok(claims);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("HMAC-signed tokens are never accepted".into());
        }
        let key = self.key(config, header.kid.as_deref()).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(format!("the key does not allow {:?}", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_S;
        validation.set_issuer(&[config.issuer]);
        // Checked below, with client_id as API Gateway does.
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| format!("token refused: {e}"))?;
        let claims = data.claims;
        audience_ok(&claims, config.audience)?;
        if claims.get("iat").is_some_and(|iat| !iat.is_number()) {
            return Err("iat is not a number".into());
        }
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let claims = Arc::new(claims);
        self.remember(cache_key, claims.clone(), exp, now);
        Ok(claims)
    }

    fn cached(&self, key: &[u8; 32], now: u64) -> Option<Claims> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(key)
            .filter(|v| now <= v.exp.saturating_add(LEEWAY_S))
            .map(|v| v.claims.clone())
    }

    fn remember(&self, key: [u8; 32], claims: Claims, exp: u64, now: u64) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.retain(|_, v| now <= v.exp.saturating_add(LEEWAY_S));
            if tokens.len() >= MAX_CACHED_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(key, Verified { claims, exp });
    }

    fn jwks_of(&self, config: &JwtConfig<'_>) -> Arc<Jwks> {
        let id = format!("{}\n{}", config.issuer, config.jwks_uri.unwrap_or_default());
        let mut all = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(id).or_default().clone()
    }

    /// The key `kid` names, fetching the JWKS when it is unknown or stale, within the bounds
    /// in the module doc.
    async fn key(&self, config: &JwtConfig<'_>, kid: Option<&str>) -> Result<Arc<Key>, String> {
        let jwks = self.jwks_of(config);
        let fresh = |state: &JwksState| {
            state
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.settings.jwks_ttl)
        };
        {
            let state = jwks.state.lock().unwrap_or_else(|e| e.into_inner());
            if fresh(&state)
                && let Some(key) = state.keys.find(kid)
            {
                return Ok(key);
            }
        }
        let _fetching = jwks.fetching.lock().await;
        let may_fetch = {
            let mut state = jwks.state.lock().unwrap_or_else(|e| e.into_inner());
            // Fetched by the request this one waited for.
            if fresh(&state)
                && let Some(key) = state.keys.find(kid)
            {
                return Ok(key);
            }
            let interval = if state.fetched_at.is_some() {
                self.settings.refetch_interval
            } else {
                COLD_RETRY
            };
            let may = state.last_attempt.is_none_or(|t| t.elapsed() >= interval);
            if may {
                state.last_attempt = Some(Instant::now());
            }
            may
        };
        if may_fetch {
            match self.fetch(config).await {
                Ok(keys) => {
                    let mut state = jwks.state.lock().unwrap_or_else(|e| e.into_inner());
                    state.keys = Arc::new(keys);
                    state.fetched_at = Some(Instant::now());
                }
                Err(reason) => {
                    tracing::warn!(issuer = config.issuer, %reason, "JWKS fetch failed; keeping the keys already known");
                }
            }
        }
        let state = jwks.state.lock().unwrap_or_else(|e| e.into_inner());
        state.keys.find(kid).ok_or_else(|| match kid {
            Some(kid) => format!("no key {kid:?} in the issuer's JWKS"),
            None => "the token names no kid and the JWKS has more than one key".into(),
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: over {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The JWKS: from `jwks_uri`, else found by OIDC discovery from the issuer, else at the
    /// issuer's `/.well-known/jwks.json`.
    async fn fetch(&self, config: &JwtConfig<'_>) -> Result<KeySet, String> {
        let work = async {
            let issuer = config.issuer.trim_end_matches('/');
            let uri = match config.jwks_uri {
                Some(uri) => uri.to_owned(),
                None => {
                    let discovered = self
                        .get(&format!("{issuer}/.well-known/openid-configuration"))
                        .await
                        .ok()
                        .and_then(|doc| serde_json::from_slice::<Value>(&doc).ok())
                        .and_then(|doc| doc.get("jwks_uri")?.as_str().map(str::to_owned))
                        .filter(|uri| uri.starts_with("https://") || uri.starts_with("http://"));
                    discovered.unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"))
                }
            };
            parse_jwks(&self.get(&uri).await?)
        };
        tokio::time::timeout(self.settings.fetch_timeout, work)
            .await
            .map_err(|_| {
                format!(
                    "the JWKS did not arrive within {} ms",
                    self.settings.fetch_timeout.as_millis()
                )
            })?
    }
}

/// The verified-token cache key: the token, and what it was checked against (another
/// authorizer with another issuer or audience must check it again).
fn token_key(config: &JwtConfig<'_>, token: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((config.audience.len() as u64).to_be_bytes());
    for part in std::iter::once(config.issuer)
        .chain(config.audience.iter().map(String::as_str))
        .chain(config.jwks_uri)
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.update(token.as_bytes());
    hash.finalize().into()
}

/// A claim as API Gateway hands it to an integration: a string (numbers and booleans as
/// text, arrays as `[a b]`, objects as JSON).
pub fn claim_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_text).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
