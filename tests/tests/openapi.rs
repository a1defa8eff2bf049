//! OpenAPI import and export: real-world-shaped documents (the AWS PetStore sample, a Swagger
//! 2.0 Lambda API, an HTTP API export) survive import → export → import unchanged, every
//! extension lands where it belongs, and what is not understood comes back as warnings.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use portico_control::openapi::{export::export, import::import};
use portico_control::{Admin, AdminRequest};
use portico_model::definition::{
    ApiDefinition, ApiType, AuthorizationType, AuthorizerType, IntegrationType,
    PayloadFormatVersion,
};
use portico_tests::dynamodb;
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn imported(name: &str) -> (ApiDefinition, Vec<String>) {
    let imported = import(&fixture(name), None).unwrap_or_else(|p| panic!("{name} imports: {p:?}"));
    let warnings = imported
        .warnings
        .iter()
        .map(|w| w.pointer.clone())
        .collect();
    (imported.definition, warnings)
}

/// import → export → import gives the same definition, and exporting that gives the same
/// document again.
fn assert_round_trip(name: &str) -> ApiDefinition {
    let (first, _) = imported(name);
    let exported = export(&first, 1);
    let again = import(exported.to_string().as_bytes(), None)
        .unwrap_or_else(|p| panic!("{name}: the export imports again: {p:?}"));
    assert!(
        again.warnings.is_empty(),
        "{name}: an export has nothing to warn about: {:?}",
        again.warnings
    );
    assert_eq!(
        again.definition, first,
        "{name}: import → export → import changed the definition"
    );
    assert_eq!(
        export(&again.definition, 1),
        exported,
        "{name}: export is stable"
    );
    first
}

#[test]
fn the_aws_petstore_sample_round_trips() {
    let d = assert_round_trip("petstore-oas3.json");
    assert_eq!(d.name, "PetStore");
    assert_eq!(d.api_type, ApiType::Rest);
    let keys: Vec<String> = d.routes.iter().map(|r| r.key()).collect();
    assert_eq!(
        keys,
        [
            "GET /",
            "GET /pets",
            "POST /pets",
            "OPTIONS /pets",
            "GET /pets/{petId}",
            "OPTIONS /pets/{petId}"
        ]
    );
    assert_eq!(d.models.len(), 6);
    let list = &d.routes[1];
    assert_eq!(list.operation_id.as_deref(), Some("ListPets"));
    assert_eq!(list.integration.kind, IntegrationType::Http);
    assert_eq!(
        list.request_parameters
            .get("method.request.querystring.page"),
        Some(&false)
    );
    assert_eq!(
        list.integration.request_parameters["integration.request.querystring.type"],
        "method.request.querystring.type"
    );
    assert_eq!(d.routes[2].request_models["application/json"], "NewPet");
    let cors = &d.routes[3].integration;
    assert_eq!(cors.kind, IntegrationType::Mock);
    assert_eq!(cors.status_code, Some(200));
    assert_eq!(
        cors.headers["Access-Control-Allow-Methods"],
        "POST,GET,OPTIONS"
    );
    let index = &d.routes[0].integration;
    assert_eq!(index.headers["Content-Type"], "text/html");
    assert!(
        index
            .body
            .as_deref()
            .is_some_and(|b| b.contains("Pet Store"))
    );
    assert_eq!(
        d.routes[4]
            .request_parameters
            .get("method.request.path.petId"),
        Some(&true)
    );
}

