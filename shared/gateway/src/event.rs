//! Lambda proxy events and responses, exactly as API Gateway builds and reads them: payload
//! 1.0 (REST API style) and 2.0 (HTTP API style). Events are built from `aws_lambda_events`,
//! the types `lambda_http` deserializes on the target's side.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayRequestIdentity,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::IncomingRequest;

/// What a proxy event is built from, besides the request itself.
pub struct EventContext<'a> {
    pub api_id: &'a str,
    pub account_id: &'a str,
    pub stage: &'a str,
    /// `GET /pets/{id}`
    pub route_key: String,
    /// `/pets/{id}`: the route's template (1.0 `resource`).
    pub resource: &'a str,
    /// Payload 1.0's `path` (see [`crate::resolve::Target`]).
    pub event_path: &'a str,
    /// `requestContext.path` and 2.0's `rawPath`.
    pub full_path: &'a str,
    /// `requestContext.domainName`.
    pub domain_name: &'a str,
    /// The admitted API key's value and id (payload 1.0 `identity.apiKey`, `apiKeyId`).
    pub api_key: Option<(&'a str, &'a str)>,
    pub path_parameters: HashMap<String, String>,
    pub stage_variables: &'a BTreeMap<String, String>,
    /// Content types 1.0 delivers base64-encoded (the API's binary media types).
    pub binary_media_types: &'a [String],
    /// What the route's authorizer established (`requestContext.authorizer`).
    pub principal: Option<&'a crate::auth::Principal>,
}

/// Content types whose bodies reach a target as text; anything else is base64.
pub fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | ""
        )
}

/// Decodes `%XX` escapes; `+` stays `+` in paths and becomes a space in query strings.
pub fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let s = if plus_as_space && s.contains('+') {
        std::borrow::Cow::Owned(s.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Query pairs in order, decoded.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Every value of each query name, in order.
fn query_multimap(raw_query: &str) -> HashMap<String, Vec<String>> {
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in query_pairs(raw_query) {
        query.entry(k).or_default().push(v);
    }
    query
}

/// Builds the payload 2.0 event for `request`, as JSON bytes.
pub fn v2_event(request: &IncomingRequest, ctx: &EventContext<'_>) -> Vec<u8> {
    let raw_path = ctx.full_path.to_owned();

    // Headers: lower-cased (HeaderMap already is), repeated values joined by commas, the
    // Cookie header moved out into `cookies`.
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values = request.headers.get_all(name);
        if name == COOKIE {
            for value in values {
                cookies.extend(
                    String::from_utf8_lossy(value.as_bytes())
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
            continue;
        }
        let joined: Vec<&[u8]> = values.iter().map(HeaderValue::as_bytes).collect();
        if let Ok(value) = HeaderValue::from_bytes(&joined.join(&b","[..])) {
            headers.insert(name.clone(), value);
        }
    }

    let query = query_multimap(&request.raw_query);

    let (body, is_base64_encoded) = if request.body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(&request.body) {
            Ok(text) if is_text_content_type(request.header("content-type")) => {
                (Some(text.to_owned()), false)
            }
            _ => (Some(BASE64.encode(&request.body)), true),
        }
    };

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = request.method.clone();
    http.path = Some(raw_path.clone());
    http.protocol = Some(request.protocol.clone());
    http.source_ip = Some(request.source_ip.clone());
    http.user_agent = Some(request.user_agent().to_owned());

    let domain_name = ctx.domain_name.to_owned();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(ctx.route_key.clone());
    context.account_id = Some(ctx.account_id.to_owned());
    context.stage = Some(ctx.stage.to_owned());
    context.request_id = Some(request.request_id.clone());
    context.apiid = Some(ctx.api_id.to_owned());
    context.domain_prefix = Some(domain_name.split('.').next().unwrap_or_default().to_owned());
    context.domain_name = Some(domain_name);
    context.time = Some(clf_time(request.time_epoch_ms));
    context.time_epoch = request.time_epoch_ms;
    context.http = http;
    context.authorizer = ctx.principal.map(v2_authorizer);

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(ctx.route_key.clone());
    event.raw_path = Some(raw_path);
    event.raw_query_string = Some(request.raw_query.clone());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = ctx.path_parameters.clone();
    event.stage_variables = ctx
        .stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    event.request_context = context;

    serde_json::to_vec(&V2Wire::from(&event)).unwrap_or_default()
}

/// The 2.0 event as API Gateway writes it. `ApiGatewayV2httpRequest` is a catch-all of
/// several event kinds (`type`, `methodArn`, `httpMethod`, ...) that API Gateway's 2.0 event
/// does not have, and it writes `stageVariables: {}` where API Gateway leaves the key out: a
/// target written for API Gateway must see the same keys. This view borrows the event's
/// fields (and its request context, serialized by `aws_lambda_events` itself) and writes only
/// API Gateway's, in one pass with no intermediate tree.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct V2Wire<'a> {
    version: &'a Option<String>,
    route_key: &'a Option<String>,
    raw_path: &'a Option<String>,
    raw_query_string: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<&'a Vec<String>>,
    #[serde(serialize_with = "header_map")]
    headers: &'a HeaderMap,
    #[serde(
        skip_serializing_if = "QueryMap::is_empty",
        serialize_with = "aws_lambda_events::query_map::serde::aws_api_gateway_v2::serialize_query_string_parameters"
    )]
    query_string_parameters: &'a QueryMap,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    path_parameters: &'a HashMap<String, String>,
    request_context: &'a ApiGatewayV2httpRequestContext,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    stage_variables: &'a HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a String>,
    is_base64_encoded: bool,
}

