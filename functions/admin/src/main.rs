//! The admin function: Portico's control plane behind its own function URL (AWS_IAM auth in
//! AWS, so every caller is a signed IAM principal). It wires the DynamoDB store into
//! `portico_control::Admin`, which routes each request to its resource module.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, run, service_fn};
use portico_control::{Admin, AdminRequest};
use portico_store::clients::{self, Role, StoreSettings};
use portico_store::counters::DynamoCounters;
use portico_store::dynamo::DynamoConfigStore;

/// The IAM principal the function URL authenticated, or `local` without one.
fn caller(context: Option<&RequestContext>) -> String {
    match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()))
            .unwrap_or_else(|| "local".to_owned()),
        _ => "local".to_owned(),
    }
}

async fn serve(admin: &Admin, request: Request) -> Response<Body> {
    let path = request.raw_http_path().to_owned();
    let caller = caller(request.request_context_ref());
    let (parts, body) = request.into_parts();
    let response = admin
        .handle(AdminRequest {
            method: parts.method,
            path,
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body: match body {
                Body::Text(text) => Bytes::from(text),
                Body::Binary(bytes) => Bytes::from(bytes),
                _ => Bytes::new(),
            },
            caller,
        })
        .await;
    let (parts, body) = response.into_parts();
    // Admin responses are always JSON text.
    Response::from_parts(
        parts,
        Body::Text(String::from_utf8_lossy(&body).into_owned()),
    )
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
    let config = Arc::new(DynamoConfigStore::new(
        clients::dynamodb(&sdk, &store, Role::Admin),
        store.config_table.clone(),
    ));
    // Usage reports read the counters table the front writes.
    let usage = Arc::new(DynamoCounters::new(
        clients::dynamodb(&sdk, &store, Role::Admin),
        store.counters_table.clone(),
    ));
    let admin = Arc::new(Admin::new(config).with_usage(usage));
    run(service_fn(move |request: Request| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(serve(&admin, request).await) }
    }))
    .await
}
