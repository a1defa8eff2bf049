//! SDK clients, built once per instance. The SDK's defaults (1 s backoff, no operation timeout)
//! suit batch jobs, not a gateway: each role gets timeouts and retries chosen for its path.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Which function the clients serve; it decides how long a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The request path: a config read must fail fast so the last good config can serve.
    Front,
    /// The control plane: an operator waits, so allow longer and retry more.
    Admin,
    /// Throttle leases and quota charges on the request path: when the counters table is
    /// slow the stage's failure mode answers instead, so give up sooner than for config.
    Counters,
}

/// Where the tables are and where to send calls, read once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub config_table: String,
    pub counters_table: String,
    /// `DYNAMODB_ENDPOINT` (the SDK also honours `AWS_ENDPOINT_URL_DYNAMODB` by itself).
    pub dynamodb_endpoint: Option<String>,
    /// `LAMBDA_ENDPOINT` (or `AWS_ENDPOINT_URL_LAMBDA`).
    pub lambda_endpoint: Option<String>,
}

impl StoreSettings {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        StoreSettings {
            config_table: var(crate::tables::CONFIG.name_env)
                .unwrap_or_else(|| crate::tables::CONFIG.default_name.to_owned()),
            counters_table: var(crate::tables::COUNTERS.name_env)
                .unwrap_or_else(|| crate::tables::COUNTERS.default_name.to_owned()),
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT"),
            lambda_endpoint: var("LAMBDA_ENDPOINT"),
        }
    }
}

/// Region and credentials from the usual chain (the Lambda environment in AWS).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

fn dynamodb_timeouts(role: Role) -> (TimeoutConfig, RetryConfig) {
    match role {
        // Three attempts of at most 300 ms, 1 s in all: a slow store costs a request one
        // second at worst before the cached config answers instead.
        Role::Front => (
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(300))
                .operation_timeout(Duration::from_secs(1))
                .build(),
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20))
                .with_max_backoff(Duration::from_millis(200)),
        ),
        // Two attempts of at most 150 ms: a request waits 400 ms at worst before the stage's
        // failure mode decides, and the instance then skips the table for a second.
        Role::Counters => (
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(300))
                .operation_attempt_timeout(Duration::from_millis(150))
                .operation_timeout(Duration::from_millis(400))
                .build(),
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        ),
        Role::Admin => (
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(10))
                .build(),
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        ),
    }
}

pub fn dynamodb(sdk: &SdkConfig, settings: &StoreSettings, role: Role) -> aws_sdk_dynamodb::Client {
    let (timeouts, retries) = dynamodb_timeouts(role);
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(endpoint) = &settings.dynamodb_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// The Lambda client for integrations. No retries: API Gateway invokes a target once, and a
/// retried invoke could run a non-idempotent function twice. No operation timeout either: each
/// route's integration timeout bounds the call.
pub fn lambda(sdk: &SdkConfig, settings: &StoreSettings) -> aws_sdk_lambda::Client {
    let mut builder = aws_sdk_lambda::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .build(),
        )
        .retry_config(RetryConfig::disabled());
    if let Some(endpoint) = &settings.lambda_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_lambda::Client::from_conf(builder.build())
}
