//! The front function: every API request arrives here through the function URL.
//!
//! This binary only wires things together: it reads the environment once, builds the SDK
//! clients once, and hands each request to `portico_gateway::Gateway`, whose `handle` is the
//! whole pipeline. A panic inside a request is caught and answered as API Gateway's 500 with
//! the request id (the release profile keeps `panic = "unwind"` for exactly this).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, run, service_fn};
use portico_gateway::event::is_text_content_type;
use portico_gateway::limits::LimitSettings;
use portico_gateway::{Gateway, GatewayError, IncomingRequest, Settings};
use portico_store::clients::{self, Role, StoreSettings};
use portico_store::counters::DynamoCounters;
use portico_store::dynamo::DynamoConfigStore;
use portico_store::lambda::LambdaInvoker;

fn settings_from_env() -> Settings {
    let mut settings = Settings::default();
    if let Some(ttl) = std::env::var("PORTICO_CONFIG_TTL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 300.0)
    {
        settings.config_ttl = Duration::from_secs_f64(ttl);
    }
    if let Ok(account) = std::env::var("PORTICO_ACCOUNT_ID") {
        settings.account_id = account;
    }
    match std::env::var("PORTICO_TRUST_FORWARDED_HOST").as_deref() {
        Ok("true" | "1") => settings.trust_forwarded_host = true,
        Ok("false" | "0" | "") | Err(_) => {}
        // Trusting a header by mistake lets clients pick mappings: anything unclear is no.
        Ok(other) => tracing::warn!(
            value = other,
            "PORTICO_TRUST_FORWARDED_HOST is neither true nor false; not trusting X-Forwarded-Host"
        ),
    }
    settings.limits = limit_settings_from_env();
    if let Ok(region) = std::env::var("AWS_REGION")
        && !region.is_empty()
    {
        settings.region = region;
    }
    if let Some(hops) = number_from_env("PORTICO_TRUSTED_PROXY_HOPS", |v| {
        (0.0..=5.0).contains(&v) && v.fract() == 0.0
    }) {
        settings.trusted_proxy_hops = hops as u8;
    }
    settings
}

/// A number from the environment, or `None` (with a warning) when it is set but unusable.
fn number_from_env(name: &str, valid: impl Fn(f64) -> bool) -> Option<f64> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() && valid(number) => Some(number),
        _ => {
            tracing::warn!(
                name,
                value,
                "ignoring an unusable setting; the default applies"
            );
            None
        }
    }
}

fn limit_settings_from_env() -> LimitSettings {
    let mut limits = LimitSettings::default();
    let rate = number_from_env("PORTICO_ACCOUNT_RATE_LIMIT", |v| (0.0..=1e6).contains(&v));
    let burst = number_from_env("PORTICO_ACCOUNT_BURST_LIMIT", |v| {
        (0.0..=1e6).contains(&v) && v.fract() == 0.0
    });
    match (rate, &mut limits.account) {
        // 0 turns the account bucket off.
        (Some(0.0), _) => limits.account = None,
        (Some(rate), Some(account)) => account.rate = rate,
        _ => {}
    }
    if let (Some(burst), Some(account)) = (burst, &mut limits.account) {
        account.burst = burst as u32;
    }
    if let Some(rate) = number_from_env("PORTICO_FAIL_OPEN_RATE_LIMIT", |v| v > 0.0 && v <= 1e6) {
        limits.fail_open_rate = rate;
    }
    limits
}

fn incoming(request: Request) -> IncomingRequest {
    let raw_path = request.raw_http_path().to_owned();
    let context = request.request_context_ref().cloned();
    let lambda_request_id = request.lambda_context_ref().map(|c| c.request_id.clone());
    let (parts, body) = request.into_parts();
    let (source_ip, request_id, time_epoch_ms, protocol) = match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.http.source_ip.unwrap_or_default(),
            ctx.request_id,
            ctx.time_epoch,
            ctx.http.protocol.unwrap_or_else(|| "HTTP/1.1".to_owned()),
        ),
        _ => (String::new(), None, 0, "HTTP/1.1".to_owned()),
    };
    // Function URLs send milliseconds; `cargo lambda watch` sends seconds.
    let time_epoch_ms = if time_epoch_ms > 100_000_000_000 {
        time_epoch_ms
    } else if time_epoch_ms > 0 {
        time_epoch_ms * 1000
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    };
    IncomingRequest {
        method: parts.method,
        raw_path,
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body: match body {
            Body::Text(text) => Bytes::from(text),
            Body::Binary(bytes) => Bytes::from(bytes),
            _ => Bytes::new(),
        },
        source_ip,
        request_id: request_id.or(lambda_request_id).unwrap_or_default(),
        time_epoch_ms,
        protocol,
    }
}

fn outgoing(response: http::Response<Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match std::str::from_utf8(&body) {
            Ok(text) if is_text_content_type(content_type) => Body::Text(text.to_owned()),
            _ => Body::Binary(body.to_vec()),
        }
    };
    Response::from_parts(parts, body)
}

async fn serve(gateway: &Gateway, request: Request) -> Response<Body> {
    let request = incoming(request);
    let request_id = request.request_id.clone();
    match AssertUnwindSafe(gateway.handle(request))
        .catch_unwind()
        .await
    {
        Ok(response) => outgoing(response),
        Err(_) => {
            tracing::error!(%request_id, "request handler panicked");
            let mut response = GatewayError::Internal {
                reason: "panic".to_owned(),
            }
            .to_response();
            if let Ok(id) = http::HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-amzn-requestid", id);
            }
            outgoing(response)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTICO_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let store = StoreSettings::from_env();
    let sdk = clients::sdk_config().await;
    let reader = Arc::new(DynamoConfigStore::new(
        clients::dynamodb(&sdk, &store, Role::Front),
        store.config_table.clone(),
    ));
    let counters = Arc::new(DynamoCounters::new(
        clients::dynamodb(&sdk, &store, Role::Counters),
        store.counters_table.clone(),
    ));
    let invoker = Arc::new(LambdaInvoker::new(clients::lambda(&sdk, &store)));
    let gateway = Arc::new(Gateway::new(reader, counters, invoker, settings_from_env()));
    run(service_fn(move |request: Request| {
        let gateway = gateway.clone();
        async move { Ok::<_, Infallible>(serve(&gateway, request).await) }
    }))
    .await
}
