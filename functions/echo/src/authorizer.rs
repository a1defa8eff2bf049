//! `authorizer`: an example Lambda authorizer for tests and the quick start, answering the
//! way real ones do. The identity (a TOKEN's token, or a REQUEST's first identity source)
//! decides:
//! - `allow-<name>`: Allow on every method of the stage (`.../{stage}/*`), principal `<name>`,
//!   a context of each value type, and `usageIdentifierKey` when the identity carries
//!   `;key=<value>`;
//! - `deny`: an explicit Deny; `elsewhere`: an Allow on another resource only (no match);
//! - `unauthorized`: fails with `Unauthorized` (API Gateway's 401);
//! - `broken`: answers something that is not an authorizer response;
//! - anything else: an explicit Deny.
//!
//! With payload 2.0 and simple responses, `allow-...` answers `isAuthorized: true`, anything
//! else `false`. Every answer's context carries `calls`, this instance's invocation count, so
//! a test can tell a cached result from a fresh one.

use std::sync::atomic::{AtomicU64, Ordering};

use lambda_http::Error;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::{Value, json};

static CALLS: AtomicU64 = AtomicU64::new(0);

fn policy(effect: &str, resource: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]
    })
}

async fn authorize(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    let event = event.payload;
    let arn = event
        .get("methodArn")
        .or_else(|| event.get("routeArn"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let identity = event
        .get("authorizationToken")
        .and_then(Value::as_str)
        .or_else(|| event.get("identitySource")?.get(0)?.as_str())
        .or_else(|| event.get("headers")?.get("authorization")?.as_str())
        .unwrap_or_default()
        .to_owned();
    let (token, key) = match identity.split_once(";key=") {
        Some((token, key)) => (token.to_owned(), Some(key.to_owned())),
        None => (identity.clone(), None),
    };
    // arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}
    let stage_arn = arn.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
    let context = json!({"calls": calls, "tier": "gold", "vip": true, "source": event.get("type")});
    let simple = event.get("version").and_then(Value::as_str) == Some("2.0")
        && event.get("routeArn").is_some()
        && event.get("methodArn").is_none();
    if token == "unauthorized" {
        return Err("Unauthorized".into());
    }
    if token == "broken" {
        return Ok(json!("this is not an authorizer response"));
    }
    if simple
        && event
            .get("headers")
            .and_then(|h| h.get("x-simple"))
            .is_some()
    {
        return Ok(json!({"isAuthorized": token.starts_with("allow-"), "context": context}));
    }
    let (principal, document) = match token.as_str() {
        t if t.starts_with("allow-") => (
            t["allow-".len()..].to_owned(),
            policy("Allow", &format!("{stage_arn}/*")),
        ),
        "elsewhere" => (
            "someone".to_owned(),
            policy("Allow", &format!("{stage_arn}/GET/elsewhere")),
        ),
        _ => (
            "nobody".to_owned(),
            policy("Deny", &format!("{stage_arn}/*")),
        ),
    };
    let mut answer =
        json!({"principalId": principal, "policyDocument": document, "context": context});
    if let Some(key) = key {
        answer["usageIdentifierKey"] = json!(key);
    }
    Ok(answer)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(authorize)).await
}
