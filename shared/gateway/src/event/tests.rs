use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;

use super::*;

fn request(headers: &[(&str, &str)], query: &str, body: &[u8]) -> IncomingRequest {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    IncomingRequest {
        method: Method::POST,
        raw_path: "/api/prod/pets/7".into(),
        raw_query: query.into(),
        headers: map,
        body: Bytes::copy_from_slice(body),
        source_ip: "198.51.100.7".into(),
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        time_epoch_ms: 1_583_348_638_390,
        protocol: "HTTP/1.1".into(),
    }
}

fn event(request: &IncomingRequest, variables: &BTreeMap<String, String>) -> Value {
    let ctx = EventContext {
        api_id: "abc123",
        account_id: "123456789012",
        stage: "prod",
        route_key: "POST /pets/{id}".into(),
        resource: "/pets/{id}",
        event_path: "/pets/7",
        full_path: "/prod/pets/7",
        domain_name: "abc123.example.com",
        api_key: None,
        path_parameters: HashMap::from([("id".into(), "7".into())]),
        stage_variables: variables,
        binary_media_types: &[],
        principal: None,
    };
    serde_json::from_slice(&v2_event(request, &ctx)).expect("json")
}

fn event_v1(
    request: &IncomingRequest,
    variables: &BTreeMap<String, String>,
    binary: &[String],
) -> Value {
    let ctx = EventContext {
        api_id: "abc123",
        account_id: "123456789012",
        stage: "prod",
        route_key: "POST /pets/{id}".into(),
        resource: "/pets/{id}",
        event_path: "/pets/7",
        full_path: "/prod/pets/7",
        domain_name: "abc123.example.com",
        api_key: None,
        path_parameters: HashMap::from([("id".into(), "7".into())]),
        stage_variables: variables,
        binary_media_types: binary,
        principal: None,
    };
    serde_json::from_slice(&v1_event(request, &ctx)).expect("json")
}

#[test]
fn the_v2_event_has_api_gateways_shape() {
    let r = request(
        &[
            ("host", "abc123.example.com"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("cookie", "c1=v1; c2=v2"),
            ("content-type", "application/json"),
            ("user-agent", "curl/8"),
        ],
        "a=1&a=2&b=x%20y",
        br#"{"k":1}"#,
    );
    let e = event(&r, &BTreeMap::new());
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "POST /pets/{id}");
    assert_eq!(e["rawPath"], "/prod/pets/7");
    assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert!(
        e["headers"].get("cookie").is_none(),
        "cookies leave the headers"
    );
    assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
    assert_eq!(e["pathParameters"], json!({"id": "7"}));
    assert_eq!(e["body"], r#"{"k":1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let ctx = &e["requestContext"];
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["apiId"], "abc123");
    assert_eq!(ctx["domainName"], "abc123.example.com");
    assert_eq!(ctx["domainPrefix"], "abc123");
    assert_eq!(
        ctx["http"],
        json!({"method": "POST", "path": "/prod/pets/7", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "curl/8"})
    );
    assert_eq!(ctx["requestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(ctx["time"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(ctx["timeEpoch"], 1_583_348_638_390_i64);
    for absent in [
        "httpMethod",
        "resource",
        "kind",
        "methodArn",
        "stageVariables",
    ] {
        assert!(e.get(absent).is_none(), "{absent} is not in a 2.0 event");
    }
}

#[test]
fn binary_bodies_are_base64_and_stage_variables_appear_when_set() {
    let r = request(
        &[("content-type", "image/png")],
        "",
        &[0x89, b'P', b'N', b'G', 0xff],
    );
    let variables = BTreeMap::from([("alias".to_owned(), "live".to_owned())]);
    let e = event(&r, &variables);
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], "iVBOR/8=");
    assert_eq!(e["stageVariables"], json!({"alias": "live"}));
    assert!(e.get("cookies").is_none());
    assert!(e.get("queryStringParameters").is_none());
    let empty = event(&request(&[], "", b""), &BTreeMap::new());
    assert!(empty.get("body").is_none());
}

fn parsed(payload: serde_json::Value) -> Result<Response<Bytes>, String> {
    v2_response(payload.to_string().as_bytes())
}

