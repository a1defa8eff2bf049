//! `portico-local`: helpers for the local stack, built from the same crates the functions use.
//!
//! - `create-tables`: creates Portico's tables on a DynamoDB-compatible server (dynalite) from
//!   `portico_store::tables`, the definitions template.yaml is checked against.
//! - `admin-server PORT`: serves the admin API (`portico_control::Admin` over DynamoDB) as
//!   plain HTTP on 127.0.0.1:PORT. The admin function does the same behind its function URL;
//!   this form passes request bytes through exactly, for API fuzzing (schemathesis) that
//!   sends bodies `cargo lambda watch` cannot put into a function URL event.
//!
//! Both read `DYNAMODB_ENDPOINT`, `PORTICO_CONFIG_TABLE` and `PORTICO_COUNTERS_TABLE` as the
//! functions do.

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use portico_control::{Admin, AdminRequest};
use portico_store::clients::{self, Role, StoreSettings};
use portico_store::dynamo::DynamoConfigStore;
use portico_store::tables::{self, ensure_table};
use tokio::net::TcpListener;

/// The function URL's request limit.
const MAX_BODY: usize = 6 * 1024 * 1024;

async fn create_tables(settings: &StoreSettings) -> ExitCode {
    let sdk = clients::sdk_config().await;
    let client = clients::dynamodb(&sdk, settings, Role::Admin);
    for (spec, name) in [
        (&tables::CONFIG, &settings.config_table),
        (&tables::COUNTERS, &settings.counters_table),
    ] {
        match ensure_table(&client, spec, name).await {
            Ok(true) => println!("created table {name}"),
            Ok(false) => println!("table {name} exists"),
            Err(error) => {
                eprintln!("could not create table {name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

async fn serve(
    admin: Arc<Admin>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(
                b"{\"message\":\"the request body is too large\"}",
            )));
            *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        }
    };
    let response = admin
        .handle(AdminRequest {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body,
            caller: "local".to_owned(),
        })
        .await;
    let (parts, body) = response.into_parts();
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}

async fn admin_server(settings: &StoreSettings, port: u16) -> ExitCode {
    let sdk = clients::sdk_config().await;
    let store = DynamoConfigStore::new(
        clients::dynamodb(&sdk, settings, Role::Admin),
        settings.config_table.clone(),
    );
    let usage = portico_store::counters::DynamoCounters::new(
        clients::dynamodb(&sdk, settings, Role::Admin),
        settings.counters_table.clone(),
    );
    let admin = Arc::new(Admin::new(Arc::new(store)).with_usage(Arc::new(usage)));
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("admin API on http://127.0.0.1:{port}");
    while let Ok((stream, _)) = listener.accept().await {
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| serve(admin.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = StoreSettings::from_env();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create-tables"] => create_tables(&settings).await,
        ["admin-server", port] => match port.parse() {
            Ok(port) => admin_server(&settings, port).await,
            Err(_) => {
                eprintln!("admin-server takes a port number");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: portico-local create-tables | portico-local admin-server PORT");
            ExitCode::from(2)
        }
    }
}
