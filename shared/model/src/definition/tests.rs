use serde_json::json;

use super::*;

fn def(value: serde_json::Value) -> ApiDefinition {
    serde_json::from_value(value).expect("valid json")
}

fn pointers(d: &ApiDefinition) -> Vec<String> {
    d.problems().iter().map(|p| p.pointer.clone()).collect()
}

#[test]
fn a_minimal_definition_has_no_problems() {
    let d = def(json!({"name": "pets", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}},
        {"method": "ANY", "path": "/{proxy+}", "integration": {"type": "http_proxy", "uri": "http://127.0.0.1:8080/{proxy}"}},
        {"method": "GET", "path": "/", "integration": {"type": "mock", "statusCode": 204}}
    ]}));
    assert!(d.problems().is_empty(), "{:?}", d.problems());
    assert_eq!(d.api_type, ApiType::Rest);
}

#[test]
fn the_payload_format_follows_the_api_type_unless_given() {
    let integration: Integration =
        serde_json::from_value(json!({"type": "AWS_PROXY", "uri": "f"})).expect("json");
    assert_eq!(
        integration.payload_format(ApiType::Rest),
        PayloadFormatVersion::V1
    );
    assert_eq!(
        integration.payload_format(ApiType::Http),
        PayloadFormatVersion::V2
    );
    let explicit: Integration = serde_json::from_value(
        json!({"type": "aws_proxy", "uri": "f", "payloadFormatVersion": "2.0"}),
    )
    .expect("json");
    assert_eq!(
        explicit.payload_format(ApiType::Rest),
        PayloadFormatVersion::V2
    );
}

#[test]
fn every_problem_is_reported_with_its_pointer() {
    let d = def(json!({"name": "pets", "routes": [
        {"method": "FETCH", "path": "pets", "integration": {"type": "mock", "statusCode": 42}},
        {"method": "GET", "path": "/a/{id}", "integration": {"type": "http_proxy", "uri": "http://${stageVariables.host}/x"}},
        {"method": "GET", "path": "/a/{name}", "integration": {"type": "aws_proxy", "uri": "", "timeoutInMillis": 10}}
    ]}));
    assert_eq!(
        pointers(&d),
        [
            "/routes/0/method",
            "/routes/0/path",
            "/routes/0/integration/statusCode",
            "/routes/1/integration/uri",
            "/routes/2/path",
            "/routes/2/integration/timeoutInMillis",
            "/routes/2/integration/uri",
        ]
    );
}

#[test]
fn unknown_fields_and_integration_types_are_refused() {
    assert!(serde_json::from_value::<ApiDefinition>(json!({"name": "x", "routse": []})).is_err());
    assert!(
        serde_json::from_value::<ApiDefinition>(json!({"name": "x", "routes": [
            {"method": "GET", "path": "/", "integration": {"type": "carrier_pigeon"}}
        ]}))
        .is_err()
    );
}

#[test]
fn authorizers_and_their_routes_are_checked() {
    let d = def(json!({"name": "auth",
    "authorizers": {
        "jwt": {"type": "JWT", "issuer": "https://issuer.example.com", "audience": ["api"]},
        "tok": {"type": "TOKEN", "functionUri": "auth-fn", "identitySource": ["method.request.header.Authorization"],
                 "identityValidationExpression": "^Bearer [A-Za-z0-9._-]+$", "resultTtlInSeconds": 300},
        "badjwt": {"type": "JWT"},
        "badtok": {"type": "TOKEN", "functionUri": "f", "identitySource": ["$request.header.A", "$request.header.B"],
                    "identityValidationExpression": "([", "resultTtlInSeconds": 7200}
    },
    "routes": [
        {"method": "GET", "path": "/a", "integration": {"type": "mock"}, "authorization": {"type": "JWT", "authorizer": "jwt", "scopes": ["read"]}},
        {"method": "GET", "path": "/b", "integration": {"type": "mock"}, "authorization": {"type": "CUSTOM", "authorizer": "tok"}},
        {"method": "GET", "path": "/c", "integration": {"type": "mock"}, "authorization": {"type": "CUSTOM", "authorizer": "jwt"}},
        {"method": "GET", "path": "/d", "integration": {"type": "mock"}, "authorization": {"type": "JWT", "authorizer": "nope"}},
        {"method": "GET", "path": "/e", "integration": {"type": "mock"}, "authorization": {"type": "NONE", "scopes": ["x"]}}
    ]}));
    assert_eq!(
        pointers(&d),
        [
            "/routes/2/authorization/authorizer",
            "/routes/3/authorization/authorizer",
            "/routes/4/authorization/scopes",
            "/authorizers/badjwt/issuer",
            "/authorizers/badtok/resultTtlInSeconds",
            "/authorizers/badtok/identitySource",
            "/authorizers/badtok/identityValidationExpression",
        ]
    );
}

#[test]
fn cors_wildcard_with_credentials_is_refused() {
    let d = def(
        json!({"name": "c", "cors": {"allowOrigins": ["*"], "allowCredentials": true, "allowMethods": ["GET", "FETCH"], "maxAge": 100000}}),
    );
    assert_eq!(
        pointers(&d),
        [
            "/cors/allowCredentials",
            "/cors/allowMethods/1",
            "/cors/maxAge"
        ]
    );
    let ok = def(
        json!({"name": "c", "cors": {"allowOrigins": ["https://app.example.com"], "allowCredentials": true}}),
    );
    assert!(ok.problems().is_empty());
}

#[test]
fn references_to_models_validators_and_response_types_must_resolve() {
    let d = def(json!({"name": "v",
    "models": {"Pet": {"type": "object"}, "Bad": "not a schema"},
    "requestValidators": {"all": {"validateRequestBody": true, "validateRequestParameters": true}},
    "requestValidator": "none",
    "gatewayResponses": {"DEFAULT_4XX": {"statusCode": 400}, "TEAPOT": {}},
    "binaryMediaTypes": ["image/png", "nonsense"],
    "routes": [
        {"method": "POST", "path": "/pets", "integration": {"type": "mock"},
         "requestValidator": "all", "requestModels": {"application/json": "Pet", "text/plain": "Missing"},
         "requestParameters": {"method.request.querystring.page": true, "page": false}}
    ]}));
    assert_eq!(
        pointers(&d),
        [
            "/routes/0/requestModels/text~1plain",
            "/routes/0/requestParameters/page",
            "/binaryMediaTypes/1",
            "/gatewayResponses/TEAPOT",
            "/models/Bad",
            "/requestValidator",
        ]
    );
}

#[test]
fn stage_variables_used_are_found_with_their_location() {
    let d = def(json!({"name": "s", "routes": [
        {"method": "GET", "path": "/", "integration": {"type": "aws_proxy", "uri": "fn:${stageVariables.alias}"}}
    ], "authorizers": {"a": {"type": "REQUEST", "functionUri": "${stageVariables.authFn}"}}}));
    assert_eq!(
        d.stage_variables_used(),
        [
            ("/routes/0/integration/uri".to_owned(), "alias".to_owned()),
            ("/authorizers/a/functionUri".to_owned(), "authFn".to_owned())
        ]
    );
}
