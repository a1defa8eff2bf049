//! Lambda authorizers through the whole pipeline, with in-memory ports: a scripted invoker
//! plays the authorizer and the target and records every event. (The same behaviour on real
//! parts: tests/tests/e2e.rs, with the example authorizer under `cargo lambda watch`.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use portico_model::ports::{
    ConfigReader, InvokeError, InvokeOutput, Invoker, KeyGrant, StoreError,
};
use portico_model::records::{Deployment, DeploymentSummary, DomainMapping, Stage};
use portico_model::target::FunctionTarget;
use serde_json::{Value, json};

use crate::{Gateway, IncomingRequest, Settings};

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

type Script = dyn Fn(&Value) -> Result<Value, String> + Send + Sync;

/// `auth` answers with the script; `target` answers 200 with the event it received.
struct Scripted {
    script: Box<Script>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl Scripted {
    fn authorizer_calls(&self) -> Vec<Value> {
        let calls = self.calls.lock().expect("lock");
        calls
            .iter()
            .filter(|(f, _)| f == "auth")
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[async_trait]
impl Invoker for Scripted {
    async fn invoke(
        &self,
        target: &FunctionTarget,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError> {
        let event: Value = serde_json::from_slice(&payload).expect("event is JSON");
        self.calls
            .lock()
            .expect("lock")
            .push((target.function.clone(), event.clone()));
        if target.function == "auth" {
            return Ok(match (self.script)(&event) {
                Ok(answer) => InvokeOutput {
                    payload: answer.to_string().into_bytes(),
                    function_error: None,
                },
                Err(message) => InvokeOutput {
                    payload: json!({"errorMessage": message, "errorType": "Error"})
                        .to_string()
                        .into_bytes(),
                    function_error: Some("Unhandled".into()),
                },
            });
        }
        let body = json!({"event": event}).to_string();
        Ok(InvokeOutput {
            payload: json!({"statusCode": 200, "body": body})
                .to_string()
                .into_bytes(),
            function_error: None,
        })
    }
}

fn gateway(definition: Value, script: Box<Script>) -> (Gateway, Arc<Scripted>) {
    let definition: portico_model::definition::ApiDefinition =
        serde_json::from_value(definition).expect("definition");
    let memory = Memory {
        stage: Stage {
            api_id: "a1".into(),
            stage_name: "prod".into(),
            deployment_id: "d1".into(),
            description: None,
            variables: BTreeMap::from([("authFn".into(), "auth".into())]),
            settings: Default::default(),
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
            snapshot: portico_model::snapshot::compile("a1", &definition).expect("compiles"),
        },
    };
    let invoker = Arc::new(Scripted {
        script,
        calls: Mutex::new(Vec::new()),
    });
    let settings = Settings {
        access_log: false,
        account_id: "123456789012".into(),
        limits: crate::limits::LimitSettings {
            account: None,
            ..Default::default()
        },
        ..Settings::default()
    };
    let gateway = Gateway::new(
        Arc::new(memory),
        Arc::new(crate::limits::memory::MemoryCounters::default()),
        invoker.clone(),
        settings,
    );
    (gateway, invoker)
}

fn request(method: Method, path_and_query: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    let mut request = IncomingRequest::sample(headers);
    request.method = method;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    request.raw_path = format!("/a1/prod{path}");
    request.raw_query = query.to_owned();
    request
}

fn get(path: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    request(Method::GET, path, headers)
}

fn allow(resource: &str) -> Value {
    json!({
        "principalId": "user-7",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
        ]},
        "context": {"tier": "gold", "n": 3, "vip": true},
        "usageIdentifierKey": null
    })
}

fn rest_api(authorizer: Value) -> Value {
    json!({
        "name": "authz", "type": "REST",
        "authorizers": {"auth": authorizer},
        "routes": [
            {"method": "GET", "path": "/pets", "authorization": {"type": "CUSTOM", "authorizer": "auth"},
             "integration": {"type": "aws_proxy", "uri": "target"}},
            {"method": "GET", "path": "/elsewhere", "authorization": {"type": "CUSTOM", "authorizer": "auth"},
             "integration": {"type": "aws_proxy", "uri": "target"}},
            {"method": "GET", "path": "/open", "integration": {"type": "mock"}}
        ]
    })
}

fn body(response: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn token_authorizer_allows_caches_and_passes_its_context_on() {
    let api = rest_api(
        json!({"type": "TOKEN", "functionUri": "${stageVariables.authFn}",
        "identitySource": ["method.request.header.Authorization"],
        "identityValidationExpression": "^Bearer [a-z0-9-]+$"}),
    );
    let (gateway, invoker) = gateway(
        api,
        Box::new(|event| {
            assert_eq!(event["type"], "TOKEN");
            match event["authorizationToken"].as_str() {
                Some("Bearer good") => Ok(allow("arn:aws:execute-api:*:*:a1/prod/GET/*")),
                Some("Bearer deny") => {
                    Ok(json!({"principalId": "x", "policyDocument": {"Statement": [
                    {"Action": "execute-api:*", "Effect": "Deny", "Resource": "*"}]}}))
                }
                Some("Bearer unknown") => Err("Unauthorized".into()),
                _ => Ok(json!("not an answer")),
            }
        }),
    );

    // Missing, or failing the validation expression: 401 without invoking.
    for headers in [&[][..], &[("authorization", "Basic abc")][..]] {
        let response = gateway.handle(get("/pets", headers)).await;
        assert_eq!(response.status(), 401);
        assert_eq!(body(&response), json!({"message": "Unauthorized"}));
    }
    assert!(invoker.authorizer_calls().is_empty());

    let response = gateway
        .handle(get("/pets", &[("authorization", "Bearer good")]))
        .await;
    assert_eq!(response.status(), 200);
    let event = &body(&response)["event"];
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["principalId"], "user-7");
    assert_eq!(authorizer["tier"], "gold");
    assert_eq!(authorizer["n"], 3);
    let calls = invoker.authorizer_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["methodArn"],
        "arn:aws:execute-api:us-east-1:123456789012:a1/prod/GET/pets"
    );

    // Cached: another route under the same policy costs no call.
    let response = gateway
        .handle(get("/elsewhere", &[("authorization", "Bearer good")]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(invoker.authorizer_calls().len(), 1);

    let response = gateway
        .handle(get("/pets", &[("authorization", "Bearer deny")]))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        std::str::from_utf8(response.body()).expect("utf-8"),
        r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
    );
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );

    let response = gateway
        .handle(get("/pets", &[("authorization", "Bearer unknown")]))
        .await;
    assert_eq!(response.status(), 401);

    let response = gateway
        .handle(get("/pets", &[("authorization", "Bearer broken")]))
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        std::str::from_utf8(response.body()).expect("utf-8"),
        r#"{"message": null}"#
    );
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AuthorizerConfigurationException"
    );
    // The open route never calls the authorizer.
    let before = invoker.authorizer_calls().len();
    assert_eq!(gateway.handle(get("/open", &[])).await.status(), 200);
    assert_eq!(invoker.authorizer_calls().len(), before);
}

