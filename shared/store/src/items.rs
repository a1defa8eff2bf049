//! Domain records to DynamoDB items and back: the only place that knows the item layout.
//!
//! Config table layout (pk, sk):
//! - `APIS`, `API#{apiId}`: an API (name, definition JSON, version, dates). One partition for
//!   all APIs makes listing them a Query, not a Scan; only the admin touches it.
//! - `API#{apiId}`, `DEPLOYMENT#{deploymentId}`: an immutable deployment (deflated snapshot).
//! - `API#{apiId}`, `STAGE#{stageName}`: a stage and the deployment it points at.
//! - `AUDIT`, `{ulid}`: an audit entry; ULIDs sort by time, so a reverse Query lists the
//!   newest first.
//! - `REC#{kind}`, `{id}`: a record (API key, usage plan, membership, domain mapping) as a
//!   JSON document with its version.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use portico_model::definition::ApiDefinition;
use portico_model::ports::{Record, RecordKind, StoreError};
use portico_model::records::{
    ApiRecord, AuditEntry, Deployment, DeploymentSummary, Stage, StageSettings,
};
use portico_model::snapshot::Snapshot;

pub type Item = HashMap<String, AttributeValue>;

pub const APIS_PK: &str = "APIS";
pub const API_PREFIX: &str = "API#";
pub const DEPLOYMENT_PREFIX: &str = "DEPLOYMENT#";
pub const STAGE_PREFIX: &str = "STAGE#";
pub const AUDIT_PK: &str = "AUDIT";

pub fn api_pk(api_id: &str) -> String {
    format!("{API_PREFIX}{api_id}")
}

/// One item by key, read consistently (config and counters alike must see the last write).
pub async fn get_consistent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
) -> Result<Option<Item>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(crate::errors::store_error)?;
    Ok(output.item)
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(item: &Item, what: &str) -> StoreError {
    let at = match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("{pk}/{sk}"),
        _ => "an item".to_owned(),
    };
    StoreError::Corrupt(format!("{at}: {what}"))
}

fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(
            item,
            &format!("attribute {name} is missing or not a string"),
        )),
    }
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_n(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(item, &format!("attribute {name} is not a whole number"))),
        _ => Err(corrupt(
            item,
            &format!("attribute {name} is missing or not a number"),
        )),
    }
}

pub fn api_to_item(api: &ApiRecord) -> Item {
    let mut item = key(APIS_PK, api_pk(&api.id));
    item.insert("apiId".into(), s(&api.id));
    item.insert("name".into(), s(&api.definition.name));
    item.insert(
        "definition".into(),
        s(serde_json::to_string(&api.definition).unwrap_or_default()),
    );
    item.insert("version".into(), n(api.version));
    item.insert("createdDate".into(), s(&api.created_date));
    item.insert("lastUpdatedDate".into(), s(&api.last_updated_date));
    item
}

pub fn api_from_item(item: &Item) -> Result<ApiRecord, StoreError> {
    let definition: ApiDefinition = serde_json::from_str(&get_s(item, "definition")?)
        .map_err(|e| corrupt(item, &format!("definition is not valid: {e}")))?;
    Ok(ApiRecord {
        id: get_s(item, "apiId")?,
        definition,
        version: get_n(item, "version")?,
        created_date: get_s(item, "createdDate")?,
        last_updated_date: get_s(item, "lastUpdatedDate")?,
    })
}

pub fn deployment_to_item(deployment: &Deployment, encoded_snapshot: Vec<u8>) -> Item {
    let summary = &deployment.summary;
    let mut item = key(
        api_pk(&deployment.api_id),
        format!("{DEPLOYMENT_PREFIX}{}", summary.id),
    );
    item.insert("deploymentId".into(), s(&summary.id));
    if let Some(description) = summary.description.as_ref().filter(|d| !d.is_empty()) {
        item.insert("description".into(), s(description));
    }
    item.insert("createdDate".into(), s(&summary.created_date));
    item.insert("snapshotBytes".into(), n(encoded_snapshot.len() as u64));
    item.insert(
        "snapshot".into(),
        AttributeValue::B(Blob::new(encoded_snapshot)),
    );
    item
}

pub fn deployment_summary_from_item(item: &Item) -> Result<DeploymentSummary, StoreError> {
    Ok(DeploymentSummary {
        id: get_s(item, "deploymentId")?,
        description: opt_s(item, "description"),
        created_date: get_s(item, "createdDate")?,
        snapshot_bytes: get_n(item, "snapshotBytes")?,
    })
}

pub fn deployment_from_item(api_id: &str, item: &Item) -> Result<Deployment, StoreError> {
    let Some(AttributeValue::B(blob)) = item.get("snapshot") else {
        return Err(corrupt(item, "attribute snapshot is missing or not binary"));
    };
    let snapshot = Snapshot::decode(blob.as_ref()).map_err(|e| corrupt(item, &e))?;
    Ok(Deployment {
        api_id: api_id.to_owned(),
        summary: deployment_summary_from_item(item)?,
        snapshot,
    })
}

