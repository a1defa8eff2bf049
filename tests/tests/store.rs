//! The DynamoDB adapters (config store, counters) against a real DynamoDB API server (dynalite
//! on loopback).

use std::collections::BTreeMap;

use portico_model::definition::ApiDefinition;
use portico_model::ports::{ConfigReader, ConfigStore, Page, StoreError};
use portico_model::records::{ApiRecord, AuditEntry, Deployment, DeploymentSummary, Stage};
use portico_model::snapshot;
use portico_store::clients::Role;
use portico_store::dynamo::DynamoConfigStore;
use portico_tests::dynamodb;
use serde_json::json;

fn definition(name: &str) -> ApiDefinition {
    serde_json::from_value(json!({"name": name, "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}}
    ]}))
    .expect("a valid definition")
}

fn api(id: &str, version: u64) -> ApiRecord {
    ApiRecord {
        id: id.to_owned(),
        definition: definition("pets"),
        version,
        created_date: "2026-11-22T00:00:00Z".to_owned(),
        last_updated_date: "2026-11-22T00:00:00Z".to_owned(),
    }
}

fn deployment(api_id: &str, id: &str) -> Deployment {
    Deployment {
        api_id: api_id.to_owned(),
        summary: DeploymentSummary {
            id: id.to_owned(),
            description: Some("first".to_owned()),
            created_date: "2026-11-22T00:00:00Z".to_owned(),
            snapshot_bytes: 0,
        },
        snapshot: snapshot::compile(api_id, &definition("pets")).expect("compiles"),
    }
}

fn stage(api_id: &str, deployment_id: &str, version: u64) -> Stage {
    Stage {
        api_id: api_id.to_owned(),
        stage_name: "prod".to_owned(),
        deployment_id: deployment_id.to_owned(),
        description: None,
        variables: BTreeMap::from([("alias".to_owned(), "live".to_owned())]),
        settings: Default::default(),
        previous_deployment_id: None,
        version,
        created_date: "2026-11-22T00:00:00Z".to_owned(),
        last_updated_date: "2026-11-22T00:00:00Z".to_owned(),
    }
}

#[tokio::test]
async fn api_writes_are_conditional_on_the_version_read() {
    let (store, _) = dynamodb::fresh_config_store().await;
    store.create_api(&api("a1", 1)).await.expect("created");
    assert_eq!(
        store.create_api(&api("a1", 1)).await,
        Err(StoreError::ConditionFailed),
        "an id is created once"
    );
    store.update_api(&api("a1", 2)).await.expect("1 -> 2");
    assert_eq!(
        store.update_api(&api("a1", 2)).await,
        Err(StoreError::ConditionFailed),
        "a writer that read version 1 must not overwrite version 2"
    );
    assert_eq!(store.api("a1").await.expect("read"), Some(api("a1", 2)));
    assert_eq!(store.api("missing").await.expect("read"), None);
}

#[tokio::test]
async fn deployments_are_immutable_and_listed_newest_first() {
    let (store, _) = dynamodb::fresh_config_store().await;
    let first = deployment("a1", "01AAAAAAAAAAAAAAAAAAAAAAAA");
    let size = store.create_deployment(&first).await.expect("written");
    assert!(size > 0);
    assert_eq!(
        store.create_deployment(&first).await,
        Err(StoreError::ConditionFailed),
        "a deployment is never overwritten"
    );
    for id in ["01BBBBBBBBBBBBBBBBBBBBBBBB", "01CCCCCCCCCCCCCCCCCCCCCCCC"] {
        store
            .create_deployment(&deployment("a1", id))
            .await
            .expect("written");
    }
    let read = store
        .deployment("a1", "01AAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.snapshot, first.snapshot);
    assert_eq!(read.summary.snapshot_bytes, size);

    let page = store
        .list_deployments(
            "a1",
            &Page {
                limit: 2,
                after: None,
            },
        )
        .await
        .expect("listed");
    let ids: Vec<_> = page.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["01CCCCCCCCCCCCCCCCCCCCCCCC", "01BBBBBBBBBBBBBBBBBBBBBBBB"]
    );
    let rest = store
        .list_deployments(
            "a1",
            &Page {
                limit: 2,
                after: page.next,
            },
        )
        .await
        .expect("listed");
    let ids: Vec<_> = rest.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["01AAAAAAAAAAAAAAAAAAAAAAAA"]);
}

