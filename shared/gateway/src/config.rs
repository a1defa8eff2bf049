//! The per-instance config cache. Hot path principle: no DynamoDB read per request. A stage
//! pointer is trusted for `ttl` (the bound on how late a deployment reaches a warm instance),
//! deployments are immutable and so cached until the instance dies, and when the store fails
//! the last good stage keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_model::ports::ConfigReader;
use portico_model::records::Stage;
use portico_model::router::Router;
use portico_model::snapshot::Snapshot;
use tokio::time::Instant;

use crate::GatewayError;

/// A stage with its deployment compiled for serving.
#[derive(Debug)]
pub struct Deployed {
    pub stage: Stage,
    pub snapshot: Arc<Snapshot>,
    pub router: Arc<Router>,
}

struct StageEntry {
    /// `None`: the stage does not exist (cached too, so unknown paths cost no read each).
    deployed: Option<Arc<Deployed>>,
    checked_at: Instant,
}

type Compiled = (Arc<Snapshot>, Arc<Router>);

/// Beyond this many remembered stages the cache starts over: random API ids in hostile
/// paths must not grow an instance's memory without bound.
const MAX_STAGE_ENTRIES: usize = 10_000;
const MAX_DEPLOYMENTS: usize = 256;

pub struct ConfigCache {
    reader: Arc<dyn ConfigReader>,
    ttl: Duration,
    // std Mutex, never held across an await: the critical sections are map look-ups.
    stages: Mutex<HashMap<(String, String), StageEntry>>,
    deployments: Mutex<HashMap<(String, String), Compiled>>,
}

impl ConfigCache {
    pub fn new(reader: Arc<dyn ConfigReader>, ttl: Duration) -> Self {
        ConfigCache {
            reader,
            ttl,
            stages: Mutex::new(HashMap::new()),
            deployments: Mutex::new(HashMap::new()),
        }
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
        let key = (api_id.to_owned(), stage.deployment_id.clone());
        let known = self
            .deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let (snapshot, router) = match known {
            Some(compiled) => compiled,
            None => {
                let deployment = self
                    .reader
                    .deployment(api_id, &stage.deployment_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| GatewayError::Internal {
                        reason: format!(
                            "stage {stage_name} points at deployment {} which does not exist",
                            stage.deployment_id
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
                compiled
            }
        };
        Ok(Some(Arc::new(Deployed {
            stage,
            snapshot,
            router,
        })))
    }
}

#[cfg(test)]
mod tests;
