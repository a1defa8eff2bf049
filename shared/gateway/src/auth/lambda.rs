//! Lambda authorizers, as API Gateway runs them.
//!
//! - TOKEN: one header's value (checked first against `identityValidationExpression`), sent
//!   as `{"type":"TOKEN","authorizationToken","methodArn"}`.
//! - REQUEST: the request as the proxy event of the authorizer's payload version (1.0: plus
//!   `type` and `methodArn`; 2.0: plus `type`, `routeArn` and `identitySource`), without the
//!   body.
//!
//! A missing identity source answers 401 without invoking. The answer is an IAM policy
//! (`principalId`, `policyDocument`, `context`, `usageIdentifierKey`), or with simple
//! responses (payload 2.0) `{"isAuthorized", "context"}`. It is cached by the authorizer and
//! every identity source value (each length-prefixed, so values cannot be shifted between
//! sources to collide) for `resultTtlInSeconds`, and a cached policy is evaluated again for
//! each method ARN. A function error `Unauthorized` is API Gateway's 401; any other failure,
//! a timeout or an answer of the wrong shape is 500 (`AUTHORIZER_FAILURE` or
//! `AUTHORIZER_CONFIGURATION_ERROR`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_model::definition::{
    Authorizer, AuthorizerType, DEFAULT_AUTHORIZER_TTL, PayloadFormatVersion,
};
use portico_model::policy::{Decision, ResourcePolicy, Target};
use portico_model::ports::{InvokeError, Invoker};
use portico_model::target::{FunctionTarget, substitute_stage_variables};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::GatewayError;
use crate::integration::Call;

/// How long an authorizer may take (API Gateway's limit for authorizers).
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);
/// Cached results per instance; past it, expired ones go, then all.
const MAX_CACHED_RESULTS: usize = 10_000;

/// An authorizer's answer, as cached.
#[derive(Debug)]
pub struct Grant {
    pub principal_id: Option<String>,
    /// The IAM policy answer, compiled; `None` for a simple answer.
    pub policy: Option<ResourcePolicy>,
    /// A simple answer's `isAuthorized`.
    pub authorized: bool,
    pub context: Map<String, Value>,
    pub usage_identifier_key: Option<String>,
}

impl Grant {
    /// The answer for one method ARN (a cached policy is evaluated again for each).
    pub fn decide(&self, method_arn: &str, source_ip: &str) -> Result<(), GatewayError> {
        let Some(policy) = &self.policy else {
            return if self.authorized {
                Ok(())
            } else {
                Err(GatewayError::AuthorizerForbidden {
                    reason: "the authorizer answered isAuthorized: false".into(),
                })
            };
        };
        let resource = method_arn.split_once('/').map_or("", |(_, r)| r);
        match policy.decide(
            &Target {
                method_arn,
                resource,
            },
            source_ip.parse().ok(),
        ) {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(GatewayError::AuthorizerDenied { explicit: true }),
            Decision::ImplicitDeny => Err(GatewayError::AuthorizerDenied { explicit: false }),
        }
    }
}

/// One authorizer call.
pub struct Invocation<'a> {
    pub name: &'a str,
    pub authorizer: &'a Authorizer,
    pub call: &'a Call<'a>,
    pub method_arn: &'a str,
    /// A REST API (REQUEST authorizers default to payload 1.0 there, 2.0 on HTTP APIs).
    pub rest: bool,
}

/// A cached result and when it expires.
type Cached = (Instant, Arc<Grant>);

#[derive(Default)]
pub struct LambdaAuthorizers {
    results: Mutex<HashMap<[u8; 32], Cached>>,
    /// TOKEN validation expressions, compiled once per instance.
    expressions: Mutex<HashMap<String, Option<Arc<regex::Regex>>>>,
}

fn failure(reason: String, configuration: bool) -> GatewayError {
    GatewayError::AuthorizerFailure {
        reason,
        configuration,
    }
}

