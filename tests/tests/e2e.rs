//! Whole requests on real parts: the admin and front functions and the `echo` target run by
//! `cargo lambda watch`, config in dynalite, HTTP backends on loopback. Each test creates its
//! own API, so tests share the stack but never each other's config.

use std::time::{Duration, Instant};

use base64::Engine;
use portico_tests::backend;
use portico_tests::stack::{Answer, admin_url, create_api, deploy, front_url, http, raw_get, send};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn get(path: &str) -> Answer {
    send(http().get(front_url(path))).await
}

fn assert_gateway_error(answer: &Answer, status: u16, body: &str, error_type: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.text(), body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-amzn-errortype"), error_type);
    assert!(
        answer
            .header("x-amzn-requestid")
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn mock_integration_answers_from_the_gateway() {
    let id = create_api(&json!({"name": "mock", "routes": [
        {"method": "GET", "path": "/hello", "integration": {"type": "mock", "statusCode": 201,
            "headers": {"x-mock": "yes", "content-type": "text/plain"}, "body": "hi there"}}
    ]}))
    .await;
    deploy(&id, "prod", json!({})).await;
    let answer = get(&format!("/{id}/prod/hello")).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.text(), "hi there");
    assert_eq!(answer.header("x-mock"), Some("yes"));
    assert_eq!(answer.header("content-type"), Some("text/plain"));
    assert!(answer.header("x-amzn-requestid").is_some());
}

#[tokio::test]
async fn lambda_proxy_delivers_the_payload_2_0_event_api_gateway_sends() {
    // An HTTP API: its Lambda proxy routes default to payload 2.0.
    let id = create_api(&json!({"name": "echo", "type": "HTTP", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "${stageVariables.fn}"}},
        {"method": "POST", "path": "/pets", "integration": {"type": "aws_proxy", "uri": "echo", "payloadFormatVersion": "2.0"}}
    ]}))
    .await;
    deploy(&id, "prod", json!({"fn": "echo", "color": "blue"})).await;

    let answer = send(
        http()
            .get(front_url(&format!("/{id}/prod/pets/a%20b?a=1&a=2&b=x%20y")))
            .header("cookie", "c=1; d=2")
            .header("x-custom", "hello"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("x-echo"),
        Some("yes"),
        "the target's headers reach the client"
    );
    let seen = answer.json();
    assert_eq!(seen["method"], "GET");
    assert_eq!(
        seen["rawPath"], "/prod/pets/a%20b",
        "rawPath keeps the stage, as an HTTP API's does"
    );
    assert_eq!(
        seen["pathParameters"],
        json!({"id": ["a b"]}),
        "path parameters are decoded"
    );
    assert_eq!(seen["query"], json!({"a": ["1", "2"], "b": ["x y"]}));
    assert_eq!(
        seen["stageVariables"],
        json!({"fn": ["echo"], "color": ["blue"]})
    );
    assert_eq!(
        seen["headers"]["cookie"],
        json!(["c=1; d=2"]),
        "cookies arrive through the cookies field"
    );
    assert_eq!(seen["headers"]["x-custom"], json!(["hello"]));
    let ctx = &seen["requestContext"];
    assert_eq!(ctx["routeKey"], "GET /pets/{id}");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["apiId"], id.as_str());
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["path"], "/prod/pets/a%20b");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        ctx["requestId"].as_str(),
        answer.header("x-amzn-requestid"),
        "one request id for the client and the target"
    );
    let epoch_ms = ctx["timeEpoch"].as_i64().expect("timeEpoch");
    assert!(
        epoch_ms > 1_700_000_000_000,
        "timeEpoch is in milliseconds: {epoch_ms}"
    );

    let text = send(
        http()
            .post(front_url(&format!("/{id}/prod/pets")))
            .header("content-type", "application/json")
            .body(r#"{"name":"rex"}"#),
    )
    .await
    .json();
    assert_eq!(text["body"], r#"{"name":"rex"}"#);
    assert_eq!(text["bodyIsBinary"], false);

    let bytes: Vec<u8> = (0..=255).collect();
    let binary = send(
        http()
            .post(front_url(&format!("/{id}/prod/pets")))
            .header("content-type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .json();
    assert_eq!(binary["bodyIsBinary"], true);
    assert_eq!(
        binary["body"],
        B64.encode(&bytes),
        "binary bodies arrive byte for byte"
    );
}

#[tokio::test]
async fn lambda_proxy_delivers_the_payload_1_0_event_of_a_rest_api() {
    // A REST API: Lambda proxy routes default to payload 1.0, as in API Gateway.
    let id = create_api(&json!({"name": "echo-v1", "binaryMediaTypes": ["image/png"], "routes": [
        {"method": "ANY", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}}
    ]}))
    .await;
    deploy(&id, "prod", json!({"color": "blue"})).await;
    let answer = send(
        http()
            .get(front_url(&format!("/{id}/prod/pets/7?a=1&a=2")))
            .header("x-custom", "hello"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = answer.json();
    assert_eq!(seen["rawPath"], "/pets/7", "1.0 `path` has no stage");
    assert_eq!(seen["pathParameters"], json!({"id": ["7"]}));
    assert_eq!(seen["query"], json!({"a": ["1", "2"]}));
    assert_eq!(seen["stageVariables"], json!({"color": ["blue"]}));
    assert_eq!(seen["headers"]["x-custom"], json!(["hello"]));
    let ctx = &seen["requestContext"];
    assert_eq!(ctx["resourcePath"], "/pets/{id}");
    assert_eq!(ctx["path"], "/prod/pets/7");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["httpMethod"], "GET");
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["requestId"].as_str(), answer.header("x-amzn-requestid"));

    let png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0, 255];
    let binary = send(
        http()
            .put(front_url(&format!("/{id}/prod/pets/7")))
            .header("content-type", "image/png")
            .body(png.clone()),
    )
    .await
    .json();
    assert_eq!(
        binary["bodyIsBinary"], true,
        "a binary media type of the API arrives base64-encoded"
    );
    assert_eq!(binary["body"], B64.encode(&png));
}

#[tokio::test]
async fn lambda_failures_answer_as_api_gateway_does() {
    let id = create_api(&json!({"name": "failures", "routes": [
        {"method": "GET", "path": "/{proxy+}", "integration": {"type": "aws_proxy", "uri": "echo"}},
        {"method": "GET", "path": "/missing", "integration": {"type": "aws_proxy", "uri": "${stageVariables.nope}"}}
    ]}))
    .await;
    deploy(&id, "prod", json!({})).await;
    // The echo handler returns Err for paths ending in /fail.
    let failed = get(&format!("/{id}/prod/x/fail")).await;
    assert_gateway_error(
        &failed,
        502,
        r#"{"message": "Internal server error"}"#,
        Some("InternalServerErrorException"),
    );
    // A stage variable the stage does not define is the gateway's misconfiguration.
    let misconfigured = get(&format!("/{id}/prod/missing")).await;
    assert_gateway_error(
        &misconfigured,
        500,
        r#"{"message": "Internal server error"}"#,
        Some("InternalServerErrorException"),
    );
}

#[tokio::test]
async fn http_proxy_forwards_the_request_and_strips_hop_by_hop_headers() {
    let backend = backend::start().await;
    let id = create_api(&json!({"name": "proxy", "routes": [
        {"method": "ANY", "path": "/svc/{proxy+}", "integration": {"type": "http_proxy", "uri": backend.url("/base/{proxy}")}},
        {"method": "GET", "path": "/bytes", "integration": {"type": "http_proxy", "uri": backend.url("/bytes")}}
    ]}))
    .await;
    deploy(&id, "prod", json!({})).await;

    let body: Vec<u8> = vec![0, 159, 146, 150, 255];
    let answer = send(
        http()
            .put(front_url(&format!("/{id}/prod/svc/a/b%20c?x=1&x=2")))
            .header("x-keep", "1")
            .header("x-forwarded-for", "203.0.113.9")
            .header("content-type", "application/octet-stream")
            .body(body.clone()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-backend"), Some("yes"));
    assert_eq!(
        answer.header("x-hop-secret"),
        None,
        "a header the backend named in Connection is hop-by-hop"
    );
    let seen = answer.json();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["pathAndQuery"], "/base/a/b%20c?x=1&x=2");
    assert_eq!(seen["headers"]["x-keep"], json!(["1"]));
    assert_eq!(
        seen["headers"]["x-forwarded-for"],
        json!(["203.0.113.9, 127.0.0.1"])
    );
    assert_eq!(
        seen["headers"]["x-amzn-requestid"][0].as_str(),
        answer.header("x-amzn-requestid")
    );
    assert_eq!(seen["bodyBase64"], B64.encode(&body));

    let bytes = get(&format!("/{id}/prod/bytes")).await;
    assert_eq!(bytes.status, 200);
    assert_eq!(
        bytes.body.to_vec(),
        (0..=255).collect::<Vec<u8>>(),
        "binary responses pass byte for byte"
    );
}

#[tokio::test]
async fn slow_and_unreachable_backends() {
    let backend = backend::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let id = create_api(&json!({"name": "slow", "routes": [
        {"method": "GET", "path": "/slow", "integration": {"type": "http_proxy", "uri": backend.url("/slow/5000"), "timeoutInMillis": 300}},
        {"method": "GET", "path": "/down", "integration": {"type": "http_proxy", "uri": format!("http://127.0.0.1:{closed_port}/")}}
    ]}))
    .await;
    deploy(&id, "prod", json!({})).await;
    let slow = get(&format!("/{id}/prod/slow")).await;
    assert_gateway_error(
        &slow,
        504,
        r#"{"message": "Endpoint request timed out"}"#,
        None,
    );
    let down = get(&format!("/{id}/prod/down")).await;
    assert_gateway_error(
        &down,
        502,
        r#"{"message": "Internal server error"}"#,
        Some("InternalServerErrorException"),
    );
}

#[tokio::test]
async fn missing_routes_answer_per_api_type() {
    let rest = create_api(&json!({"name": "rest", "routes": [
        {"method": "GET", "path": "/only", "integration": {"type": "mock"}}
    ]}))
    .await;
    deploy(&rest, "prod", json!({})).await;
    let token = r#"{"message":"Missing Authentication Token"}"#;
    let missing = Some("MissingAuthenticationTokenException");
    assert_gateway_error(
        &get(&format!("/{rest}/prod/other")).await,
        403,
        token,
        missing,
    );
    assert_gateway_error(
        &send(http().post(front_url(&format!("/{rest}/prod/only")))).await,
        403,
        token,
        missing,
    );
    assert_gateway_error(
        &get(&format!("/{rest}/nostage/only")).await,
        403,
        token,
        missing,
    );
    assert_gateway_error(&get("/nosuchapi0/prod/only").await, 403, token, missing);
    assert_gateway_error(&get("/").await, 403, token, missing);

    let http_api = create_api(&json!({"name": "http", "type": "HTTP", "routes": [
        {"method": "GET", "path": "/only", "integration": {"type": "mock"}}
    ]}))
    .await;
    deploy(&http_api, "prod", json!({})).await;
    assert_gateway_error(
        &get(&format!("/{http_api}/prod/other")).await,
        404,
        r#"{"message":"Not Found"}"#,
        None,
    );
}

#[tokio::test]
async fn a_new_deployment_reaches_the_front_within_the_config_ttl() {
    let definition = |body: &str| {
        json!({"name": "moving", "routes": [
            {"method": "GET", "path": "/v", "integration": {"type": "mock", "body": body}}
        ]})
    };
    let id = create_api(&definition("one")).await;
    deploy(&id, "prod", json!({})).await;
    assert_eq!(get(&format!("/{id}/prod/v")).await.text(), "one");

    let put = send(
        http()
            .put(admin_url(&format!("/apis/{id}")))
            .header("if-match", "\"1\"")
            .json(&definition("two")),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    // Not deployed yet: the stage still serves its deployment.
    assert_eq!(get(&format!("/{id}/prod/v")).await.text(), "one");
    deploy(&id, "prod", json!({})).await;
    let deployed = Instant::now();
    // Bounded wait: the front's TTL in the test stack is 0.5 s; allow far more before failing.
    loop {
        let body = get(&format!("/{id}/prod/v")).await.text();
        if body == "two" {
            break;
        }
        assert_eq!(body, "one");
        assert!(
            deployed.elapsed() < Duration::from_secs(10),
            "the deployment never reached the front"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("deployment propagation: {:?}", deployed.elapsed());
}

#[tokio::test]
async fn the_admin_function_url_answers_json_errors() {
    let answer = send(http().post(admin_url("/apis")).body("{not json")).await;
    assert_eq!(answer.status, 400);
    let body: Value = answer.json();
    assert!(body["problems"].is_array());
    let answer = send(http().get(admin_url("/nothing-here"))).await;
    assert_eq!(answer.status, 404);
}

/// Polls the front until `path` answers `want`, within a bound far above the test stack's
/// 0.5 s config TTL.
async fn eventually_serves(path: &str, want: &str) -> Duration {
    let started = Instant::now();
    loop {
        let body = get(path).await.text();
        if body == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} still answers {body:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn import_deploy_canary_promote_and_rollback_through_the_function_urls() {
    let document = |body: &str| {
        json!({"openapi": "3.0.1", "info": {"title": "flow", "version": "1"}, "paths": {"/v": {"get": {
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {"type": "mock",
                "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": body}}}}
        }}}})
    };
    let imported = send(
        http()
            .post(admin_url("/apis/import"))
            .json(&document("one")),
    )
    .await;
    assert_eq!(imported.status, 201, "{}", imported.text());
    let id = imported.json()["id"].as_str().expect("id").to_owned();
    let first = deploy(&id, "prod", json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    eventually_serves(&format!("/{id}/prod/v"), "one").await;

    let overwritten = send(
        http()
            .put(admin_url(&format!("/apis/{id}/import?mode=overwrite")))
            .header("if-match", "\"1\"")
            .json(&document("two")),
    )
    .await;
    assert_eq!(overwritten.status, 200, "{}", overwritten.text());
    let canary = send(http().post(admin_url(&format!("/apis/{id}/deployments"))).json(&json!({
        "stageName": "prod", "canary": {"percentTraffic": 10, "assignment": "STICKY_SOURCE_IP"}
    })))
    .await;
    assert_eq!(canary.status, 201, "{}", canary.text());
    let canary = canary.json();
    let second = canary["id"].as_str().expect("id").to_owned();
    assert_eq!(
        canary["stage"]["deploymentId"],
        first.as_str(),
        "a canary leaves the stage's deployment in place"
    );
    assert_eq!(canary["stage"]["canary"]["deploymentId"], second.as_str());

    let promoted = send(http().post(admin_url(&format!("/apis/{id}/stages/prod/promote")))).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text());
    assert_eq!(promoted.json()["deploymentId"], second.as_str());
    let propagation = eventually_serves(&format!("/{id}/prod/v"), "two").await;
    println!("promotion reached the front in {propagation:?}");

    let rolled = send(http().post(admin_url(&format!("/apis/{id}/stages/prod/rollback")))).await;
    assert_eq!(rolled.status, 200, "{}", rolled.text());
    assert_eq!(rolled.json()["deploymentId"], first.as_str());
    eventually_serves(&format!("/{id}/prod/v"), "one").await;

    let audit = send(http().get(admin_url("/audit?limit=100"))).await.json();
    let mine: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| {
            e["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("/apis/{id}")))
        })
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        mine,
        [
            "RollbackStage",
            "PromoteCanary",
            "PutStage",
            "CreateDeployment",
            "OverwriteApi",
            "PutStage",
            "CreateDeployment",
            "ImportApi"
        ]
    );
    assert!(audit["items"][0]["caller"].is_string());
}

#[tokio::test]
async fn an_api_with_300_routes_deploys_and_routes() {
    let routes: Vec<Value> = (0..300)
        .map(|i| {
            json!({"method": "GET", "path": format!("/resource{i}/{{id}}"),
            "integration": {"type": "mock", "body": format!("route {i}")}})
        })
        .collect();
    let id = create_api(&json!({"name": "wide", "routes": routes})).await;
    let deployed = deploy(&id, "prod", json!({})).await;
    let bytes = deployed["snapshotBytes"].as_u64().expect("size");
    println!("300 routes: snapshot of {bytes} bytes");
    assert!(
        bytes < 64 * 1024,
        "300 routes compress far below DynamoDB's 400 KB item"
    );
    let detail = send(http().get(admin_url(&format!(
        "/apis/{id}/deployments/{}",
        deployed["id"].as_str().expect("id")
    ))))
    .await;
    assert_eq!(detail.json()["routes"].as_array().map(Vec::len), Some(300));
    assert_eq!(
        get(&format!("/{id}/prod/resource0/a")).await.text(),
        "route 0"
    );
    assert_eq!(
        get(&format!("/{id}/prod/resource299/b")).await.text(),
        "route 299"
    );
}

#[tokio::test]
async fn the_front_splits_traffic_to_the_canary() {
    let definition = |body: &str| {
        json!({"name": "split", "routes": [
            {"method": "GET", "path": "/v", "integration": {"type": "mock", "body": body}},
            {"method": "GET", "path": "/var", "integration": {"type": "aws_proxy", "uri": "${stageVariables.fn}", "payloadFormatVersion": "2.0"}}
        ]})
    };
    let id = create_api(&definition("main")).await;
    deploy(&id, "prod", json!({"fn": "echo"})).await;
    let put = send(
        http()
            .put(admin_url(&format!("/apis/{id}")))
            .json(&definition("canary")),
    )
    .await;
    assert_eq!(put.status, 200);

    // All of the traffic: every request reaches the canary, with its variable overrides.
    let canary = send(http().post(admin_url(&format!("/apis/{id}/deployments"))).json(&json!({
        "stageName": "prod", "canary": {"percentTraffic": 100, "stageVariableOverrides": {"fn": "echo:canary"}}
    })))
    .await;
    assert_eq!(canary.status, 201, "{}", canary.text());
    eventually_serves(&format!("/{id}/prod/v"), "canary").await;
    let seen = get(&format!("/{id}/prod/var")).await.json();
    assert_eq!(
        seen["stageVariables"]["fn"],
        json!(["echo:canary"]),
        "the canary side sees its overrides"
    );

    // Half the traffic, sticky by source IP: this client (always 127.0.0.1) stays on one side.
    // The new override tells the new split apart from the old one once the front loads it.
    let sticky = send(http().put(admin_url(&format!("/apis/{id}/stages/prod"))).json(&json!({
        "canary": {"deploymentId": canary.json()["id"], "percentTraffic": 50, "assignment": "STICKY_SOURCE_IP",
                   "stageVariableOverrides": {"fn": "echo:sticky"}}
    })))
    .await;
    assert_eq!(sticky.status, 200, "{}", sticky.text());
    let started = Instant::now();
    let side = loop {
        let seen = get(&format!("/{id}/prod/var")).await.json()["stageVariables"]["fn"][0].clone();
        if seen != "echo:canary" {
            break seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sticky split never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(side == "echo" || side == "echo:sticky", "{side}");
    for _ in 0..20 {
        let seen = get(&format!("/{id}/prod/var")).await.json()["stageVariables"]["fn"][0].clone();
        assert_eq!(seen, side, "a sticky client never changes sides");
    }

    // No canary: everything is back on the stage's deployment.
    let removed = send(
        http()
            .put(admin_url(&format!("/apis/{id}/stages/prod")))
            .json(&json!({"canary": null})),
    )
    .await;
    assert_eq!(removed.status, 200);
    eventually_serves(&format!("/{id}/prod/v"), "main").await;
}

#[tokio::test]
async fn gateway_responses_can_be_customised_per_api() {
    let id = create_api(&json!({"name": "custom-errors",
        "gatewayResponses": {
            "MISSING_AUTHENTICATION_TOKEN": {"statusCode": 404,
                "responseParameters": {"gatewayresponse.header.x-request": "context.requestId"},
                "responseTemplates": {"application/json": "{\"error\":$context.error.messageString}"}},
            "DEFAULT_5XX": {"responseTemplates": {"application/json": "{\"oops\":\"$context.error.responseType\"}"}}
        },
        "routes": [{"method": "GET", "path": "/broken", "integration": {"type": "aws_proxy", "uri": "${stageVariables.nope}"}}]
    }))
    .await;
    deploy(&id, "prod", json!({})).await;
    let missing = get(&format!("/{id}/prod/nothing-here")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.text(),
        r#"{"error":"Missing Authentication Token"}"#
    );
    assert_eq!(
        missing.header("x-request"),
        missing.header("x-amzn-requestid")
    );
    let broken = get(&format!("/{id}/prod/broken")).await;
    assert_eq!(broken.status, 500);
    assert_eq!(broken.text(), r#"{"oops":"API_CONFIGURATION_ERROR"}"#);
}

#[tokio::test]
async fn protected_routes_refuse_callers_without_credentials() {
    // IAM signatures are not verified by this front: such routes are refused, never served
    // open (and the deployment says so). A JWT route without a token, and an unknown API key,
    // are refused as API Gateway refuses them.
    let id = create_api(&json!({"name": "guarded",
        "authorizers": {"jwt": {"type": "JWT", "issuer": "https://issuer.example.com", "audience": ["api"]}},
        "routes": [
            {"method": "GET", "path": "/open", "integration": {"type": "mock", "body": "open"}},
            {"method": "GET", "path": "/jwt", "integration": {"type": "mock", "body": "secret"},
             "authorization": {"type": "JWT", "authorizer": "jwt"}},
            {"method": "GET", "path": "/iam", "integration": {"type": "mock", "body": "secret"},
             "authorization": {"type": "AWS_IAM"}},
            {"method": "GET", "path": "/keyed", "integration": {"type": "mock", "body": "secret"}, "apiKeyRequired": true}
        ]}))
    .await;
    let deployed = deploy(&id, "prod", json!({})).await;
    let warned: Vec<&str> = deployed["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(warned, ["/definition/routes/2"]);

    assert_eq!(get(&format!("/{id}/prod/open")).await.text(), "open");
    let jwt = get(&format!("/{id}/prod/jwt")).await;
    assert_gateway_error(
        &jwt,
        401,
        r#"{"message":"Unauthorized"}"#,
        Some("UnauthorizedException"),
    );
    let iam = get(&format!("/{id}/prod/iam")).await;
    assert_gateway_error(
        &iam,
        403,
        r#"{"message":"Missing Authentication Token"}"#,
        Some("MissingAuthenticationTokenException"),
    );
    let keyed = send(
        http()
            .get(front_url(&format!("/{id}/prod/keyed")))
            .header("x-api-key", "anything"),
    )
    .await;
    assert_gateway_error(
        &keyed,
        403,
        r#"{"message":"Forbidden"}"#,
        Some("ForbiddenException"),
    );
}

/// The path-confusion list of ../shared/REFERENCE.md: every spelling reaches routing,
/// protection and the target as one normalized path, or is refused. A protected `/admin`
/// sits beside an open `{proxy+}` whose target reports the path it was given, so a spelling
/// that slipped past routing would show up as a 200 from the target.
#[tokio::test]
async fn path_confusion_never_reaches_a_route_it_should_not() {
    let id = create_api(&json!({"name": "confusion",
        "authorizers": {"jwt": {"type": "JWT", "issuer": "https://issuer.example.com", "audience": ["api"]}},
        "routes": [
            {"method": "GET", "path": "/admin", "integration": {"type": "mock", "body": "secret"}, "apiKeyRequired": true},
            {"method": "GET", "path": "/admin/{id}", "integration": {"type": "mock", "body": "secret"},
             "authorization": {"type": "JWT", "authorizer": "jwt"}},
            {"method": "ANY", "path": "/{proxy+}", "integration": {"type": "aws_proxy", "uri": "echo"}}
        ]}))
    .await;
    deploy(&id, "prod", json!({})).await;
    let base = format!("/{id}/prod");

    // Spellings of /admin and /admin/7: the protected routes answer, never the target.
    for spelling in [
        "/admin",
        "/admin/",
        "//admin",
        "/%61dmin",
        "/%61%64%6D%69%6E",
        "/x/../admin",
        "/./admin",
        "/x/%2e%2e/admin",
        "/x/.%2E/admin",
        "/admin/.",
        "/admin/7/..",
    ] {
        let answer = raw_get(&format!("{base}{spelling}"), &[]).await;
        assert_gateway_error(
            &answer,
            403,
            r#"{"message":"Forbidden"}"#,
            Some("ForbiddenException"),
        );
    }
    for spelling in [
        "/admin/7",
        "/admin//7",
        "/admin/x/../7",
        "/%61dmin/7/",
        "/admin/./7",
    ] {
        let answer = raw_get(&format!("{base}{spelling}"), &[]).await;
        assert_gateway_error(
            &answer,
            401,
            r#"{"message":"Unauthorized"}"#,
            Some("UnauthorizedException"),
        );
    }

    // Spellings a backend could read as /admin but a router could not: refused.
    for spelling in [
        "/admin%2Fsecret",
        "/admin%2fsecret",
        "/admin%5Csecret",
        "/admin\\secret",
        "/admin%00",
        "/admin%0d%0aX-Injected:%201",
        "/%C0%AE%C0%AE/admin",
        "/x/%C0%AFadmin",
        "/%E0%80%AFadmin",
        "/x/..%2Fadmin",
        "/../../../admin",
        "/admin%zz",
    ] {
        let answer = raw_get(&format!("{base}{spelling}"), &[]).await;
        assert_gateway_error(
            &answer,
            400,
            r#"{"message":"Bad Request"}"#,
            Some("BadRequestException"),
        );
    }

    // Paths are case-sensitive, as in API Gateway: /ADMIN is another resource, and the
    // target is given exactly the path that was routed, normalized.
    for (spelling, routed) in [
        ("/ADMIN", "/ADMIN"),
        ("/docs//a/./b/../c", "/docs/a/c"),
        ("/%7Euser/caf%c3%a9", "/~user/caf%C3%A9"),
    ] {
        let answer = raw_get(&format!("{base}{spelling}"), &[]).await;
        assert_eq!(answer.status, 200, "{spelling}: {}", answer.text());
        let seen = answer.json();
        assert_eq!(seen["rawPath"], routed, "{spelling}");
        assert_eq!(seen["requestContext"]["path"], format!("/prod{routed}"));
        assert_eq!(
            seen["pathParameters"]["proxy"][0],
            portico_gateway::event::percent_decode(&routed[1..], false),
            "{spelling}"
        );
    }
}

async fn map_domain(domain: &str, base_path: Option<&str>, api_id: &str, stage: &str) {
    let mut body = json!({"domainName": domain, "apiId": api_id, "stage": stage});
    if let Some(base_path) = base_path {
        body["basePath"] = json!(base_path);
    }
    let answer = send(http().post(admin_url("/domainmappings")).json(&body)).await;
    assert_eq!(answer.status, 201, "map {domain}: {}", answer.text());
}

#[tokio::test]
async fn custom_domains_route_by_host_and_base_path() {
    let orders = create_api(&json!({"name": "orders", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}}
    ]}))
    .await;
    deploy(&orders, "live", json!({})).await;
    let site = create_api(&json!({"name": "site", "type": "HTTP", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}}
    ]}))
    .await;
    deploy(&site, "prod", json!({})).await;
    let domain = format!("api-{}.example.com", orders.to_ascii_lowercase());
    map_domain(&domain, Some("orders"), &orders, "live").await;
    map_domain(&domain, None, &site, "prod").await;
    let only_orders = format!("only-{}.example.com", orders.to_ascii_lowercase());
    map_domain(&only_orders, Some("orders"), &orders, "live").await;

    // The base path picks the API; the target sees the whole path, as behind API Gateway.
    let answer = raw_get("/orders/pets/7/", &[("host", &domain)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = answer.json();
    assert_eq!(seen["rawPath"], "/orders/pets/7/");
    assert_eq!(seen["pathParameters"], json!({"id": ["7"]}));
    let ctx = &seen["requestContext"];
    assert_eq!(ctx["path"], "/orders/pets/7/");
    assert_eq!(ctx["resourcePath"], "/pets/{id}");
    assert_eq!(ctx["stage"], "live");
    assert_eq!(ctx["apiId"], orders.as_str());
    assert_eq!(ctx["domainName"], domain.as_str());

    // Other paths go to the (none) mapping, here an HTTP API (payload 2.0): no stage in the
    // path, none in rawPath. Case and port in Host do not matter.
    let host_with_port = format!("{}:443", domain.to_ascii_uppercase());
    let answer = raw_get("/pets/7?q=1", &[("host", &host_with_port)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = answer.json();
    assert_eq!(seen["rawPath"], "/pets/7");
    assert_eq!(seen["query"], json!({"q": ["1"]}));
    let ctx = &seen["requestContext"];
    assert_eq!(ctx["http"]["path"], "/pets/7");
    assert_eq!(ctx["routeKey"], "GET /pets/{id}");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["apiId"], site.as_str());
    assert_eq!(ctx["domainName"], domain.as_str());
    let missing = raw_get("/nothing", &[("host", &domain)]).await;
    assert_gateway_error(&missing, 404, r#"{"message":"Not Found"}"#, None);

    // A domain without a mapping for the path: API Gateway's 403.
    let unmapped = raw_get("/pets/7", &[("host", &only_orders)]).await;
    assert_gateway_error(
        &unmapped,
        403,
        r#"{"message":"Forbidden"}"#,
        Some("ForbiddenException"),
    );

    // X-Forwarded-Host is the client's to forge unless a trusted proxy sets it (the test
    // stack does not trust it): the default path form applies.
    let forged = raw_get("/orders/pets/7", &[("x-forwarded-host", &domain)]).await;
    assert_gateway_error(
        &forged,
        403,
        r#"{"message":"Missing Authentication Token"}"#,
        Some("MissingAuthenticationTokenException"),
    );
    let default_form = raw_get(&format!("/{orders}/live/pets/8"), &[]).await;
    assert_eq!(default_form.json()["rawPath"], "/pets/8");
}

#[tokio::test]
async fn request_bodies_over_the_function_url_limit_answer_413() {
    let id = create_api(
        &json!({"name": "large", "binaryMediaTypes": ["application/octet-stream"], "routes": [
            {"method": "POST", "path": "/mock", "integration": {"type": "mock", "body": "ok"}},
            {"method": "POST", "path": "/echo", "integration": {"type": "aws_proxy", "uri": "echo"}}
        ]}),
    )
    .await;
    deploy(&id, "prod", json!({})).await;
    let post = |path: &str, len: usize| {
        http()
            .post(front_url(&format!("/{id}/prod{path}")))
            .header("content-type", "application/octet-stream")
            .body(vec![7u8; len])
    };
    let limit = portico_gateway::MAX_BODY_BYTES;
    assert_eq!(send(post("/mock", limit)).await.text(), "ok");
    let over = send(post("/mock", limit + 1)).await;
    assert_gateway_error(
        &over,
        413,
        r#"{"message":"Request Too Long"}"#,
        Some("RequestTooLargeException"),
    );
    // Under the limit, but base64 in the event takes it over Lambda's invoke limit.
    let event_over = send(post("/echo", 5 * 1024 * 1024)).await;
    assert_gateway_error(
        &event_over,
        413,
        r#"{"message":"Request Too Long"}"#,
        Some("RequestTooLargeException"),
    );
    let fits = send(post("/echo", 1024 * 1024)).await;
    assert_eq!(fits.status, 200, "{}", fits.text());
}

/// Creates an API key through the admin; returns its id and value.
async fn create_key(name: &str) -> (String, String) {
    let answer = send(
        http()
            .post(admin_url("/apikeys"))
            .json(&json!({"name": name})),
    )
    .await;
    assert_eq!(answer.status, 201, "create key: {}", answer.text());
    let body = answer.json();
    (
        body["id"].as_str().expect("id").to_owned(),
        body["value"].as_str().expect("value").to_owned(),
    )
}

/// Creates a usage plan for these API stages and puts the keys in it.
async fn plan_with(stages: Value, keys: &[&str]) -> String {
    let answer = send(
        http()
            .post(admin_url("/usageplans"))
            .json(&json!({"name": "plan", "apiStages": stages})),
    )
    .await;
    assert_eq!(answer.status, 201, "create plan: {}", answer.text());
    let plan = answer.json()["id"].as_str().expect("id").to_owned();
    for key in keys {
        let added = send(
            http()
                .post(admin_url(&format!("/usageplans/{plan}/keys")))
                .json(&json!({"keyId": key})),
        )
        .await;
        assert_eq!(added.status, 201, "add key: {}", added.text());
    }
    plan
}

#[tokio::test]
async fn api_keys_admit_only_enabled_keys_in_a_plan_for_the_stage() {
    let id = create_api(&json!({"name": "keyed", "routes": [
        {"method": "GET", "path": "/open", "integration": {"type": "mock", "body": "open"}},
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}, "apiKeyRequired": true}
    ]}))
    .await;
    let deployed = deploy(&id, "prod", json!({})).await;
    assert!(
        deployed["warnings"].as_array().is_none_or(|w| w.is_empty()),
        "header keys are enforced, so nothing to warn about: {deployed}"
    );
    deploy(&id, "beta", json!({})).await;
    let (good_id, good) = create_key("good").await;
    let (other_stage_id, other_stage) = create_key("other-stage").await;
    let (_, planless) = create_key("planless").await;
    plan_with(json!([{"apiId": id, "stage": "prod"}]), &[&good_id]).await;
    plan_with(json!([{"apiId": id, "stage": "beta"}]), &[&other_stage_id]).await;

    let with_key = |key: &str, stage: &str| {
        http()
            .get(front_url(&format!("/{id}/{stage}/pets/7")))
            .header("x-api-key", key)
    };
    let forbidden = |answer: &portico_tests::stack::Answer| {
        assert_gateway_error(
            answer,
            403,
            r#"{"message":"Forbidden"}"#,
            Some("ForbiddenException"),
        )
    };

    // The right key: served, and the target sees which key, as behind API Gateway.
    let answer = send(with_key(&good, "prod")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let identity = &answer.json()["requestContext"]["identity"];
    assert_eq!(identity["apiKeyId"], good_id.as_str());
    assert_eq!(identity["apiKey"], good.as_str());
    // Routes that do not require a key ignore it.
    assert_eq!(get(&format!("/{id}/prod/open")).await.text(), "open");

    // Missing, malformed, unknown, of another stage's plan, in no plan: 403, same body.
    forbidden(&get(&format!("/{id}/prod/pets/7")).await);
    forbidden(&send(with_key("short", "prod")).await);
    forbidden(&send(with_key(&format!("{good}x"), "prod")).await);
    forbidden(&send(with_key(&other_stage, "prod")).await);
    assert_eq!(send(with_key(&other_stage, "beta")).await.status, 200);
    forbidden(&send(with_key(&good, "beta")).await);
    forbidden(&send(with_key(&planless, "prod")).await);

    // Disabling the key takes effect within the config TTL (0.5 s on the test stack).
    let disabled = send(
        http()
            .put(admin_url(&format!("/apikeys/{good_id}")))
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    let started = Instant::now();
    loop {
        let answer = send(with_key(&good, "prod")).await;
        if answer.status == 403 {
            forbidden(&answer);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a disabled key still served after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stage_throttle_answers_429_with_retry_after_through_the_function_url() {
    let id = create_api(&json!({"name": "throttled", "routes": [
        {"method": "GET", "path": "/ping", "integration": {"type": "mock", "body": "pong"}}
    ]}))
    .await;
    deploy(&id, "prod", json!({})).await;
    let put = send(
        http()
            .put(admin_url(&format!("/apis/{id}/stages/prod")))
            .json(&json!({"throttle": {"rateLimit": 0.2, "burstLimit": 2}})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    // The front picks the throttle up within its config TTL; every answer then says so.
    let started = Instant::now();
    loop {
        let answer = get(&format!("/{id}/prod/ping")).await;
        if answer.headers.get("ratelimit-limit").is_some() {
            assert_eq!(answer.headers["ratelimit-limit"], "2");
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the throttle never loaded"
        );
    }
    // A burst of 2 refilled every 5 s: within a few requests the bucket is empty.
    let mut refused = None;
    for _ in 0..4 {
        let answer = get(&format!("/{id}/prod/ping")).await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let refused = refused.expect("the bucket ran dry");
    assert_eq!(refused.body.as_ref(), br#"{"message":"Too Many Requests"}"#);
    assert_eq!(
        refused.headers["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers["ratelimit-remaining"], "0");
}

#[tokio::test]
async fn resource_policies_allow_and_deny_by_source_ip_and_ignore_a_forged_forwarded_for() {
    let allow = json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"});
    let allow_again = allow.clone();
    // Only 10.0.0.0/8 may call: this client (127.0.0.1, as cargo lambda watch reports it) may not.
    let fenced = create_api(&json!({"name": "fenced", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "mock", "body": "pet"}}
    ], "policy": {"Version": "2012-10-17", "Statement": [allow,
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "fd00::/8"]}}}
    ]}}))
    .await;
    deploy(&fenced, "prod", json!({})).await;
    let denied = get(&format!("/{fenced}/prod/pets/7")).await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.headers["x-amzn-errortype"], "AccessDeniedException");
    let message = denied.json()["Message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:")
            && message.ends_with(&format!(":{fenced}/prod/GET/pets/7 with an explicit deny")),
        "{message}"
    );
    assert!(
        !message.contains("000000000000"),
        "the account is masked: {message}"
    );
    // A forged X-Forwarded-For changes nothing: no proxy is trusted here.
    let forged = send(
        http()
            .get(front_url(&format!("/{fenced}/prod/pets/7")))
            .header("x-forwarded-for", "10.1.2.3"),
    )
    .await;
    assert_eq!(forged.status, 403);

    // Loopback callers allowed, one route closed to everyone.
    let open = create_api(&json!({"name": "loopback", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "mock", "body": "pet"}},
        {"method": "GET", "path": "/admin", "integration": {"type": "mock", "body": "admin"}}
    ], "policy": {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/*/admin"}
    ]}}))
    .await;
    deploy(&open, "prod", json!({})).await;
    let served = get(&format!("/{open}/prod/pets/7")).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.text(), "pet");
    let admin = get(&format!("/{open}/prod/admin")).await;
    assert_eq!(admin.status, 403);
    // The policy applies to the normalized path: a spelling of /admin is still /admin.
    let spelled = raw_get(&format!("/{open}/prod/%61dmin"), &[]).await;
    assert_eq!(spelled.status, 403);

    // A Deny this front cannot evaluate (a VPC endpoint condition) applies, and the
    // deployment says so.
    let unsure = create_api(&json!({"name": "vpce", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "mock", "body": "pet"}}
    ], "policy": {"Statement": [allow_again,
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}
    ]}}))
    .await;
    let deployed = deploy(&unsure, "prod", json!({})).await;
    let warnings = deployed["warnings"].to_string();
    assert!(
        warnings.contains("statement 1") && warnings.contains("Deny applies"),
        "a statement this front cannot evaluate is named, with how it is treated: {warnings}"
    );
    assert_eq!(get(&format!("/{unsure}/prod/pets/7")).await.status, 403);
}

/// A JWT authorizer on real parts: the front under `cargo lambda watch` fetches the JWKS from
/// an identity provider this test runs on loopback (found by OIDC discovery), with keys made
/// here; claims and scopes reach the `echo` target.
#[tokio::test]
async fn jwt_authorizer_admits_signed_tokens_and_passes_claims_on() {
    use portico_tests::jwt::{Idp, RsaSigner, now, unsigned};
    let signer = RsaSigner::generate("e2e-key");
    let idp = Idp::start(vec![signer.jwk()]).await;
    let id = create_api(&json!({"name": "jwt", "type": "HTTP",
        "authorizers": {"jwt": {"type": "JWT", "issuer": idp.issuer, "audience": ["web"]}},
        "cors": {"allowOrigins": ["https://app.example"], "allowMethods": ["GET", "POST"],
                 "allowHeaders": ["authorization"], "exposeHeaders": ["x-echo"], "maxAge": 300},
        "routes": [
            {"method": "GET", "path": "/me", "authorization": {"type": "JWT", "authorizer": "jwt"},
             "integration": {"type": "aws_proxy", "uri": "echo", "payloadFormatVersion": "2.0"}},
            {"method": "DELETE", "path": "/me", "authorization": {"type": "JWT", "authorizer": "jwt", "scopes": ["admin"]},
             "integration": {"type": "aws_proxy", "uri": "echo", "payloadFormatVersion": "2.0"}}
        ]}))
    .await;
    let deployed = deploy(&id, "prod", json!({})).await;
    assert!(
        deployed["warnings"].as_array().is_none_or(|w| w.is_empty()),
        "{deployed}"
    );
    let url = front_url(&format!("/{id}/prod/me"));
    let claims = json!({"iss": idp.issuer, "aud": "web", "sub": "alice", "exp": now() + 300,
        "scope": "profile", "email_verified": true});
    let token = signer.token(&claims);

    let origin = "https://app.example";
    let none = send(http().get(&url)).await;
    assert_gateway_error(
        &none,
        401,
        r#"{"message":"Unauthorized"}"#,
        Some("UnauthorizedException"),
    );

    for bad in [
        unsigned(&claims),
        signer.token(&json!({"iss": idp.issuer, "aud": "web", "sub": "alice", "exp": now() - 600})),
        signer.token(&json!({"iss": idp.issuer, "aud": "other", "sub": "alice", "exp": now() + 300})),
        signer.token(&json!({"iss": idp.issuer, "aud": "web", "sub": "alice", "exp": now() + 300, "nbf": "99999999999"})),
    ] {
        let answer = send(http().get(&url).bearer_auth(&bad)).await;
        assert_eq!(answer.status, 401, "{}", answer.text());
    }

    let ok = send(
        http()
            .get(&url)
            .bearer_auth(&token)
            .header("origin", origin),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let jwt = &ok.json()["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "alice");
    assert_eq!(jwt["claims"]["email_verified"], "true");
    assert_eq!(jwt["scopes"], json!(["profile"]));

    let delete = send(http().delete(&url).bearer_auth(&token)).await;
    assert_gateway_error(
        &delete,
        403,
        r#"{"message":"Forbidden"}"#,
        Some("ForbiddenException"),
    );

    // CORS is not asserted here: `cargo lambda watch` wraps function URLs in a permissive
    // CORS layer of its own that answers preflights and rewrites Access-Control-* headers
    // (a deployed function URL without a Cors setting passes them to the front). CORS is
    // proven in process: tests/tests/cors.rs.
}

/// The example Lambda authorizer (functions/echo/src/authorizer.rs) under `cargo lambda
/// watch`: TOKEN policies, the result cache, each refusal API Gateway makes, and the API key
/// coming from the authorizer for a usage plan.
#[tokio::test]
async fn lambda_authorizer_policies_cache_and_keys_from_the_authorizer() {
    let id = create_api(&json!({"name": "lambda-auth", "apiKeySource": "AUTHORIZER",
        "authorizers": {"token": {"type": "TOKEN", "functionUri": "${stageVariables.authFn}",
            "identitySource": ["method.request.header.Authorization"], "resultTtlInSeconds": 300}},
        "routes": [
            {"method": "GET", "path": "/pets/{id}", "authorization": {"type": "CUSTOM", "authorizer": "token"},
             "integration": {"type": "aws_proxy", "uri": "echo"}},
            {"method": "GET", "path": "/keyed", "authorization": {"type": "CUSTOM", "authorizer": "token"},
             "apiKeyRequired": true, "integration": {"type": "aws_proxy", "uri": "echo"}}
        ]}))
    .await;
    deploy(&id, "prod", json!({"authFn": "authorizer"})).await;
    let url = |path: &str| front_url(&format!("/{id}/prod{path}"));
    let with = |path: &str, token: &str| http().get(url(path)).header("authorization", token);

    let missing = send(http().get(url("/pets/1"))).await;
    assert_gateway_error(
        &missing,
        401,
        r#"{"message":"Unauthorized"}"#,
        Some("UnauthorizedException"),
    );

    let first = send(with("/pets/1", "allow-alice")).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let authorizer = first.json()["requestContext"]["authorizer"].clone();
    assert_eq!(authorizer["principalId"], "alice");
    assert_eq!(authorizer["tier"], "gold");
    assert_eq!(authorizer["source"], "TOKEN");
    // Another route, same token: the cached policy (Allow on the stage) answers.
    let second = send(with("/pets/2", "allow-alice")).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        second.json()["requestContext"]["authorizer"]["calls"],
        authorizer["calls"],
        "served from the cache"
    );

    let denied = send(with("/pets/1", "deny")).await;
    assert_gateway_error(
        &denied,
        403,
        r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#,
        Some("AccessDeniedException"),
    );
    let elsewhere = send(with("/pets/1", "elsewhere")).await;
    assert_gateway_error(
        &elsewhere,
        403,
        r#"{"Message":"User is not authorized to access this resource"}"#,
        Some("AccessDeniedException"),
    );
    let unauthorized = send(with("/pets/1", "unauthorized")).await;
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.text());
    let broken = send(with("/pets/1", "broken")).await;
    assert_gateway_error(
        &broken,
        500,
        r#"{"message": null}"#,
        Some("AuthorizerConfigurationException"),
    );

    // apiKeySource AUTHORIZER: the key is the authorizer's usageIdentifierKey; the header
    // is not read.
    let (key_id, key) = create_key("from-authorizer").await;
    plan_with(json!([{"apiId": id, "stage": "prod"}]), &[&key_id]).await;
    let keyed = send(with("/keyed", &format!("allow-bob;key={key}"))).await;
    assert_eq!(keyed.status, 200, "{}", keyed.text());
    assert_eq!(
        keyed.json()["requestContext"]["identity"]["apiKeyId"],
        json!(key_id)
    );
    let header_only = send(with("/keyed", "allow-carol").header("x-api-key", &key)).await;
    assert_gateway_error(
        &header_only,
        403,
        r#"{"message":"Forbidden"}"#,
        Some("ForbiddenException"),
    );
}
