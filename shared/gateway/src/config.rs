//! The per-instance config cache. Hot path principle: no DynamoDB read per request. A stage
//! pointer is trusted for `ttl` (the bound on how late a deployment reaches a warm instance),
//! deployments are immutable and so cached until the instance dies, and when the store fails
//! the last good stage keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_model::policy::ResourcePolicy;
use portico_model::ports::{ConfigReader, KeyGrant, StoreError};
use portico_model::records::{CanaryAssignment, DomainMapping, Stage};
use portico_model::router::Router;
use portico_model::snapshot::Snapshot;
use tokio::time::Instant;

use crate::GatewayError;

/// A stage with its deployment compiled for serving, and its canary if it has one.
#[derive(Debug)]
pub struct Deployed {
    pub stage: Stage,
    pub snapshot: Arc<Snapshot>,
    pub router: Arc<Router>,
    /// The API's resource policy, compiled once per load.
    pub policy: Option<Arc<ResourcePolicy>>,
    pub canary: Option<CanarySide>,
}

fn policy_of(snapshot: &Snapshot) -> Option<Arc<ResourcePolicy>> {
    snapshot
        .definition
        .policy
        .as_ref()
        .map(|document| Arc::new(ResourcePolicy::compile(document).0))
}

/// The canary's side of a stage: its deployment, and the stage as the canary sees it (the
/// variables with the canary's overrides), built once per load rather than per request.
#[derive(Debug)]
pub struct CanarySide {
    pub stage: Stage,
    pub snapshot: Arc<Snapshot>,
    pub router: Arc<Router>,
    pub policy: Option<Arc<ResourcePolicy>>,
    pub percent: f64,
    pub assignment: CanaryAssignment,
}

impl CanarySide {
    /// Whether this request goes to the canary. Sticky assignments hash the client's identity
    /// into one of 10,000 buckets, so a client stays on its side while the percentage holds.
    pub fn takes(&self, request: &crate::IncomingRequest) -> bool {
        let identity = match self.assignment {
            CanaryAssignment::Random => return rand::random::<f64>() * 100.0 < self.percent,
            CanaryAssignment::StickyApiKey => {
                request.header("x-api-key").unwrap_or(&request.source_ip)
            }
            // Authorizer principals are not known yet at this phase: the source IP stands in.
            CanaryAssignment::StickySourceIp | CanaryAssignment::StickyPrincipal => {
                &request.source_ip
            }
        };
        let bucket = crate::fnv1a(identity.as_bytes()) % 10_000;
        (bucket as f64) / 100.0 < self.percent
    }
}

struct StageEntry {
    /// `None`: the stage does not exist (cached too, so unknown paths cost no read each).
    deployed: Option<Arc<Deployed>>,
    checked_at: Instant,
}

type Compiled = (Arc<Snapshot>, Arc<Router>);

/// Values read from the store and trusted for `ttl`, by key: the shape of everything the front
/// caches besides stages. A failed refresh serves the last good value (and is retried after
/// another `ttl`, not on every request); a miss with no earlier value is the store's error.
pub(crate) struct TtlMap<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> TtlMap<V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        TtlMap {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn get<F>(&self, key: &str, fetch: F) -> Result<V, StoreError>
    where
        F: Future<Output = Result<V, StoreError>>,
    {
        let cached = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .get(key)
                .map(|(value, at)| (value.clone(), at.elapsed() < self.ttl))
        };
        if let Some((value, true)) = &cached {
            return Ok(value.clone());
        }
        let value = match fetch.await {
            Ok(value) => value,
            Err(error) => {
                let Some((last_good, _)) = cached else {
                    return Err(error);
                };
                tracing::warn!(%error, "refresh failed; serving the last good value");
                last_good
            }
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Hostile input (random hosts, random keys) must not grow memory without bound.
        if entries.len() >= MAX_STAGE_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (value.clone(), Instant::now()));
        Ok(value)
    }
}

/// Beyond this many remembered stages the cache starts over: random API ids in hostile
/// paths must not grow an instance's memory without bound.
const MAX_STAGE_ENTRIES: usize = 10_000;
const MAX_DEPLOYMENTS: usize = 256;

fn unavailable(error: StoreError) -> GatewayError {
    GatewayError::ConfigUnavailable {
        reason: error.to_string(),
    }
}

pub struct ConfigCache {
    reader: Arc<dyn ConfigReader>,
    ttl: Duration,
    // std Mutex, never held across an await: the critical sections are map look-ups.
    stages: Mutex<HashMap<(String, String), StageEntry>>,
    deployments: Mutex<HashMap<(String, String), Compiled>>,
    /// A host's base path mappings; empty for hosts without any (most of them).
    domains: TtlMap<Arc<[DomainMapping]>>,
    /// An API key's grant by the hash of its value; `None` for values no key has.
    keys: TtlMap<Option<Arc<KeyGrant>>>,
}

