//! Deployment snapshots: what a deployment freezes of a definition, in the form the front
//! loads. Compiling validates everything deploying needs (routes compile into a router);
//! encoding is deflated JSON so a thousand-route API stays far below DynamoDB's 400 KB item.

use std::io::{Read, Write};

use flate2::{Compression, read::DeflateDecoder, write::DeflateEncoder};
use serde::{Deserialize, Serialize};

use crate::definition::{ApiDefinition, ApiType, RouteDefinition};
use crate::problem::{Problem, Problems};
use crate::router::Router;

/// Bumped when the snapshot's shape changes incompatibly; the front refuses what it cannot read.
pub const SNAPSHOT_FORMAT: u32 = 2;
/// Largest encoded snapshot accepted, leaving room for the item's other attributes.
pub const MAX_ENCODED_SNAPSHOT: usize = 350 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub format: u32,
    pub api_id: String,
    /// The definition as validated at deployment time, frozen.
    pub definition: ApiDefinition,
}

/// Compiles a definition for deployment, or lists every reason it cannot be deployed.
pub fn compile(api_id: &str, definition: &ApiDefinition) -> Result<Snapshot, Problems> {
    let mut problems = definition.problems();
    if definition.routes.is_empty() {
        problems.push(Problem::new(
            "/routes",
            "an API needs at least one route before it can be deployed",
        ));
    }
    if problems.is_empty()
        && let Err(conflict) = Router::build(
            definition
                .routes
                .iter()
                .map(|r| (r.method.as_str(), r.path.as_str())),
        )
    {
        problems.push(Problem::new(
            format!("/routes/{}/path", conflict.route),
            conflict.message,
        ));
    }
    problems.into_result()?;
    Ok(Snapshot {
        format: SNAPSHOT_FORMAT,
        api_id: api_id.to_owned(),
        definition: definition.clone(),
    })
}

impl Snapshot {
    pub fn routes(&self) -> &[RouteDefinition] {
        &self.definition.routes
    }

    pub fn api_type(&self) -> ApiType {
        self.definition.api_type
    }

    /// Stage variables this deployment needs, for warnings when a stage lacks them.
    pub fn stage_variables_used(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .definition
            .stage_variables_used()
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The router for this snapshot. Compilation proved the routes build, so a failure here
    /// means a corrupt snapshot.
    pub fn router(&self) -> Result<Router, String> {
        Router::build(
            self.routes()
                .iter()
                .map(|r| (r.method.as_str(), r.path.as_str())),
        )
        .map_err(|c| format!("snapshot routes do not compile: {}", c.message))
    }

    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&json);
        encoder.finish().unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
        let mut json = Vec::new();
        // Bound the inflated size: a snapshot is at most MAX_ROUTES routes, never gigabytes.
        DeflateDecoder::new(bytes)
            .take(64 * 1024 * 1024)
            .read_to_end(&mut json)
            .map_err(|e| format!("snapshot is not valid deflate data: {e}"))?;
        let snapshot: Snapshot = serde_json::from_slice(&json)
            .map_err(|e| format!("snapshot is not valid JSON: {e}"))?;
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(format!(
                "snapshot format {} is not supported (expected {SNAPSHOT_FORMAT})",
                snapshot.format
            ));
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compile_refuses_empty_and_conflicting_apis() {
        let empty: ApiDefinition = serde_json::from_value(json!({"name": "e"})).expect("json");
        let err = compile("a1", &empty).expect_err("no routes");
        assert_eq!(
            err.iter().next().map(|p| p.pointer.as_str()),
            Some("/routes")
        );

        let conflicting: ApiDefinition = serde_json::from_value(json!({"name": "c", "routes": [
            {"method": "GET", "path": "/a/{x}", "integration": {"type": "mock"}},
            {"method": "POST", "path": "/a/{rest+}", "integration": {"type": "mock"}}
        ]}))
        .expect("json");
        let err = compile("a1", &conflicting).expect_err("conflict");
        assert_eq!(
            err.iter().next().map(|p| p.pointer.as_str()),
            Some("/routes/1/path")
        );
    }

    #[test]
    fn encode_decode_round_trip_and_compresses() {
        let routes: Vec<_> = (0..300)
            .map(|i| json!({"method": "GET", "path": format!("/items{i}/{{id}}"), "integration": {"type": "aws_proxy", "uri": format!("fn{i}")}}))
            .collect();
        let def: ApiDefinition =
            serde_json::from_value(json!({"name": "big", "routes": routes})).expect("json");
        let snapshot = compile("a1", &def).expect("compiles");
        let bytes = snapshot.encode();
        println!(
            "300 routes: {} bytes of JSON, {} encoded",
            serde_json::to_vec(&snapshot).expect("json").len(),
            bytes.len()
        );
        assert!(bytes.len() < serde_json::to_vec(&snapshot).expect("json").len() / 4);
        assert!(bytes.len() < 16 * 1024, "300 routes fit in a few KB");
        assert_eq!(Snapshot::decode(&bytes), Ok(snapshot));
        assert!(Snapshot::decode(b"not deflate").is_err());
    }
}
