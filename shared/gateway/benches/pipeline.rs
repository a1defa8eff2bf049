//! The front's pipeline with in-memory ports: route matching at 1,000 routes, and whole
//! requests (resolve, cached config, route, integration, response, access line) for a mock
//! and for a Lambda proxy with payload 2.0 (event building and response parsing included;
//! the invoke itself answers from memory). Goals (issue 4): ≤ 1 µs per route match, p50
//! ≤ 25 µs per request. Figures go to docs/benchmarks.md.
//!
//! The access line is printed to stdout on every request; run with `> /dev/null` so the
//! terminal is not what is measured: `cargo bench -p portico-gateway > /dev/null`, then
//! read target/criterion, or run with `-- --noplot` and read stderr.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use portico_gateway::{Gateway, IncomingRequest, Settings};
use portico_model::definition::ApiDefinition;
use portico_model::ports::{
    ConfigReader, InvokeError, InvokeOutput, Invoker, KeyGrant, StoreError,
};
use portico_model::records::{Deployment, DeploymentSummary, DomainMapping, Stage};
use portico_model::router::Router;
use portico_model::snapshot;
use portico_model::target::FunctionTarget;
use serde_json::json;

const ROUTES: usize = 1_000;

fn definition() -> ApiDefinition {
    let mut routes: Vec<serde_json::Value> = (0..ROUTES - 2)
        .map(|i| json!({"method": "GET", "path": format!("/service{}/items/{{id}}/part{}", i % 50, i), "integration": {"type": "mock"}}))
        .collect();
    routes.push(json!({"method": "GET", "path": "/pets/{id}", "integration": {"type": "mock", "statusCode": 200, "body": "{\"id\":1}"}}));
    routes.push(json!({"method": "POST", "path": "/orders/{id}", "integration": {"type": "aws_proxy", "uri": "orders", "payloadFormatVersion": "2.0"}}));
    serde_json::from_value(json!({"name": "bench", "type": "HTTP", "routes": routes}))
        .expect("definition")
}

struct Memory {
    stage: Stage,
    deployment: Deployment,
}

#[async_trait]
impl ConfigReader for Memory {
    async fn stage(&self, _: &str, _: &str) -> Result<Option<Stage>, StoreError> {
        Ok(Some(self.stage.clone()))
    }
    async fn deployment(&self, _: &str, _: &str) -> Result<Option<Deployment>, StoreError> {
        Ok(Some(self.deployment.clone()))
    }
    async fn domain_mappings(&self, _: &str) -> Result<Vec<DomainMapping>, StoreError> {
        Ok(Vec::new())
    }
    async fn api_key(&self, _: &str) -> Result<Option<KeyGrant>, StoreError> {
        Ok(None)
    }
}

/// Answers every invoke at once with a typical proxy response.
struct Answering;

#[async_trait]
impl Invoker for Answering {
    async fn invoke(
        &self,
        _: &FunctionTarget,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError> {
        black_box(payload);
        Ok(InvokeOutput {
            payload: br#"{"statusCode":201,"headers":{"content-type":"application/json"},"body":"{\"ok\":true}"}"#.to_vec(),
            function_error: None,
        })
    }
}

/// The pipeline over in-memory ports; `limited` adds a stage throttle and the account bucket
/// (both far above the benchmark's pace, so every request is admitted from leases).
fn gateway(limited: bool) -> Gateway {
    let definition = definition();
    let throttle = portico_model::records::Throttle {
        rate_limit: 1_000_000.0,
        burst_limit: 1_000_000,
    };
    let memory = Memory {
        stage: Stage {
            api_id: "a1".into(),
            stage_name: "prod".into(),
            deployment_id: "d1".into(),
            description: None,
            variables: BTreeMap::from([("env".into(), "bench".into())]),
            settings: portico_model::records::StageSettings {
                throttle: limited.then_some(throttle),
                ..Default::default()
            },
            previous_deployment_id: None,
            version: 1,
            created_date: String::new(),
            last_updated_date: String::new(),
        },
        deployment: Deployment {
            api_id: "a1".into(),
            summary: DeploymentSummary {
                id: "d1".into(),
                description: None,
                created_date: String::new(),
                snapshot_bytes: 0,
            },
            snapshot: snapshot::compile("a1", &definition).expect("compiles"),
        },
    };
    let settings = Settings {
        config_ttl: std::time::Duration::from_secs(3600),
        // The account bucket would refuse a benchmark's pace; the limits benchmark below
        // measures buckets on their own.
        limits: portico_gateway::limits::LimitSettings {
            account: limited.then_some(portico_gateway::limits::bucket::Limit {
                rate: 1_000_000.0,
                burst: 1_000_000,
            }),
            ..Default::default()
        },
        ..Settings::default()
    };
    Gateway::new(
        Arc::new(memory),
        Arc::new(portico_gateway::limits::memory::MemoryCounters::default()),
        Arc::new(Answering),
        settings,
    )
}

fn request(method: &str, path: &str, body: &'static [u8]) -> IncomingRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "host",
        http::HeaderValue::from_static("abc.lambda-url.eu-west-1.on.aws"),
    );
    headers.insert("user-agent", http::HeaderValue::from_static("bench/1"));
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "cookie",
        http::HeaderValue::from_static("session=abc; theme=dark"),
    );
    IncomingRequest {
        method: http::Method::from_bytes(method.as_bytes()).expect("method"),
        raw_path: path.to_owned(),
        raw_query: "page=2&sort=asc".to_owned(),
        headers,
        body: Bytes::from_static(body),
        source_ip: "198.51.100.7".to_owned(),
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".to_owned(),
        time_epoch_ms: 1_795_316_371_000,
        protocol: "HTTP/1.1".to_owned(),
    }
}

fn benches(c: &mut Criterion) {
    let definition = definition();
    let router = Router::build(
        definition
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str())),
    )
    .expect("router");
    c.bench_function("route match, 1000 routes", |b| {
        b.iter(|| {
            black_box(router.find(black_box("GET"), black_box("/service17/items/42/part967")))
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let plain = gateway(false);
    // Warm the config cache, as a warm instance has it.
    runtime.block_on(plain.handle(request("GET", "/a1/prod/pets/7", b"")));
    c.bench_function("request, mock", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(plain.handle(request("GET", "/a1/prod/pets/7", b"")).await)
        })
    });
    let limited = gateway(true);
    runtime.block_on(limited.handle(request("GET", "/a1/prod/pets/7", b"")));
    c.bench_function("request, mock, stage throttle and account bucket", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(limited.handle(request("GET", "/a1/prod/pets/7", b"")).await)
        })
    });
    c.bench_function("request, Lambda proxy 2.0 (event + response)", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                plain
                    .handle(request(
                        "POST",
                        "/a1/prod/orders/9",
                        br#"{"item":"book","quantity":2}"#,
                    ))
                    .await,
            )
        })
    });
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
