//! `echo`: an example target function for tests and the quick start. It answers with the
//! request it received, as `lambda_http` presents it to any function written for API Gateway
//! (payload 1.0 or 2.0), so a test can assert exactly what the gateway delivered.
//!
//! A request whose path ends in `/fail` makes the handler return an error, so tests can see
//! how the gateway answers a failing function.

use base64::Engine;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};
use serde_json::{Map, Value, json};

fn query_map(map: &lambda_http::aws_lambda_events::query_map::QueryMap) -> Value {
    let mut out = Map::new();
    for (key, _) in map.iter() {
        if out.contains_key(key) {
            continue;
        }
        let values: Vec<Value> = map
            .all(key)
            .unwrap_or_default()
            .into_iter()
            .map(|v| Value::String(v.to_owned()))
            .collect();
        out.insert(key.to_owned(), Value::Array(values));
    }
    Value::Object(out)
}

async fn echo(request: Request) -> Result<Response<Body>, Error> {
    if request.raw_http_path().ends_with("/fail") {
        return Err("echo was asked to fail".into());
    }
    let mut headers = Map::new();
    for name in request.headers().keys() {
        let values: Vec<Value> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        headers.insert(name.as_str().to_owned(), Value::Array(values));
    }
    let (body, binary) = match request.body() {
        Body::Empty => (Value::Null, false),
        Body::Text(text) => (Value::String(text.clone()), false),
        Body::Binary(bytes) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            true,
        ),
        _ => (Value::Null, false),
    };
    let seen = json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "rawPath": request.raw_http_path(),
        "query": query_map(&request.query_string_parameters()),
        "pathParameters": query_map(&request.path_parameters()),
        "stageVariables": query_map(&request.stage_variables()),
        "headers": headers,
        "body": body,
        "bodyIsBinary": binary,
        "requestContext": serde_json::to_value(request.request_context_ref()).unwrap_or(Value::Null),
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-echo", "yes")
        .body(Body::Text(seen.to_string()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(echo)).await
}