impl<'a> From<&'a ApiGatewayV2httpRequest> for V2Wire<'a> {
    fn from(event: &'a ApiGatewayV2httpRequest) -> Self {
        V2Wire {
            version: &event.version,
            route_key: &event.route_key,
            raw_path: &event.raw_path,
            raw_query_string: &event.raw_query_string,
            cookies: event.cookies.as_ref(),
            headers: &event.headers,
            query_string_parameters: &event.query_string_parameters,
            path_parameters: &event.path_parameters,
            request_context: &event.request_context,
            stage_variables: &event.stage_variables,
            body: event.body.as_ref(),
            is_base64_encoded: event.is_base64_encoded,
        }
    }
}

/// Header names to their (already comma-joined) values, as `aws_lambda_events` writes them.
fn header_map<S: serde::Serializer>(
    headers: &&HeaderMap,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(headers.keys_len()))?;
    for (name, value) in headers.iter() {
        map.serialize_entry(name.as_str(), &String::from_utf8_lossy(value.as_bytes()))?;
    }
    map.end()
}

/// Whether `content_type` matches one of the API's binary media types (`image/png`,
/// `image/*`, `*/*`).
pub fn is_binary_media_type(content_type: Option<&str>, binary_media_types: &[String]) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/').unwrap_or((&essence, ""));
    binary_media_types.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        let (p_kind, p_sub) = pattern.split_once('/').unwrap_or((&pattern, ""));
        (p_kind == "*" || p_kind == kind) && (p_sub == "*" || p_sub == sub)
    })
}

/// A short, stable id for a route, standing in for API Gateway's `resourceId`.
fn resource_id(route_key: &str) -> String {
    format!("{:06x}", crate::fnv1a(route_key.as_bytes()) & 0xff_ffff)
}

/// Builds the payload 1.0 event for `request`, as JSON bytes.
pub fn v1_event(request: &IncomingRequest, ctx: &EventContext<'_>) -> Vec<u8> {
    // `headers` keeps the last value of each name, `multiValueHeaders` all of them.
    let mut headers = HeaderMap::new();
    let mut multi_value_headers = HeaderMap::new();
    for (name, value) in &request.headers {
        headers.insert(name.clone(), value.clone());
        multi_value_headers.append(name.clone(), value.clone());
    }
    let query = query_multimap(&request.raw_query);
    let (body, is_base64_encoded) = if request.body.is_empty() {
        (None, false)
    } else if is_binary_media_type(request.header("content-type"), ctx.binary_media_types) {
        (Some(BASE64.encode(&request.body)), true)
    } else {
        (
            Some(String::from_utf8_lossy(&request.body).into_owned()),
            false,
        )
    };
    let domain_name = ctx.domain_name.to_owned();

    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = Some(request.source_ip.clone());
    identity.user_agent = Some(request.user_agent().to_owned());
    if let Some((value, id)) = ctx.api_key {
        identity.api_key = Some(value.to_owned());
        identity.api_key_id = Some(id.to_owned());
    }

    let mut context = ApiGatewayProxyRequestContext::default();
    context.account_id = Some(ctx.account_id.to_owned());
    context.resource_id = Some(resource_id(&ctx.route_key));
    context.stage = Some(ctx.stage.to_owned());
    context.domain_prefix = Some(domain_name.split('.').next().unwrap_or_default().to_owned());
    context.domain_name = Some(domain_name);
    context.request_id = Some(request.request_id.clone());
    context.protocol = Some(request.protocol.clone());
    context.identity = identity;
    context.resource_path = Some(ctx.resource.to_owned());
    context.path = Some(ctx.full_path.to_owned());
    context.http_method = request.method.clone();
    context.request_time = Some(clf_time(request.time_epoch_ms));
    context.request_time_epoch = request.time_epoch_ms;
    context.apiid = Some(ctx.api_id.to_owned());

    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(ctx.resource.to_owned());
    event.path = Some(ctx.event_path.to_owned());
    event.http_method = request.method.clone();
    event.headers = headers;
    event.multi_value_headers = multi_value_headers;
    // `queryStringParameters` keeps the last value of a repeated name, as API Gateway does.
    let last: HashMap<String, String> = query
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.last()?.clone())))
        .collect();
    event.query_string_parameters = QueryMap::from(last);
    event.multi_value_query_string_parameters = QueryMap::from(query);
    event.path_parameters = ctx.path_parameters.clone();
    event.stage_variables = ctx
        .stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;

    let mut json = serde_json::to_value(&event).unwrap_or(Value::Null);
    if let Some(object) = json.as_object_mut() {
        // API Gateway sends null, not {}, for each of these when there is nothing in it.
        for key in [
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
        ] {
            if object
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                object.insert(key.to_owned(), Value::Null);
            }
        }
        if let Some(context) = object
            .get_mut("requestContext")
            .and_then(Value::as_object_mut)
        {
            context.insert(
                "extendedRequestId".to_owned(),
                Value::String(request.request_id.clone()),
            );
            if let Some(principal) = ctx.principal {
                context.insert("authorizer".to_owned(), principal.v1_authorizer());
            }
        }
    }
    serde_json::to_vec(&json).unwrap_or_default()
}