#[test]
fn a_swagger_2_lambda_api_round_trips_with_authorizers_keys_and_validation() {
    let d = assert_round_trip("orders-swagger2.yaml");
    assert_eq!(
        d.binary_media_types,
        ["image/png", "application/octet-stream"]
    );
    assert_eq!(d.request_validator.as_deref(), Some("params-only"));
    assert!(d.request_validators["all"].validate_request_body);
    assert_eq!(d.gateway_responses["UNAUTHORIZED"].status_code, Some(401));
    assert_eq!(
        d.gateway_responses["DEFAULT_4XX"].response_templates["application/json"],
        r#"{"message":$context.error.messageString}"#
    );
    let token = &d.authorizers["tokenAuth"];
    assert_eq!(token.kind, AuthorizerType::Token);
    assert_eq!(
        token.identity_source,
        ["method.request.header.Authorization"],
        "from the scheme's header"
    );
    assert_eq!(token.result_ttl_in_seconds, Some(300));
    let request = &d.authorizers["requestAuth"];
    assert_eq!(
        request.identity_source,
        [
            "method.request.header.X-Tenant",
            "method.request.querystring.token"
        ]
    );
    assert_eq!(request.result_ttl_in_seconds, Some(0));

    let route = |key: &str| {
        d.routes
            .iter()
            .find(|r| r.key() == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    let list = route("GET /orders");
    assert!(list.api_key_required);
    assert_eq!(list.integration.kind, IntegrationType::AwsProxy);
    assert_eq!(
        list.integration.payload_format(d.api_type),
        PayloadFormatVersion::V1,
        "REST defaults to 1.0"
    );
    assert_eq!(list.integration.timeout_in_millis, Some(10_000));
    assert!(list.integration.uri().contains("${stageVariables.alias}"));
    let create = route("POST /orders");
    assert_eq!(create.authorization.kind, AuthorizationType::Custom);
    assert_eq!(
        create.authorization.authorizer.as_deref(),
        Some("tokenAuth")
    );
    assert_eq!(create.request_models["application/json"], "Order");
    assert_eq!(create.request_validator.as_deref(), Some("all"));
    let one = route("GET /orders/{orderId}");
    assert_eq!(
        one.request_parameters.get("method.request.path.orderId"),
        Some(&true),
        "path-level parameters apply"
    );
    assert_eq!(
        route("DELETE /orders/{orderId}").authorization.kind,
        AuthorizationType::AwsIam
    );
    let proxy = route("ANY /{proxy+}");
    assert_eq!(proxy.integration.kind, IntegrationType::HttpProxy);
    assert_eq!(
        proxy.integration.uri(),
        "https://legacy.example.com/{proxy}"
    );
}

#[test]
fn an_http_api_export_round_trips() {
    let (d, warnings) = imported("notes-http-api.yaml");
    assert!(
        warnings.is_empty(),
        "API Gateway's own export has nothing to warn about: {warnings:?}"
    );
    let d2 = assert_round_trip("notes-http-api.yaml");
    assert_eq!(d, d2);
    assert_eq!(
        d.api_type,
        ApiType::Http,
        "the importexport-version marks an HTTP API"
    );
    let jwt = &d.authorizers["jwt-auth"];
    assert_eq!(jwt.kind, AuthorizerType::Jwt);
    assert_eq!(
        jwt.issuer.as_deref(),
        Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf")
    );
    assert_eq!(jwt.audience, ["notes-api"]);
    let route = |key: &str| {
        d.routes
            .iter()
            .find(|r| r.key() == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    assert_eq!(route("GET /notes").authorization.scopes, ["notes/read"]);
    assert_eq!(
        route("POST /notes").authorization.kind,
        AuthorizationType::Jwt
    );
    let cors = d.cors.as_ref().expect("cors");
    assert_eq!(cors.allow_origins, ["https://notes.example.com"]);
    assert!(cors.allow_credentials);
    assert_eq!(cors.max_age, Some(600));
    assert_eq!(
        route("GET /notes/{id}")
            .integration
            .payload_format(d.api_type),
        PayloadFormatVersion::V1
    );
    assert_eq!(
        route("GET /notes").integration.payload_format(d.api_type),
        PayloadFormatVersion::V2
    );
    assert_eq!(
        route("GET /health").integration.kind,
        IntegrationType::HttpProxy
    );
}

#[test]
fn what_is_not_understood_comes_back_as_warnings() {
    let (d, warnings) = imported("unsupported-oas3.json");
    assert_eq!(
        warnings,
        [
            "/webhooks",
            "/x-amazon-apigateway-documentation",
            "/x-amazon-apigateway-endpoint-configuration",
            "/components/securitySchemes/oidc",
            "/paths/~1users/get/x-amazon-apigateway-integration/cacheKeyParameters",
            "/paths/~1users/get/x-amazon-apigateway-integration/credentials",
            "/paths/~1users/put",
            "/paths/~1users/post/requestBody/content/application~1json/schema",
            "/paths/~1users/patch/x-amazon-apigateway-integration/type",
        ]
    );
    // The Cognito user pool became a JWT authorizer with the pool's issuer.
    let pool = &d.authorizers["pool"];
    assert_eq!(pool.kind, AuthorizerType::Jwt);
    assert_eq!(
        pool.issuer.as_deref(),
        Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_XyZ123")
    );
    assert_eq!(
        d.routes.iter().map(|r| r.key()).collect::<Vec<_>>(),
        ["GET /users", "POST /users"]
    );
}

#[test]
fn documents_that_cannot_be_imported_are_refused_with_pointers() {
    let not_openapi = import(br#"{"hello": "world"}"#, None).expect_err("not OpenAPI");
    assert_eq!(
        not_openapi.iter().next().map(|p| p.pointer.as_str()),
        Some("/openapi")
    );
    let garbage = import(b"{{{ not yaml or json", None).expect_err("garbage");
    assert_eq!(garbage.iter().next().map(|p| p.pointer.as_str()), Some(""));
    let bad_uri = json!({"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {"/x": {"get": {
        "x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "http://${stageVariables.host}/x"}
    }}}});
    let problems = import(bad_uri.to_string().as_bytes(), None).expect_err("SSRF-prone uri");
    assert_eq!(
        problems
            .iter()
            .map(|p| p.pointer.as_str())
            .collect::<Vec<_>>(),
        ["/paths/~1x/get/x-amazon-apigateway-integration/uri"],
        "problems point into the document, not the definition"
    );
}

async fn admin_call(
    admin: &Admin,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value, HeaderMap) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let response = admin
        .handle(AdminRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::from(body),
            caller: "test".to_owned(),
        })
        .await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body())
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(response.body()).into_owned()));
    (status, body, headers)
}

