use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use portico_model::definition::ApiDefinition;
use portico_model::ports::StoreError;
use portico_model::records::{Deployment, DeploymentSummary, DomainMapping};
use portico_model::snapshot;

use super::*;

/// An in-memory reader that counts reads and can be made to fail.
#[derive(Default)]
struct FakeReader {
    stages: Mutex<HashMap<String, Stage>>,
    deployments: Mutex<HashMap<String, Deployment>>,
    stage_reads: AtomicUsize,
    deployment_reads: AtomicUsize,
    down: AtomicBool,
    mappings: Mutex<Vec<DomainMapping>>,
    mapping_reads: AtomicUsize,
}

impl FakeReader {
    fn deploy(&self, deployment_id: &str, body: &str) {
        let definition: ApiDefinition =
            serde_json::from_value(serde_json::json!({"name": "a", "routes": [
                {"method": "GET", "path": "/", "integration": {"type": "mock", "body": body}}
            ]}))
            .expect("definition");
        let deployment = Deployment {
            api_id: "api".into(),
            summary: DeploymentSummary {
                id: deployment_id.into(),
                description: None,
                created_date: String::new(),
                snapshot_bytes: 0,
            },
            snapshot: snapshot::compile("api", &definition).expect("compiles"),
        };
        self.deployments
            .lock()
            .expect("lock")
            .insert(deployment_id.into(), deployment);
        let version = self
            .stages
            .lock()
            .expect("lock")
            .get("prod")
            .map_or(1, |s| s.version + 1);
        self.stages.lock().expect("lock").insert(
            "prod".into(),
            Stage {
                api_id: "api".into(),
                stage_name: "prod".into(),
                deployment_id: deployment_id.into(),
                description: None,
                variables: BTreeMap::new(),
                settings: Default::default(),
                previous_deployment_id: None,
                version,
                created_date: String::new(),
                last_updated_date: String::new(),
            },
        );
    }
}

#[async_trait]
impl ConfigReader for FakeReader {
    async fn stage(&self, _api: &str, stage: &str) -> Result<Option<Stage>, StoreError> {
        self.stage_reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        Ok(self.stages.lock().expect("lock").get(stage).cloned())
    }

    async fn deployment(&self, _api: &str, id: &str) -> Result<Option<Deployment>, StoreError> {
        self.deployment_reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        Ok(self.deployments.lock().expect("lock").get(id).cloned())
    }

    async fn domain_mappings(&self, domain: &str) -> Result<Vec<DomainMapping>, StoreError> {
        self.mapping_reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        let mappings = self.mappings.lock().expect("lock");
        Ok(mappings
            .iter()
            .filter(|m| m.domain_name == domain)
            .cloned()
            .collect())
    }

    async fn api_key(&self, _: &str) -> Result<Option<portico_model::ports::KeyGrant>, StoreError> {
        Ok(None)
    }
}

fn body_of(deployed: &Deployed) -> String {
    deployed.snapshot.routes()[0]
        .integration
        .body
        .clone()
        .unwrap_or_default()
}

const TTL: Duration = Duration::from_secs(2);