impl LambdaAuthorizers {
    pub async fn authorize(
        &self,
        invocation: &Invocation<'_>,
        invoker: &dyn Invoker,
    ) -> Result<Arc<Grant>, GatewayError> {
        let Invocation {
            name,
            authorizer,
            call,
            method_arn,
            ..
        } = *invocation;
        let token = authorizer.kind == AuthorizerType::Token;
        let default = ["method.request.header.Authorization".to_owned()];
        let sources = if token && authorizer.identity_source.is_empty() {
            &default[..]
        } else {
            &authorizer.identity_source[..]
        };
        let values =
            super::identity_values(sources, call).map_err(|reason| GatewayError::Unauthorized {
                reason: format!("authorizer {name}: {reason}"),
            })?;
        if token
            && let Some(expression) = &authorizer.identity_validation_expression
            && !self
                .expression(expression)
                .is_some_and(|re| re.is_match(&values[0]))
        {
            return Err(GatewayError::Unauthorized {
                reason: format!(
                    "authorizer {name}: the token does not match its validation expression"
                ),
            });
        }

        let resolved = substitute_stage_variables(
            authorizer.function_uri.as_deref().unwrap_or_default(),
            &call.stage.variables,
        )
        .and_then(|uri| FunctionTarget::parse(&uri))
        .map_err(|reason| failure(format!("authorizer {name}: {reason}"), true))?;

        let ttl = authorizer
            .result_ttl_in_seconds
            .unwrap_or(DEFAULT_AUTHORIZER_TTL);
        // Without identity sources there is nothing to key a result by: never cached.
        let cache_key = (ttl > 0 && !sources.is_empty())
            .then(|| result_key(&call.target.api_id, name, &resolved.function, &values));
        if let Some(key) = &cache_key
            && let Some(grant) = self.cached(key)
        {
            grant.decide(method_arn, &call.request.source_ip)?;
            return Ok(grant);
        }

        let version = if token {
            PayloadFormatVersion::V1
        } else {
            authorizer
                .payload_format_version
                .unwrap_or(if invocation.rest {
                    PayloadFormatVersion::V1
                } else {
                    PayloadFormatVersion::V2
                })
        };
        let event = event(invocation, version, &values);
        let output = match tokio::time::timeout(
            AUTHORIZER_TIMEOUT,
            invoker.invoke(&resolved, event),
        )
        .await
        {
            Err(_) => {
                return Err(failure(format!("authorizer {name} timed out"), false));
            }
            Ok(Err(error @ (InvokeError::Denied(_) | InvokeError::NotFound(_)))) => {
                return Err(failure(format!("authorizer {name}: {error}"), true));
            }
            Ok(Err(error @ (InvokeError::Throttled(_) | InvokeError::Failed(_)))) => {
                return Err(failure(format!("authorizer {name}: {error}"), false));
            }
            Ok(Ok(output)) => output,
        };
        if let Some(kind) = output.function_error {
            // A function that fails with "Unauthorized" is how authorizers say 401.
            let message = serde_json::from_slice::<Value>(&output.payload)
                .ok()
                .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned));
            if message.as_deref() == Some("Unauthorized") {
                return Err(GatewayError::Unauthorized {
                    reason: format!("authorizer {name} answered Unauthorized"),
                });
            }
            return Err(failure(format!("authorizer {name} failed ({kind})"), false));
        }
        let simple = authorizer.enable_simple_responses && version == PayloadFormatVersion::V2;
        let grant = Arc::new(
            parse_answer(&output.payload, simple, version == PayloadFormatVersion::V1)
                .map_err(|reason| failure(format!("authorizer {name}: {reason}"), true))?,
        );
        if let Some(key) = cache_key {
            self.remember(key, grant.clone(), Duration::from_secs(u64::from(ttl)));
        }
        grant.decide(method_arn, &call.request.source_ip)?;
        Ok(grant)
    }

    fn expression(&self, expression: &str) -> Option<Arc<regex::Regex>> {
        let mut all = self.expressions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(compiled) = all.get(expression) {
            return compiled.clone();
        }
        // Compiled (and its key allocated) once per instance, not per request.
        let compiled = regex::Regex::new(expression).ok().map(Arc::new);
        all.insert(expression.to_owned(), compiled.clone());
        compiled
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<Grant>> {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results
            .get(key)
            .filter(|(expires, _)| Instant::now() < *expires)
            .map(|(_, grant)| grant.clone())
    }

    fn remember(&self, key: [u8; 32], grant: Arc<Grant>, ttl: Duration) {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        if results.len() >= MAX_CACHED_RESULTS {
            let now = Instant::now();
            results.retain(|_, (expires, _)| now < *expires);
            if results.len() >= MAX_CACHED_RESULTS {
                results.clear();
            }
        }
        results.insert(key, (Instant::now() + ttl, grant));
    }
}