#[tokio::test]
async fn stage_pointer_moves_only_from_the_version_read() {
    let (store, _) = dynamodb::fresh_config_store().await;
    store
        .put_stage(&stage("a1", "d1", 1))
        .await
        .expect("created");
    assert_eq!(
        store.put_stage(&stage("a1", "d2", 1)).await,
        Err(StoreError::ConditionFailed),
        "creating an existing stage fails"
    );
    store.put_stage(&stage("a1", "d2", 2)).await.expect("moved");
    assert_eq!(
        store.put_stage(&stage("a1", "d3", 2)).await,
        Err(StoreError::ConditionFailed)
    );
    let read = store
        .stage("a1", "prod")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.deployment_id, "d2");
    assert_eq!(read.variables["alias"], "live");
    assert_eq!(store.list_stages("a1").await.expect("listed").len(), 1);
}

#[tokio::test]
async fn listing_apis_pages_through_all_of_them() {
    let (store, _) = dynamodb::fresh_config_store().await;
    for i in 0..5 {
        store
            .create_api(&api(&format!("api{i}"), 1))
            .await
            .expect("created");
    }
    let mut seen = Vec::new();
    let mut page = Page {
        limit: 2,
        after: None,
    };
    loop {
        let listing = store.list_apis(&page).await.expect("listed");
        seen.extend(listing.items.into_iter().map(|a| a.id));
        match listing.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["api0", "api1", "api2", "api3", "api4"]);
}

