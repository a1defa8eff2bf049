//! The one definition of Portico's tables. `portico-local` creates them from here, and a test
//! fails if template.yaml declares them differently (tests/tests/template.rs).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use portico_model::ports::StoreError;

use crate::errors::store_error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The resource's logical id in template.yaml.
    pub logical_id: &'static str,
    /// The environment variable that names the table for the functions.
    pub name_env: &'static str,
    /// The name used when that variable is unset (local runs).
    pub default_name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// Items past this epoch-seconds attribute are expired (readers treat them as absent:
    /// DynamoDB deletes them lazily, and dynalite not at all).
    pub ttl_attribute: Option<&'static str>,
    pub point_in_time_recovery: bool,
}

/// API definitions, deployments, stages, plans, keys, mappings, audit entries.
pub const CONFIG: TableSpec = TableSpec {
    logical_id: "ConfigTable",
    name_env: "PORTICO_CONFIG_TABLE",
    default_name: "portico-config",
    partition_key: "pk",
    sort_key: "sk",
    ttl_attribute: None,
    point_in_time_recovery: true,
};

/// Throttle leases, quota counters, usage.
pub const COUNTERS: TableSpec = TableSpec {
    logical_id: "CountersTable",
    name_env: "PORTICO_COUNTERS_TABLE",
    default_name: "portico-counters",
    partition_key: "pk",
    sort_key: "sk",
    ttl_attribute: Some("expiresAt"),
    point_in_time_recovery: false,
};

pub const TABLES: [TableSpec; 2] = [CONFIG, COUNTERS];

/// Creates the table as `name` unless it exists, and waits until it is active.
/// Returns whether it was created.
pub async fn ensure_table(
    client: &Client,
    spec: &TableSpec,
    name: &str,
) -> Result<bool, StoreError> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => return Ok(false),
        Err(err) => match store_error(err) {
            StoreError::Misconfigured(_) => {} // ResourceNotFoundException: create it.
            other => return Err(other),
        },
    }
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Misconfigured(e.to_string()))
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::Misconfigured(e.to_string()))
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.partition_key, KeyType::Hash)?)
        .key_schema(key(spec.sort_key, KeyType::Range)?)
        .attribute_definitions(attribute(spec.partition_key)?)
        .attribute_definitions(attribute(spec.sort_key)?)
        .send()
        .await
        .map_err(store_error)?;
    for _ in 0..100 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(store_error)?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(ttl) = spec.ttl_attribute {
        // dynalite has no UpdateTimeToLive; readers ignore expired items anyway, so a local
        // server that cannot expire them is still correct.
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(ttl)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Misconfigured(e.to_string()))?;
        if let Err(err) = client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
        {
            tracing::info!(table = name, error = %store_error(err), "TTL not enabled on this server");
        }
    }
    Ok(true)
}