/// The result cache key: which authorizer (API, name, function) and every identity value,
/// each length-prefixed.
fn result_key(api_id: &str, name: &str, function: &str, values: &[String]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((values.len() as u64).to_be_bytes());
    for part in [api_id, name, function]
        .into_iter()
        .chain(values.iter().map(String::as_str))
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

/// The authorizer's event, as JSON bytes.
fn event(invocation: &Invocation<'_>, version: PayloadFormatVersion, values: &[String]) -> Vec<u8> {
    let Invocation {
        authorizer,
        call,
        method_arn,
        ..
    } = *invocation;
    if authorizer.kind == AuthorizerType::Token {
        return json!({
            "type": "TOKEN",
            "authorizationToken": values[0],
            "methodArn": method_arn,
        })
        .to_string()
        .into_bytes();
    }
    let ctx = call.event_context();
    let bytes = match version {
        PayloadFormatVersion::V1 => crate::event::v1_event(call.request, &ctx),
        PayloadFormatVersion::V2 => crate::event::v2_event(call.request, &ctx),
    };
    let mut event: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    if let Some(object) = event.as_object_mut() {
        // An authorizer decides on the request's identity, not its body.
        object.remove("body");
        object.remove("isBase64Encoded");
        object.insert("type".to_owned(), json!("REQUEST"));
        match version {
            PayloadFormatVersion::V1 => {
                object.insert("methodArn".to_owned(), json!(method_arn));
            }
            PayloadFormatVersion::V2 => {
                object.insert("routeArn".to_owned(), json!(method_arn));
                object.insert("identitySource".to_owned(), json!(values));
            }
        }
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

/// Reads an authorizer's answer. Payload 1.0 contexts hold strings, numbers and booleans only,
/// as API Gateway requires.
pub fn parse_answer(payload: &[u8], simple: bool, v1: bool) -> Result<Grant, String> {
    let answer: Value =
        serde_json::from_slice(payload).map_err(|_| "the answer is not JSON".to_owned())?;
    let object = answer
        .as_object()
        .ok_or("the answer is not a JSON object")?;
    let context = match object.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(context)) => {
            if v1 && context.values().any(|v| v.is_object() || v.is_array()) {
                return Err("context values must be strings, numbers or booleans".into());
            }
            context.clone()
        }
        Some(_) => return Err("context is not an object".into()),
    };
    if simple && let Some(authorized) = object.get("isAuthorized") {
        let authorized = authorized
            .as_bool()
            .ok_or("isAuthorized is not a boolean")?;
        return Ok(Grant {
            principal_id: None,
            policy: None,
            authorized,
            context,
            usage_identifier_key: None,
        });
    }
    let principal_id = match object.get("principalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err("principalId is not a string".into()),
    };
    let document = object
        .get("policyDocument")
        .filter(|d| d.is_object())
        .ok_or("the answer has no policyDocument")?;
    let usage_identifier_key = match object.get("usageIdentifierKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) => Some(key.clone()),
        Some(_) => return Err("usageIdentifierKey is not a string".into()),
    };
    Ok(Grant {
        principal_id,
        policy: Some(ResourcePolicy::compile_for_caller(document)),
        authorized: false,
        context,
        usage_identifier_key,
    })
}

#[cfg(test)]
mod tests;