#[tokio::test]
async fn import_merge_overwrite_and_export_through_the_admin_api() {
    let (store, _) = dynamodb::fresh_config_store().await;
    let admin = Admin::new(Arc::new(store));

    let strict = admin_call(
        &admin,
        Method::POST,
        "/apis/import?failOnWarnings=true",
        fixture("unsupported-oas3.json"),
    )
    .await;
    assert_eq!(strict.0, 400, "failOnWarnings turns warnings into a 400");
    assert_eq!(strict.1["problems"].as_array().map(Vec::len), Some(9));

    let (status, created, _) = admin_call(
        &admin,
        Method::POST,
        "/apis/import",
        fixture("orders-swagger2.yaml"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["definition"]["routes"].as_array().map(Vec::len),
        Some(5)
    );
    assert_eq!(
        created["warnings"][0]["pointer"], "/routes/0/integration/uri",
        "the alias stage variable is not defined by any stage yet"
    );

    // Merge adds the PetStore's routes and models and keeps the orders routes.
    let (status, merged, _) = admin_call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/import?mode=merge"),
        fixture("petstore-oas3.json"),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["name"], "orders", "merge keeps the API's name");
    assert_eq!(
        merged["definition"]["routes"].as_array().map(Vec::len),
        Some(11)
    );
    assert_eq!(merged["version"], 2);

    // Overwrite replaces everything.
    let (status, overwritten, _) = admin_call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/import?mode=overwrite"),
        fixture("petstore-oas3.json"),
    )
    .await;
    assert_eq!(status, 200, "{overwritten}");
    assert_eq!(overwritten["name"], "PetStore");
    assert_eq!(
        overwritten["definition"]["routes"].as_array().map(Vec::len),
        Some(6)
    );

    let (status, exported, headers) = admin_call(
        &admin,
        Method::GET,
        &format!("/apis/{id}/export"),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"], "\"3\"");
    assert_eq!(exported["openapi"], "3.0.1");
    assert!(
        exported["paths"]["/pets/{petId}"]["get"]["x-amazon-apigateway-integration"].is_object()
    );
    let reimported = import(exported.to_string().as_bytes(), None).expect("the export imports");
    let stored: ApiDefinition =
        serde_json::from_value(overwritten["definition"].clone()).expect("definition");
    assert_eq!(reimported.definition, stored);

    let (status, yaml, headers) = admin_call(
        &admin,
        Method::GET,
        &format!("/apis/{id}/export?format=yaml"),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/yaml");
    assert!(yaml.as_str().is_some_and(|y| y.contains("openapi: 3.0.1")));

    let (status, bad, _) = admin_call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/import?mode=sideways"),
        fixture("petstore-oas3.json"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(bad["problems"][0]["pointer"], "/query/mode");
    let (status, _, _) = admin_call(&admin, Method::POST, "/apis/import", Vec::new()).await;
    assert_eq!(status, 400);

    let (_, audit, _) = admin_call(&admin, Method::GET, "/audit", Vec::new()).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["OverwriteApi", "MergeApi", "ImportApi"]);
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly() {
    // "Billion laughs": nine levels of nine aliases would expand to 9^9 strings.
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..9u8 {
        let previous = (b'a' + level - 1) as char;
        let name = (b'a' + level) as char;
        let refs = vec![format!("*{previous}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    // Without serde_norway's alias limit this would exhaust memory instead of failing.
    assert!(import(bomb.as_bytes(), None).is_err());
}
