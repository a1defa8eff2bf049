//! Several front instances in one process, each with its own memory and its own DynamoDB
//! clients, over one DynamoDB server: what many Lambda instances of the front look like to
//! the counters table. The admin runs in process over the same config table.
//!
//! Instances serve mock integrations only (their invoker refuses every call), so what the
//! tests observe is the gateway and the counters table, not a target.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use portico_control::{Admin, AdminRequest};
use portico_gateway::{Gateway, IncomingRequest, Settings};
use portico_model::ports::{InvokeError, InvokeOutput, Invoker};
use portico_model::target::FunctionTarget;
use portico_store::clients::Role;
use portico_store::counters::DynamoCounters;
use portico_store::dynamo::DynamoConfigStore;
use portico_store::tables::{self, ensure_table};
use serde_json::Value;

use crate::dynamodb::client_for;

/// Counts the requests a DynamoDB client sends, by operation (retries included).
#[derive(Debug, Default, Clone)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or_default()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }
}

struct NoTargets;

#[async_trait]
impl Invoker for NoTargets {
    async fn invoke(
        &self,
        target: &FunctionTarget,
        _payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError> {
        Err(InvokeError::NotFound(format!(
            "{target:?}: fleets serve mock integrations only"
        )))
    }
}

/// One front instance: its gateway and the calls its counters client made.
pub struct Instance {
    pub gateway: Gateway,
    pub counter_calls: CallCounter,
    pub config_calls: CallCounter,
}

pub struct Fleet {
    pub admin: Admin,
    pub instances: Vec<Arc<Instance>>,
    pub counters_table: String,
    pub endpoint: String,
}

/// An admin answer.
pub struct AdminAnswer {
    pub status: u16,
    pub body: Value,
}

impl Fleet {
    /// Fresh tables on the server at `endpoint`, and `size` instances with `settings`
    /// (their access lines are off: thousands of requests would flood the test output).
    /// The counters clients have the front's timeouts (`Role::Counters`).
    pub async fn start(endpoint: &str, size: usize, settings: Settings) -> Fleet {
        Self::start_with(endpoint, size, settings, false).await
    }