#[tokio::test]
async fn a_cached_policy_is_evaluated_again_for_each_method_arn() {
    let api = rest_api(json!({"type": "TOKEN", "functionUri": "auth"}));
    let (gateway, invoker) = gateway(
        api,
        Box::new(|_| {
            Ok(allow(
                "arn:aws:execute-api:us-east-1:*:a1/prod/GET/elsewhere",
            ))
        }),
    );
    let token = [("authorization", "t1")];
    assert_eq!(
        gateway.handle(get("/elsewhere", &token)).await.status(),
        200
    );
    let refused = gateway.handle(get("/pets", &token)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        std::str::from_utf8(refused.body()).expect("utf-8"),
        r#"{"Message":"User is not authorized to access this resource"}"#
    );
    assert_eq!(invoker.authorizer_calls().len(), 1, "the second was cached");
}

#[tokio::test]
async fn cache_keys_cover_every_identity_source_and_cannot_be_shifted() {
    let api = rest_api(json!({"type": "REQUEST", "functionUri": "auth",
        "identitySource": ["method.request.header.X-User", "method.request.querystring.tenant"]}));
    let (gateway, invoker) = gateway(
        api,
        Box::new(|event| {
            // Allows only user "ab" of tenant "c".
            let user = event["headers"]["x-user"].as_str().unwrap_or_default();
            let tenant = event["queryStringParameters"]["tenant"]
                .as_str()
                .unwrap_or_default();
            if user == "ab" && tenant == "c" {
                Ok(allow("*"))
            } else {
                Ok(
                    json!({"principalId": "no", "policyDocument": {"Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}]}}),
                )
            }
        }),
    );
    let allowed = gateway
        .handle(get("/pets?tenant=c", &[("x-user", "ab")]))
        .await;
    assert_eq!(allowed.status(), 200);
    // The same characters split differently between the sources: another caller.
    let shifted = gateway
        .handle(get("/pets?tenant=bc", &[("x-user", "a")]))
        .await;
    assert_eq!(shifted.status(), 403);
    // Another tenant with the allowed user: another caller too.
    let other = gateway
        .handle(get("/pets?tenant=d", &[("x-user", "ab")]))
        .await;
    assert_eq!(other.status(), 403);
    assert_eq!(invoker.authorizer_calls().len(), 3);
    // A missing source: 401 without a call.
    let missing = gateway.handle(get("/pets", &[("x-user", "ab")])).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(invoker.authorizer_calls().len(), 3);
    // The REQUEST event: the request, without its body, with methodArn.
    let event = &invoker.authorizer_calls()[0];
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["resource"], "/pets");
    assert!(event.get("body").is_none());
}

#[tokio::test]
async fn ttl_zero_calls_every_time_and_simple_responses_decide_alone() {
    let api = json!({
        "name": "simple", "type": "HTTP",
        "authorizers": {"auth": {"type": "REQUEST", "functionUri": "auth", "resultTtlInSeconds": 0,
            "identitySource": ["$request.header.Authorization"],
            "payloadFormatVersion": "2.0", "enableSimpleResponses": true}},
        "routes": [{"method": "GET", "path": "/pets", "authorization": {"type": "CUSTOM", "authorizer": "auth"},
            "integration": {"type": "aws_proxy", "uri": "target", "payloadFormatVersion": "2.0"}}]
    });
    let (gateway, invoker) = gateway(
        api,
        Box::new(|event| {
            assert_eq!(event["version"], "2.0");
            assert_eq!(event["type"], "REQUEST");
            assert!(event["routeArn"].as_str().is_some());
            let ok = event["identitySource"][0] == "yes";
            Ok(json!({"isAuthorized": ok, "context": {"who": "simple", "nested": {"a": 1}}}))
        }),
    );
    let ok = gateway
        .handle(get("/pets", &[("authorization", "yes")]))
        .await;
    assert_eq!(ok.status(), 200);
    let lambda = &body(&ok)["event"]["requestContext"]["authorizer"]["lambda"];
    assert_eq!(lambda["who"], "simple");
    assert_eq!(lambda["nested"]["a"], 1);
    assert_eq!(
        gateway
            .handle(get("/pets", &[("authorization", "yes")]))
            .await
            .status(),
        200
    );
    let no = gateway
        .handle(get("/pets", &[("authorization", "no")]))
        .await;
    assert_eq!(no.status(), 403);
    assert_eq!(body(&no), json!({"message": "Forbidden"}));
    assert_eq!(invoker.authorizer_calls().len(), 3);
}

#[tokio::test]
async fn jwt_routes_check_tokens_and_scopes_and_pass_claims_on() {
    use crate::auth::testkit::{Idp, RsaSigner, now};
    let signer = RsaSigner::generate("k1");
    let idp = Idp::start(vec![signer.jwk()]).await;
    let api = json!({
        "name": "jwt", "type": "HTTP",
        "authorizers": {"jwt": {"type": "JWT", "issuer": idp.issuer, "audience": ["app"]}},
        "cors": {"allowOrigins": ["https://app.example"], "allowMethods": ["GET"], "allowHeaders": ["authorization"]},
        "routes": [
            {"method": "GET", "path": "/pets", "authorization": {"type": "JWT", "authorizer": "jwt"},
             "integration": {"type": "aws_proxy", "uri": "target", "payloadFormatVersion": "2.0"}},
            {"method": "GET", "path": "/admin", "authorization": {"type": "JWT", "authorizer": "jwt", "scopes": ["admin"]},
             "integration": {"type": "aws_proxy", "uri": "target", "payloadFormatVersion": "1.0"}}
        ]
    });
    let (gateway, _) = gateway(api, Box::new(|_| Err("no authorizer function".into())));
    let claims = json!({"iss": idp.issuer, "aud": "app", "sub": "u1", "exp": now() + 300,
        "scope": "read", "groups": ["a", "b"]});
    let token = format!("Bearer {}", signer.token(&claims));
    let origin = ("origin", "https://app.example");

    let response = gateway.handle(get("/pets", &[origin])).await;
    assert_eq!(response.status(), 401);
    // Errors carry the CORS headers too, so the browser can read them.
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );

    let response = gateway
        .handle(get("/pets", &[("authorization", &token), origin]))
        .await;
    assert_eq!(response.status(), 200);
    let jwt = &body(&response)["event"]["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "u1");
    assert_eq!(jwt["claims"]["groups"], "[a b]");
    assert_eq!(jwt["scopes"], json!(["read"]));

    let response = gateway
        .handle(get("/admin", &[("authorization", &token)]))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(body(&response), json!({"message": "Forbidden"}));

    let admin = format!(
        "Bearer {}",
        signer.token(&json!({"iss": idp.issuer, "aud": "app", "sub": "u2", "exp": now() + 300, "scope": "read admin"}))
    );
    let response = gateway
        .handle(get("/admin", &[("authorization", &admin)]))
        .await;
    assert_eq!(response.status(), 200);
    let v1 = &body(&response)["event"]["requestContext"]["authorizer"];
    assert_eq!(v1["claims"]["sub"], "u2");
    assert_eq!(v1["scopes"], json!(["read", "admin"]));

    // A preflight is answered by the gateway, before the authorizer.
    let mut preflight = request(
        Method::OPTIONS,
        "/pets",
        &[origin, ("access-control-request-method", "GET")],
    );
    preflight.body = Bytes::new();
    let response = gateway.handle(preflight).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-methods"], "GET");
}