/// Payload 2.0's `requestContext.authorizer`: `jwt.{claims,scopes}` or `lambda` (the
/// authorizer's context).
fn v2_authorizer(
    principal: &crate::auth::Principal,
) -> aws_lambda_events::apigw::ApiGatewayRequestAuthorizer {
    use aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    };
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    match principal {
        crate::auth::Principal::Jwt { claims, scopes } => {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims = claims
                .iter()
                .map(|(k, v)| (k.clone(), crate::auth::jwt::claim_text(v)))
                .collect();
            jwt.scopes = scopes.clone();
            authorizer.jwt = Some(jwt);
        }
        crate::auth::Principal::Lambda(grant) => {
            authorizer.fields = grant
                .context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
    }
    authorizer
}

/// `22/Nov/2026:02:59:31 +0000`, the format of `requestContext.time`.
fn clf_time(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// Keys a proxy answer may have; payload 2.0 adds `cookies`.
const RESPONSE_KEYS: [&str; 6] = [
    "statusCode",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
    "cookies",
];

/// Reads a function's payload 1.0 answer as API Gateway does. `Err` carries the reason the
/// answer is malformed (the client gets a 502; the reason goes to the access log).
pub fn v1_response(payload: &[u8]) -> Result<Response<Bytes>, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function's answer is not JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("the function's answer is not a JSON object".to_owned());
    };
    if object.is_empty() {
        return Err("the function's answer is an empty object".to_owned());
    }
    if object.contains_key("cookies") {
        return Err(
            "the function's answer has an unknown key \"cookies\" (payload 1.0)".to_owned(),
        );
    }
    proxy_response(object)
}

/// Reads a function's payload 2.0 answer as API Gateway does: any valid JSON without a
/// `statusCode` is the body of a 200.
pub fn v2_response(payload: &[u8]) -> Result<Response<Bytes>, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function's answer is not JSON: {e}"))?;
    match value.as_object().filter(|o| o.contains_key("statusCode")) {
        Some(object) => proxy_response(object),
        None => {
            let mut response = Response::new(Bytes::copy_from_slice(payload));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(response)
        }
    }
}

fn header_text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "header {name:?} has a value that is not text: {other}"
        )),
    }
}

fn proxy_response(object: &serde_json::Map<String, Value>) -> Result<Response<Bytes>, String> {
    if let Some(key) = object.keys().find(|k| !RESPONSE_KEYS.contains(&k.as_str())) {
        return Err(format!("the function's answer has an unknown key {key:?}"));
    }
    let status = match object.get("statusCode") {
        None | Some(Value::Null) => Some(200),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .and_then(|n| StatusCode::from_u16(n).ok())
    .ok_or_else(|| format!("statusCode {} is not an HTTP status", object["statusCode"]))?;

    // Per name, in order: the multiValueHeaders values, then the headers value. API Gateway
    // sends such a name once, values joined by ", ", under the multiValueHeaders spelling.
    let mut values: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |name: &str, value: String| match values
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some((_, list)) => list.push(value),
        None => values.push((name.to_owned(), vec![value])),
    };
    match object.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, list) in map {
                let Value::Array(list) = list else {
                    return Err(format!("multiValueHeaders {name:?} is not a list"));
                };
                for value in list {
                    add(name, header_text(name, value)?);
                }
            }
        }
        Some(_) => return Err("multiValueHeaders is not an object".to_owned()),
    }
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                add(name, header_text(name, value)?);
            }
        }
        Some(_) => return Err("headers is not an object".to_owned()),
    }
    let mut headers = HeaderMap::new();
    for (name, list) in values {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid"))?;
        // Set-Cookie values hold commas (dates): each stays a header of its own.
        let joined = if header == SET_COOKIE {
            list
        } else {
            vec![list.join(", ")]
        };
        for value in joined {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header {name} has a value with control characters"))?;
            headers.append(header.clone(), value);
        }
    }
    match object.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => {
            for cookie in cookies {
                let value = HeaderValue::from_str(&header_text("cookies", cookie)?)
                    .map_err(|_| "a cookie has control characters".to_owned())?;
                headers.append(SET_COOKIE, value);
            }
        }
        Some(_) => return Err("cookies is not a list".to_owned()),
    }
    let base64 = match object.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not a boolean".to_owned()),
    };
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => Bytes::from(
            BASE64
                .decode(s.trim())
                .map_err(|e| format!("body is not valid base64: {e}"))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("body is not a string".to_owned()),
    };
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests;