#[test]
fn proxy_responses_are_read_as_strictly_as_api_gateway() {
    let ok = parsed(json!({"statusCode": "201", "headers": {"x-b": true, "x-n": 5}, "body": "hi"}))
        .expect("valid");
    assert_eq!(ok.status(), 201);
    assert_eq!(ok.headers()["x-b"], "true");
    assert_eq!(ok.headers()["x-n"], "5");
    assert_eq!(
        ok.headers()["content-type"],
        "application/json",
        "added when the function sets none"
    );
    assert_eq!(ok.body(), "hi");

    let both = parsed(json!({"statusCode": 200, "headers": {"x-a": "single"}, "multiValueHeaders": {"x-a": ["m1", "m2"]}, "cookies": ["a=1", "b=2"]})).expect("valid");
    let values: Vec<_> = both
        .headers()
        .get_all("x-a")
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    assert_eq!(values, ["m1, m2, single"], "one header, multi values first");
    assert_eq!(both.headers().get_all("set-cookie").iter().count(), 2);

    let binary =
        parsed(json!({"statusCode": 200, "body": "AAH/", "isBase64Encoded": true})).expect("valid");
    assert_eq!(binary.body().as_ref(), [0, 1, 255]);

    let null_headers = parsed(json!({"statusCode": 204, "headers": null})).expect("valid");
    assert_eq!(null_headers.status(), 204);

    for bad in [
        json!({"statusCode": "two hundred"}),
        json!({"statusCode": 200, "extra": 1}),
        json!({"statusCode": 200, "multiValueHeaders": {"x": "not a list"}}),
        json!({"statusCode": 200, "headers": {"x": {"nested": 1}}}),
        json!({"statusCode": 200, "headers": {"x": "a\r\nb"}}),
        json!({"statusCode": 200, "body": "!!", "isBase64Encoded": true}),
        json!({"statusCode": 99}),
        json!({"statusCode": 200, "body": 5}),
    ] {
        assert!(parsed(bad.clone()).is_err(), "{bad} must be a 502");
    }
    assert!(v2_response(b"not json").is_err());
}

#[test]
fn json_without_a_status_code_is_the_body_of_a_200() {
    for payload in [
        json!({"message": "hello"}),
        json!("hello"),
        json!([1, 2]),
        json!({}),
    ] {
        let response = parsed(payload.clone()).expect("valid");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.body().as_ref(), payload.to_string().as_bytes());
    }
}

#[test]
fn the_v1_event_has_api_gateways_shape() {
    let r = request(
        &[
            ("host", "abc123.example.com"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("content-type", "application/json"),
        ],
        "a=1&a=2",
        br#"{"k":1}"#,
    );
    let e = event_v1(&r, &BTreeMap::new(), &[]);
    assert_eq!(e["resource"], "/pets/{id}");
    assert_eq!(e["path"], "/pets/7", "path is without the stage");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["headers"]["x-multi"], "b", "headers keep the last value");
    assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
    assert_eq!(e["queryStringParameters"]["a"], "2");
    assert_eq!(e["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
    assert_eq!(e["pathParameters"], json!({"id": "7"}));
    assert_eq!(
        e["stageVariables"],
        Value::Null,
        "null when the stage has none"
    );
    assert_eq!(e["body"], r#"{"k":1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let ctx = &e["requestContext"];
    assert_eq!(
        ctx["path"], "/prod/pets/7",
        "requestContext.path has the stage"
    );
    assert_eq!(ctx["resourcePath"], "/pets/{id}");
    assert_eq!(ctx["httpMethod"], "POST");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["requestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(
        ctx["extendedRequestId"],
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
    assert_eq!(ctx["identity"]["sourceIp"], "198.51.100.7");
    assert_eq!(ctx["requestTimeEpoch"], 1_583_348_638_390_i64);
    assert_eq!(ctx["requestTime"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(ctx["apiId"], "abc123");
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["resourceId"].as_str().map(str::len), Some(6));

    let bare = event_v1(&request(&[], "", b""), &BTreeMap::new(), &[]);
    assert_eq!(bare["queryStringParameters"], Value::Null);
    assert_eq!(bare["multiValueQueryStringParameters"], Value::Null);
    assert_eq!(bare["body"], Value::Null);
}

#[test]
fn v1_bodies_are_base64_only_for_binary_media_types() {
    let png = request(&[("content-type", "image/png")], "", &[0x89, b'P', 0xff]);
    let text = event_v1(&png, &BTreeMap::new(), &[]);
    assert_eq!(
        text["isBase64Encoded"], false,
        "not a binary media type of this API"
    );
    let binary = event_v1(&png, &BTreeMap::new(), &["image/*".to_owned()]);
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(binary["body"], "iVD/");
    assert!(is_binary_media_type(
        Some("application/pdf; q=1"),
        &["*/*".to_owned()]
    ));
    assert!(!is_binary_media_type(
        Some("text/plain"),
        &["image/png".to_owned()]
    ));
}

#[test]
fn v1_responses_follow_api_gateways_rules() {
    let v1 = |payload: serde_json::Value| v1_response(payload.to_string().as_bytes());
    let ok = v1(json!({"statusCode": "201", "body": "x"})).expect("valid");
    assert_eq!(ok.status(), 201);
    let no_status = v1(json!({"body": "x"})).expect("another valid key means 200");
    assert_eq!(no_status.status(), 200);
    for bad in [
        json!({}),
        json!("hello"),
        json!([1]),
        json!({"statusCode": 200, "cookies": []}),
        json!({"statusCode": "abc"}),
    ] {
        assert!(v1(bad.clone()).is_err(), "{bad} must be a 502");
    }
}