pub fn stage_to_item(stage: &Stage) -> Item {
    let mut item = key(
        api_pk(&stage.api_id),
        format!("{STAGE_PREFIX}{}", stage.stage_name),
    );
    item.insert("stageName".into(), s(&stage.stage_name));
    item.insert("deploymentId".into(), s(&stage.deployment_id));
    if let Some(description) = stage.description.as_ref().filter(|d| !d.is_empty()) {
        item.insert("description".into(), s(description));
    }
    // Variables as one JSON string: values may be empty, which not every DynamoDB-compatible
    // server accepts inside a map.
    item.insert(
        "variables".into(),
        s(serde_json::to_string(&stage.variables).unwrap_or_default()),
    );
    if stage.settings != StageSettings::default() {
        item.insert(
            "settings".into(),
            s(serde_json::to_string(&stage.settings).unwrap_or_default()),
        );
    }
    if let Some(previous) = &stage.previous_deployment_id {
        item.insert("previousDeploymentId".into(), s(previous));
    }
    item.insert("version".into(), n(stage.version));
    item.insert("createdDate".into(), s(&stage.created_date));
    item.insert("lastUpdatedDate".into(), s(&stage.last_updated_date));
    item
}

pub fn stage_from_item(api_id: &str, item: &Item) -> Result<Stage, StoreError> {
    let variables: BTreeMap<String, String> = match opt_s(item, "variables") {
        None => BTreeMap::new(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| corrupt(item, &format!("variables are not valid: {e}")))?,
    };
    let settings = match opt_s(item, "settings") {
        None => StageSettings::default(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| corrupt(item, &format!("settings are not valid: {e}")))?,
    };
    Ok(Stage {
        api_id: api_id.to_owned(),
        stage_name: get_s(item, "stageName")?,
        deployment_id: get_s(item, "deploymentId")?,
        description: opt_s(item, "description"),
        variables,
        settings,
        previous_deployment_id: opt_s(item, "previousDeploymentId"),
        version: get_n(item, "version")?,
        created_date: get_s(item, "createdDate")?,
        last_updated_date: get_s(item, "lastUpdatedDate")?,
    })
}

pub fn record_pk(kind: RecordKind) -> String {
    let name = match kind {
        RecordKind::ApiKey => "APIKEY",
        RecordKind::ApiKeyHash => "APIKEYHASH",
        RecordKind::UsagePlan => "USAGEPLAN",
        RecordKind::PlanKey => "PLANKEY",
        RecordKind::KeyPlan => "KEYPLAN",
        RecordKind::DomainMapping => "DOMAINMAPPING",
    };
    format!("REC#{name}")
}

pub fn record_to_item(record: &Record) -> Item {
    let mut item = key(record_pk(record.kind), record.id.clone());
    item.insert("version".into(), n(record.version));
    item.insert("body".into(), s(record.body.to_string()));
    item
}

pub fn record_from_item(kind: RecordKind, item: &Item) -> Result<Record, StoreError> {
    let Some(AttributeValue::S(id)) = item.get("sk") else {
        return Err(corrupt(item, "sort key is missing"));
    };
    Ok(Record {
        kind,
        id: id.clone(),
        version: get_n(item, "version")?,
        body: serde_json::from_str(&get_s(item, "body")?)
            .map_err(|e| corrupt(item, &format!("body is not JSON: {e}")))?,
    })
}

pub fn audit_to_item(entry: &AuditEntry) -> Item {
    let mut item = key(AUDIT_PK, entry.id.clone());
    item.insert(
        "entry".into(),
        s(serde_json::to_string(entry).unwrap_or_default()),
    );
    item
}

pub fn audit_from_item(item: &Item) -> Result<AuditEntry, StoreError> {
    serde_json::from_str(&get_s(item, "entry")?)
        .map_err(|e| corrupt(item, &format!("audit entry is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_round_trips_and_corruption_is_named() {
        let stage = Stage {
            api_id: "a1".into(),
            stage_name: "prod".into(),
            deployment_id: "d1".into(),
            description: None,
            variables: BTreeMap::from([("alias".into(), "live".into())]),
            settings: StageSettings {
                canary: Some(portico_model::records::Canary {
                    deployment_id: "d2".into(),
                    percent_traffic: 12.5,
                    stage_variable_overrides: BTreeMap::new(),
                    use_stage_cache: false,
                    assignment: portico_model::records::CanaryAssignment::StickySourceIp,
                }),
                ..StageSettings::default()
            },
            previous_deployment_id: Some("d0".into()),
            version: 3,
            created_date: "2026-01-01T00:00:00Z".into(),
            last_updated_date: "2026-01-02T00:00:00Z".into(),
        };
        let mut item = stage_to_item(&stage);
        assert_eq!(stage_from_item("a1", &item), Ok(stage));
        item.insert("version".into(), s("three"));
        let Err(StoreError::Corrupt(message)) = stage_from_item("a1", &item) else {
            panic!("a non-numeric version must be reported as corrupt");
        };
        assert!(
            message.contains("API#a1/STAGE#prod") && message.contains("version"),
            "{message}"
        );
    }
}
