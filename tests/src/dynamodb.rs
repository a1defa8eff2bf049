//! dynalite on loopback, and fresh tables for each test.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use portico_store::clients::{self, Role, StoreSettings};
use portico_store::dynamo::DynamoConfigStore;
use portico_store::tables::{self, ensure_table};

pub fn endpoint() -> String {
    crate::required_env("PORTICO_TEST_DYNAMODB_ENDPOINT")
}

/// A client with the given role's timeouts, pointed at `endpoint`.
pub async fn client_for(endpoint: &str, role: Role) -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "portico-tests",
        ))
        .load()
        .await;
    let settings = StoreSettings {
        config_table: String::new(),
        counters_table: String::new(),
        dynamodb_endpoint: Some(endpoint.to_owned()),
        lambda_endpoint: None,
    };
    clients::dynamodb(&sdk, &settings, role)
}

pub async fn client() -> aws_sdk_dynamodb::Client {
    client_for(&endpoint(), Role::Admin).await
}

/// A config table of its own for one test.
pub async fn fresh_config_store() -> (DynamoConfigStore, String) {
    let client = client().await;
    let name = format!("test-config-{}", uuid::Uuid::new_v4().simple());
    ensure_table(&client, &tables::CONFIG, &name)
        .await
        .expect("dynalite creates the table");
    (DynamoConfigStore::new(client, name.clone()), name)
}
