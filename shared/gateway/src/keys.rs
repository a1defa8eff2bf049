//! API keys at request time: a route marked `apiKeyRequired` is served only to a request whose
//! `x-api-key` is the value of an enabled key in a usage plan that covers this API stage.
//! Anything else is API Gateway's `403 {"message":"Forbidden"}`, whatever the reason (the
//! reason goes to the access log only, so the answer does not tell a guesser which part failed).
//!
//! The presented value is hashed (SHA-256) and found by its hash, so no stored secret is
//! compared byte by byte; the stored hash is then compared with the computed one in constant
//! time as well, so a store that ever answered a near match would not leak how near.

use std::sync::Arc;

use portico_model::definition::ApiKeySource;
use portico_model::ports::KeyGrant;
use portico_model::records::{API_KEY_VALUE_LENGTHS, hash_api_key};
use subtle::ConstantTimeEq;

use crate::config::ConfigCache;
use crate::{GatewayError, IncomingRequest};

/// The key a request was admitted with: what targets see (`identity.apiKey`,
/// `identity.apiKeyId`) and what metering counts against.
#[derive(Debug, Clone)]
pub struct AdmittedKey {
    pub value: String,
    pub grant: Arc<KeyGrant>,
}

fn refused(reason: &str) -> GatewayError {
    GatewayError::Forbidden {
        reason: format!("API key {reason}"),
    }
}

/// Admits the request's API key for `api_id` / `stage`, or refuses it. The key is the
/// `x-api-key` header, or with key source `AUTHORIZER` the `usageIdentifierKey` the route's
/// Lambda authorizer answered (never the header then: the authorizer decides).
pub async fn admit(
    request: &IncomingRequest,
    source: Option<ApiKeySource>,
    principal: Option<&crate::auth::Principal>,
    api_id: &str,
    stage: &str,
    config: &ConfigCache,
) -> Result<AdmittedKey, GatewayError> {
    let presented = match source {
        Some(ApiKeySource::Authorizer) => principal.and_then(|p| p.usage_identifier_key()),
        _ => request.header("x-api-key"),
    };
    let Some(value) = presented else {
        return Err(refused("missing"));
    };
    if !API_KEY_VALUE_LENGTHS.contains(&value.len()) {
        return Err(refused("malformed"));
    }
    let hash = hash_api_key(value);
    let Some(grant) = config.api_key(&hash).await? else {
        return Err(refused("unknown"));
    };
    if !bool::from(grant.key.value_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(refused("unknown"));
    }
    if !grant.key.enabled {
        return Err(refused(&format!("{} is disabled", grant.key.id)));
    }
    let covered = grant.plans.iter().any(|plan| {
        plan.api_stages
            .iter()
            .any(|s| s.api_id == api_id && s.stage == stage)
    });
    if !covered {
        return Err(refused(&format!(
            "{} is in no usage plan for this stage",
            grant.key.id
        )));
    }
    Ok(AdmittedKey {
        value: value.to_owned(),
        grant,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use portico_model::ports::{ConfigReader, StoreError};
    use portico_model::records::{Deployment, DomainMapping, Stage};

    use super::*;

    /// A store the refusals below must never reach.
    struct Unreachable;

    #[async_trait]
    impl ConfigReader for Unreachable {
        async fn stage(&self, _: &str, _: &str) -> Result<Option<Stage>, StoreError> {
            unreachable!("no stage read")
        }
        async fn deployment(&self, _: &str, _: &str) -> Result<Option<Deployment>, StoreError> {
            unreachable!("no deployment read")
        }
        async fn domain_mappings(&self, _: &str) -> Result<Vec<DomainMapping>, StoreError> {
            unreachable!("no mapping read")
        }
        async fn api_key(&self, _: &str) -> Result<Option<KeyGrant>, StoreError> {
            unreachable!("no key read")
        }
    }

    fn request(key: Option<&'static str>) -> IncomingRequest {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        IncomingRequest::sample(&headers)
    }

    #[tokio::test]
    async fn refusals_that_need_no_lookup() {
        let config = ConfigCache::new(Arc::new(Unreachable), Duration::from_secs(1));
        let valid = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        for (request, source) in [
            (request(None), None),
            (request(Some("too-short")), Some(ApiKeySource::Header)),
            // A key source of AUTHORIZER ignores the header: no authorizer, no key.
            (request(Some(valid)), Some(ApiKeySource::Authorizer)),
        ] {
            assert!(matches!(
                admit(&request, source, None, "api", "prod", &config).await,
                Err(GatewayError::Forbidden { .. })
            ));
        }
    }
}