impl ConfigCache {
    pub fn new(reader: Arc<dyn ConfigReader>, ttl: Duration) -> Self {
        ConfigCache {
            reader,
            ttl,
            stages: Mutex::new(HashMap::new()),
            deployments: Mutex::new(HashMap::new()),
            domains: TtlMap::new(ttl),
            keys: TtlMap::new(ttl),
        }
    }

    /// The base path mappings of a custom domain, trusted for `ttl` like stage pointers, and
    /// served from the last good copy while the store fails.
    pub async fn domain(&self, domain: &str) -> Result<Arc<[DomainMapping]>, GatewayError> {
        self.domains
            .get(domain, async {
                Ok(self.reader.domain_mappings(domain).await?.into())
            })
            .await
            .map_err(unavailable)
    }

    /// The grant of the API key whose value hashes to `value_hash`, cached like the rest.
    pub async fn api_key(&self, value_hash: &str) -> Result<Option<Arc<KeyGrant>>, GatewayError> {
        self.keys
            .get(value_hash, async {
                Ok(self.reader.api_key(value_hash).await?.map(Arc::new))
            })
            .await
            .map_err(unavailable)
    }

    pub async fn load(
        &self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<Arc<Deployed>, GatewayError> {
        let key = (api_id.to_owned(), stage_name.to_owned());
        let cached = {
            let stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
            stages
                .get(&key)
                .map(|e| (e.deployed.clone(), e.checked_at.elapsed() < self.ttl))
        };
        if let Some((deployed, true)) = &cached {
            return deployed
                .clone()
                .ok_or(GatewayError::MissingAuthenticationToken);
        }
        let last_good = cached.and_then(|(deployed, _)| deployed);
        let fresh = match self.fetch(api_id, stage_name, last_good.as_ref()).await {
            Ok(fresh) => fresh,
            Err(error) => {
                let Some(last_good) = last_good else {
                    return Err(error);
                };
                tracing::warn!(api_id, stage_name, %error, "config refresh failed; serving the last good stage");
                // Try again after another ttl rather than on every request to a failing store.
                Some(last_good)
            }
        };
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        if stages.len() >= MAX_STAGE_ENTRIES {
            stages.clear();
        }
        stages.insert(
            key,
            StageEntry {
                deployed: fresh.clone(),
                checked_at: Instant::now(),
            },
        );
        fresh.ok_or(GatewayError::MissingAuthenticationToken)
    }

    async fn fetch(
        &self,
        api_id: &str,
        stage_name: &str,
        last_good: Option<&Arc<Deployed>>,
    ) -> Result<Option<Arc<Deployed>>, GatewayError> {
        let unavailable = |e: portico_model::ports::StoreError| GatewayError::ConfigUnavailable {
            reason: e.to_string(),
        };
        let Some(stage) = self
            .reader
            .stage(api_id, stage_name)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        if let Some(last) = last_good
            && last.stage == stage
        {
            return Ok(Some(last.clone()));
        }
        let (snapshot, router) = self
            .compiled(api_id, stage_name, &stage.deployment_id)
            .await?;
        let canary = match &stage.settings.canary {
            None => None,
            Some(canary) => {
                let (snapshot, router) = self
                    .compiled(api_id, stage_name, &canary.deployment_id)
                    .await?;
                let mut canary_stage = stage.clone();
                canary_stage
                    .variables
                    .extend(canary.stage_variable_overrides.clone());
                Some(CanarySide {
                    stage: canary_stage,
                    policy: policy_of(&snapshot),
                    snapshot,
                    router,
                    percent: canary.percent_traffic,
                    assignment: canary.assignment,
                })
            }
        };
        Ok(Some(Arc::new(Deployed {
            stage,
            policy: policy_of(&snapshot),
            snapshot,
            router,
            canary,
        })))
    }

    /// A deployment compiled for serving: from this instance's cache (deployments are
    /// immutable), else read once and compiled.
    async fn compiled(
        &self,
        api_id: &str,
        stage_name: &str,
        deployment_id: &str,
    ) -> Result<Compiled, GatewayError> {
        let key = (api_id.to_owned(), deployment_id.to_owned());
        let known = self
            .deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(compiled) = known {
            return Ok(compiled);
        }
        let deployment = self
            .reader
            .deployment(api_id, deployment_id)
            .await
            .map_err(|e| GatewayError::ConfigUnavailable {
                reason: e.to_string(),
            })?
            .ok_or_else(|| GatewayError::Internal {
                reason: format!(
                    "stage {stage_name} points at deployment {deployment_id} which does not exist"
                ),
            })?;
        let router = deployment
            .snapshot
            .router()
            .map_err(|reason| GatewayError::Internal { reason })?;
        let compiled = (Arc::new(deployment.snapshot), Arc::new(router));
        let mut deployments = self.deployments.lock().unwrap_or_else(|e| e.into_inner());
        if deployments.len() >= MAX_DEPLOYMENTS {
            deployments.clear();
        }
        deployments.insert(key, compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests;