    /// As [`Fleet::start`], with counters clients that wait as long as dynalite needs
    /// (`patient`): load tests use them so that they measure the limiter, not a dynalite
    /// starved of CPU on a small machine (which the front would rightly treat as an outage).
    pub async fn start_with(
        endpoint: &str,
        size: usize,
        settings: Settings,
        patient: bool,
    ) -> Fleet {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let config_table = format!("fleet-config-{suffix}");
        let counters_table = format!("fleet-counters-{suffix}");
        let admin_client = client_for(endpoint, Role::Admin).await;
        for (spec, name) in [
            (&tables::CONFIG, &config_table),
            (&tables::COUNTERS, &counters_table),
        ] {
            ensure_table(&admin_client, spec, name)
                .await
                .expect("the DynamoDB server creates the table");
        }
        let admin = Admin::new(Arc::new(DynamoConfigStore::new(
            admin_client.clone(),
            config_table.clone(),
        )))
        .with_usage(Arc::new(DynamoCounters::new(
            admin_client,
            counters_table.clone(),
        )));
        let mut instances = Vec::new();
        for _ in 0..size {
            let counter_calls = CallCounter::default();
            let config_calls = CallCounter::default();
            let mut counters = client_for(endpoint, Role::Counters).await;
            if patient {
                let config = counters
                    .config()
                    .to_builder()
                    .timeout_config(
                        aws_smithy_types::timeout::TimeoutConfig::builder()
                            .connect_timeout(std::time::Duration::from_secs(5))
                            .operation_attempt_timeout(std::time::Duration::from_secs(10))
                            .operation_timeout(std::time::Duration::from_secs(10))
                            .build(),
                    )
                    .build();
                counters = aws_sdk_dynamodb::Client::from_conf(config);
            }
            let counters = with_interceptor(counters, counter_calls.clone());
            let config = with_interceptor(
                client_for(endpoint, Role::Front).await,
                config_calls.clone(),
            );
            let gateway = Gateway::new(
                Arc::new(DynamoConfigStore::new(config, config_table.clone())),
                Arc::new(DynamoCounters::new(counters, counters_table.clone())),
                Arc::new(NoTargets),
                Settings {
                    access_log: false,
                    ..settings.clone()
                },
            );
            instances.push(Arc::new(Instance {
                gateway,
                counter_calls,
                config_calls,
            }));
        }
        Fleet {
            admin,
            instances,
            counters_table,
            endpoint: endpoint.to_owned(),
        }
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> AdminAnswer {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let response = self
            .admin
            .handle(AdminRequest {
                method,
                path: path.to_owned(),
                query: query.to_owned(),
                headers: HeaderMap::new(),
                body: body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
                caller: "fleet".to_owned(),
            })
            .await;
        AdminAnswer {
            status: response.status().as_u16(),
            body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        }
    }

    /// Creates an API from `definition` and deploys it to `stage`; returns its id.
    pub async fn deploy(&self, definition: Value, stage: &str, stage_settings: Value) -> String {
        let created = self.admin(Method::POST, "/apis", Some(definition)).await;
        assert_eq!(created.status, 201, "create API: {}", created.body);
        let api = created.body["id"].as_str().expect("id").to_owned();
        let deployed = self
            .admin(
                Method::POST,
                &format!("/apis/{api}/deployments"),
                Some(serde_json::json!({"stageName": stage})),
            )
            .await;
        assert_eq!(deployed.status, 201, "deploy: {}", deployed.body);
        if stage_settings != Value::Null {
            let put = self
                .admin(
                    Method::PUT,
                    &format!("/apis/{api}/stages/{stage}"),
                    Some(stage_settings),
                )
                .await;
            assert_eq!(put.status, 200, "stage settings: {}", put.body);
        }
        api
    }

    /// Creates a key and a plan (`plan` is the plan's JSON without its name) holding it;
    /// returns (plan id, key id, key value).
    pub async fn keyed_plan(&self, plan: Value) -> (String, String, String) {
        let key = self
            .admin(
                Method::POST,
                "/apikeys",
                Some(serde_json::json!({"name": "fleet"})),
            )
            .await;
        assert_eq!(key.status, 201, "create key: {}", key.body);
        let key_id = key.body["id"].as_str().expect("id").to_owned();
        let value = key.body["value"].as_str().expect("value").to_owned();
        let mut plan = plan;
        plan["name"] = Value::from("fleet plan");
        let created = self.admin(Method::POST, "/usageplans", Some(plan)).await;
        assert_eq!(created.status, 201, "create plan: {}", created.body);
        let plan_id = created.body["id"].as_str().expect("id").to_owned();
        let added = self
            .admin(
                Method::POST,
                &format!("/usageplans/{plan_id}/keys"),
                Some(serde_json::json!({"keyId": key_id})),
            )
            .await;
        assert_eq!(added.status, 201, "add key: {}", added.body);
        (plan_id, key_id, value)
    }
}

fn with_interceptor(
    client: aws_sdk_dynamodb::Client,
    counter: CallCounter,
) -> aws_sdk_dynamodb::Client {
    let config = client.config().to_builder().interceptor(counter).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A GET as the function URL would deliver it, from `source_ip`.
pub fn get(path: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    let mut map = HeaderMap::new();
    map.insert(
        "host",
        HeaderValue::from_static("fleet.lambda-url.us-east-1.on.aws"),
    );
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    IncomingRequest {
        method: Method::GET,
        raw_path: path.to_owned(),
        raw_query: String::new(),
        headers: map,
        body: Bytes::new(),
        source_ip: "198.51.100.7".to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        time_epoch_ms: 0,
        protocol: "HTTP/1.1".to_owned(),
    }
}