#[tokio::test(start_paused = true)]
async fn a_stage_is_read_once_per_ttl_and_a_deployment_once() {
    let reader = Arc::new(FakeReader::default());
    reader.deploy("d1", "one");
    let cache = ConfigCache::new(reader.clone(), TTL);
    for _ in 0..5 {
        assert_eq!(
            body_of(&cache.load("api", "prod").await.expect("served")),
            "one"
        );
    }
    assert_eq!(reader.stage_reads.load(Ordering::SeqCst), 1);

    tokio::time::advance(TTL).await;
    cache.load("api", "prod").await.expect("served");
    assert_eq!(
        reader.stage_reads.load(Ordering::SeqCst),
        2,
        "re-read after the ttl"
    );
    assert_eq!(
        reader.deployment_reads.load(Ordering::SeqCst),
        1,
        "same deployment, not re-read"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_deployment_is_served_after_at_most_one_ttl() {
    let reader = Arc::new(FakeReader::default());
    reader.deploy("d1", "one");
    let cache = ConfigCache::new(reader.clone(), TTL);
    cache.load("api", "prod").await.expect("served");
    reader.deploy("d2", "two");
    tokio::time::advance(TTL - Duration::from_millis(1)).await;
    assert_eq!(
        body_of(&cache.load("api", "prod").await.expect("served")),
        "one"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        body_of(&cache.load("api", "prod").await.expect("served")),
        "two"
    );
}

#[tokio::test(start_paused = true)]
async fn the_last_good_stage_serves_while_the_store_is_down() {
    let reader = Arc::new(FakeReader::default());
    reader.deploy("d1", "one");
    let cache = ConfigCache::new(reader.clone(), TTL);
    cache.load("api", "prod").await.expect("served");
    reader.down.store(true, Ordering::SeqCst);
    tokio::time::advance(TTL).await;
    assert_eq!(
        body_of(&cache.load("api", "prod").await.expect("last good")),
        "one"
    );
    // The failing store is tried again once per ttl, not on every request.
    cache.load("api", "prod").await.expect("last good");
    assert_eq!(reader.stage_reads.load(Ordering::SeqCst), 2);

    let cold = ConfigCache::new(reader.clone(), TTL);
    assert!(matches!(
        cold.load("api", "prod").await,
        Err(GatewayError::ConfigUnavailable { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn unknown_stages_are_missing_routes_and_cached() {
    let reader = Arc::new(FakeReader::default());
    let cache = ConfigCache::new(reader.clone(), TTL);
    for _ in 0..3 {
        assert_eq!(
            cache.load("api", "nope").await.err(),
            Some(GatewayError::MissingAuthenticationToken)
        );
    }
    assert_eq!(reader.stage_reads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stage_pointing_at_a_missing_deployment_is_an_internal_error() {
    let reader = Arc::new(FakeReader::default());
    reader.deploy("d1", "one");
    reader.deployments.lock().expect("lock").clear();
    let cache = ConfigCache::new(reader, TTL);
    assert!(matches!(
        cache.load("api", "prod").await,
        Err(GatewayError::Internal { .. })
    ));
}

fn canary(percent: f64, assignment: CanaryAssignment) -> CanarySide {
    let reader = FakeReader::default();
    reader.deploy("d1", "x");
    let stage = reader.stages.lock().expect("lock")["prod"].clone();
    let snapshot = reader.deployments.lock().expect("lock")["d1"]
        .snapshot
        .clone();
    let router = snapshot.router().expect("router");
    CanarySide {
        stage,
        snapshot: Arc::new(snapshot),
        router: Arc::new(router),
        policy: None,
        percent,
        assignment,
    }
}

fn from(ip: &str, key: Option<&str>) -> crate::IncomingRequest {
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    crate::IncomingRequest {
        source_ip: ip.into(),
        ..crate::IncomingRequest::sample(&headers)
    }
}

#[test]
fn canary_percentages_of_zero_and_a_hundred_are_absolute() {
    for assignment in [CanaryAssignment::Random, CanaryAssignment::StickySourceIp] {
        let none = canary(0.0, assignment);
        let all = canary(100.0, assignment);
        for i in 0..200 {
            let request = from(&format!("10.0.{}.{}", i / 256, i % 256), None);
            assert!(!none.takes(&request));
            assert!(all.takes(&request));
        }
    }
}

#[test]
fn sticky_assignment_keeps_a_client_on_its_side_and_splits_clients_by_the_percentage() {
    let side = canary(30.0, CanaryAssignment::StickySourceIp);
    let mut in_canary = 0;
    for i in 0..2_000 {
        let request = from(
            &format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
            None,
        );
        let first = side.takes(&request);
        for _ in 0..3 {
            assert_eq!(side.takes(&request), first, "a client never changes sides");
        }
        in_canary += usize::from(first);
    }
    // 30% of 2,000 clients, with room for the hash's unevenness.
    assert!(
        (450..=750).contains(&in_canary),
        "{in_canary} of 2000 in the canary"
    );

    let by_key = canary(50.0, CanaryAssignment::StickyApiKey);
    let with_key = |ip: &str| from(ip, Some("key-123"));
    assert_eq!(
        by_key.takes(&with_key("10.0.0.1")),
        by_key.takes(&with_key("10.9.9.9")),
        "the key decides, not the IP"
    );
}

#[test]
fn random_assignment_sends_requests_both_ways() {
    let side = canary(50.0, CanaryAssignment::Random);
    let request = from("10.0.0.1", None);
    let taken = (0..400).filter(|_| side.takes(&request)).count();
    // P(all 400 on one side) is 2^-399.
    assert!(taken > 0 && taken < 400, "{taken}");
}

#[tokio::test(start_paused = true)]
async fn domain_mappings_are_cached_per_ttl_and_survive_an_outage() {
    let reader = Arc::new(FakeReader::default());
    reader.mappings.lock().expect("lock").push(DomainMapping {
        domain_name: "api.example.com".into(),
        base_path: "v1".into(),
        api_id: "api".into(),
        stage: "prod".into(),
        version: 1,
        created_date: String::new(),
    });
    let cache = ConfigCache::new(reader.clone(), TTL);
    for _ in 0..3 {
        assert_eq!(
            cache.domain("api.example.com").await.expect("read").len(),
            1
        );
        assert!(
            cache
                .domain("other.example.com")
                .await
                .expect("read")
                .is_empty()
        );
    }
    assert_eq!(
        reader.mapping_reads.load(Ordering::SeqCst),
        2,
        "one read per host, hosts without mappings included"
    );

    reader.down.store(true, Ordering::SeqCst);
    tokio::time::advance(TTL).await;
    assert_eq!(
        cache
            .domain("api.example.com")
            .await
            .expect("last good")
            .len(),
        1
    );
    assert!(matches!(
        cache.domain("new.example.com").await,
        Err(GatewayError::ConfigUnavailable { .. })
    ));
}
