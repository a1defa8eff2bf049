//! The records the config table holds, as domain types: APIs (a definition under a version),
//! immutable deployments, and stages that point at them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::definition::ApiDefinition;
use crate::snapshot::Snapshot;

/// An API and its current definition. `version` guards every update (optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecord {
    pub id: String,
    pub definition: ApiDefinition,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

/// What a listing of deployments shows; the snapshot itself is loaded only when needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: String,
    /// Size of the encoded snapshot, in bytes.
    pub snapshot_bytes: u64,
}

/// An immutable deployment: written once, never updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub api_id: String,
    pub summary: DeploymentSummary,
    pub snapshot: Snapshot,
}

/// A stage: a name clients call, pointing at one deployment, with its variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub api_id: String,
    pub stage_name: String,
    pub deployment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

/// A stage name as API Gateway allows it.
pub fn stage_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest stage variable value (API Gateway's limit).
pub const MAX_STAGE_VARIABLE_VALUE: usize = 512;
/// Most variables on one stage (API Gateway's limit).
pub const MAX_STAGE_VARIABLES: usize = 100;

/// The current time as API Gateway's management API prints it (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