#[tokio::test]
async fn failures_have_distinct_kinds() {
    // A table that does not exist is a misconfiguration, not an outage.
    let client = dynamodb::client().await;
    let missing = DynamoConfigStore::new(client, "no-such-table");
    assert!(matches!(
        missing.stage("a1", "prod").await,
        Err(StoreError::Misconfigured(_))
    ));

    // Nothing listening: unavailable, and quickly with the front's timeouts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let client = dynamodb::client_for(&format!("http://127.0.0.1:{port}"), Role::Front).await;
    let down = DynamoConfigStore::new(client, "portico-config");
    let started = std::time::Instant::now();
    assert!(matches!(
        down.stage("a1", "prod").await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn corrupt_items_are_reported_not_served() {
    let (store, table) = dynamodb::fresh_config_store().await;
    let client = dynamodb::client().await;
    client
        .put_item()
        .table_name(&table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("API#a1".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("STAGE#prod".into()),
        )
        .item(
            "stageName",
            aws_sdk_dynamodb::types::AttributeValue::S("prod".into()),
        )
        .send()
        .await
        .expect("written");
    assert!(matches!(
        store.stage("a1", "prod").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn stages_are_deleted_only_at_the_version_read() {
    let (store, _) = dynamodb::fresh_config_store().await;
    store
        .put_stage(&stage("a1", "d1", 1))
        .await
        .expect("created");
    store.put_stage(&stage("a1", "d2", 2)).await.expect("moved");
    assert_eq!(
        store.delete_stage("a1", "prod", 1).await,
        Err(StoreError::ConditionFailed)
    );
    store.delete_stage("a1", "prod", 2).await.expect("deleted");
    assert_eq!(store.stage("a1", "prod").await.expect("read"), None);
    assert_eq!(
        store.delete_stage("a1", "prod", 2).await,
        Err(StoreError::ConditionFailed)
    );
}

#[tokio::test]
async fn audit_entries_list_newest_first_and_from_a_time() {
    let (store, _) = dynamodb::fresh_config_store().await;
    let entry = |id: &str| AuditEntry {
        id: id.to_owned(),
        time: "2026-11-22T00:00:00Z".to_owned(),
        caller: "local".to_owned(),
        action: "PutStage".to_owned(),
        resource: "/apis/a1/stages/prod".to_owned(),
        before_version: None,
        after_version: Some(1),
    };
    for id in ["01A", "01B", "01C"] {
        store.record_audit(&entry(id)).await.expect("written");
    }
    assert_eq!(
        store.record_audit(&entry("01B")).await,
        Err(StoreError::ConditionFailed),
        "entries are never overwritten"
    );
    let page = store
        .list_audit(
            &Page {
                limit: 2,
                after: None,
            },
            None,
        )
        .await
        .expect("listed");
    let ids: Vec<_> = page.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["01C", "01B"]);
    let rest = store
        .list_audit(
            &Page {
                limit: 2,
                after: page.next,
            },
            None,
        )
        .await
        .expect("listed");
    assert_eq!(
        rest.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["01A"]
    );
    let since = store
        .list_audit(
            &Page {
                limit: 10,
                after: None,
            },
            Some("01B"),
        )
        .await
        .expect("listed");
    assert_eq!(
        since
            .items
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["01C", "01B"]
    );
    // A cursor older than `since` (found by schemathesis: DynamoDB refuses such a start key).
    let past = store
        .list_audit(
            &Page {
                limit: 10,
                after: Some("01A".into()),
            },
            Some("01B"),
        )
        .await
        .expect("an empty page, not an error");
    assert!(past.items.is_empty() && past.next.is_none());
}

mod counters {
    use aws_sdk_dynamodb::types::AttributeValue;
    use portico_model::ports::{Charge, Charged, Counters, Take, Taken, UsageReader};
    use portico_store::counters::DynamoCounters;
    use portico_store::tables::{self, ensure_table};
    use portico_tests::dynamodb;

    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    async fn fresh() -> (DynamoCounters, aws_sdk_dynamodb::Client, String) {
        let client = dynamodb::client().await;
        let name = format!("test-counters-{}", uuid::Uuid::new_v4().simple());
        ensure_table(&client, &tables::COUNTERS, &name)
            .await
            .expect("dynalite creates the table");
        (
            DynamoCounters::new(client.clone(), name.clone()),
            client,
            name,
        )
    }

    fn take(now_ns: u64, count: u32, idle_hint: bool) -> Take<'static> {
        Take {
            bucket: "b#test",
            shard: 0,
            now_ns,
            count,
            interval_ns: 100 * MS,
            burst: 3,
            idle_hint,
        }
    }

    #[tokio::test]
    async fn takes_hold_the_bucket_to_its_burst_whichever_update_is_tried_first() {
        let (counters, _, _) = fresh().await;
        // Bucket items expire an hour after their last slot, so the times are today's.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            * SEC;
        assert_eq!(
            counters.take(&take(t, 2, true)).await,
            Ok(Taken::Granted {
                tat_ns: t + 200 * MS
            })
        );
        // One token left: a take of two is refused whole, and says where the bucket stands.
        assert_eq!(
            counters.take(&take(t, 2, false)).await,
            Ok(Taken::Short {
                tat_ns: t + 200 * MS
            })
        );
        // A wrong hint (idle) costs a second update, not a wrong answer.
        assert_eq!(
            counters.take(&take(t, 1, true)).await,
            Ok(Taken::Granted {
                tat_ns: t + 300 * MS
            })
        );
        assert_eq!(
            counters.take(&take(t + 10 * MS, 1, false)).await,
            Ok(Taken::Short {
                tat_ns: t + 300 * MS
            })
        );
        // Ten seconds later the bucket is idle (full): it restarts at now, never holding more
        // than its burst, whatever the hint.
        let later = t + 10 * SEC;
        assert_eq!(
            counters.take(&take(later, 3, false)).await,
            Ok(Taken::Granted {
                tat_ns: later + 300 * MS
            })
        );
        assert!(matches!(
            counters.take(&take(later, 1, false)).await,
            Ok(Taken::Short { .. })
        ));
        assert!(
            counters.take(&take(later, 4, true)).await.is_err(),
            "more than the burst"
        );
    }

    #[tokio::test]
    async fn charges_never_pass_the_limit_and_usage_reads_live_days() {
        let (counters, client, table) = fresh().await;
        let charge = |period: &'static str, count: u64, limit: Option<u64>| Charge {
            counter: "u#plan#key",
            period,
            count,
            limit,
            expires_at: 4_000_000_000,
        };
        let day = "D#2026-11-20";
        assert_eq!(
            counters.charge(&charge(day, 3, Some(5))).await,
            Ok(Charged::Charged { used: 3 })
        );
        assert_eq!(
            counters.charge(&charge(day, 3, Some(5))).await,
            Ok(Charged::Exhausted { used: 3 })
        );
        assert_eq!(
            counters.charge(&charge(day, 2, Some(5))).await,
            Ok(Charged::Charged { used: 5 })
        );
        assert_eq!(
            counters.charge(&charge(day, 6, Some(5))).await,
            Ok(Charged::Exhausted { used: 5 }),
            "a charge larger than the limit itself"
        );
        assert_eq!(
            counters.charge(&charge("D#2026-11-21", 7, None)).await,
            Ok(Charged::Charged { used: 7 })
        );
        // An expired counter that DynamoDB has not deleted yet (dynalite never does).
        client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("u#plan#key".into()))
            .item("sk", AttributeValue::S("D#2026-11-19".into()))
            .item("used", AttributeValue::N("9".into()))
            .item("expiresAt", AttributeValue::N("1000".into()))
            .send()
            .await
            .expect("put");
        let usage = counters
            .usage("u#plan#key", "D#2026-11-01", "D#2026-11-30")
            .await
            .expect("usage");
        assert_eq!(
            usage,
            [
                ("D#2026-11-20".to_owned(), 5),
                ("D#2026-11-21".to_owned(), 7)
            ]
        );
    }
}
