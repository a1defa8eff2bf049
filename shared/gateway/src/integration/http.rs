//! HTTP proxy integration: forward the request to the backend URI and return its answer.
//!
//! The client is built once per instance so its connection pool outlives an invocation
//! (Lambda freezes the instance between requests; kept-alive connections survive the thaw).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, header};
use portico_model::target::substitute_stage_variables;

use super::Call;
use crate::GatewayError;

/// The function URL's limit on a buffered response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub struct HttpBackend {
    client: reqwest::Client,
}

impl Default for HttpBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpBackend {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            // A proxy passes redirects on to its client; following them would let a backend
            // steer the gateway to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        HttpBackend { client }
    }

    pub async fn call(&self, call: &Call<'_>) -> Result<Response<Bytes>, GatewayError> {
        let integration = &call.route.integration;
        let http_method = integration.http_method();
        let url = backend_url(integration.uri(), call)?;
        let method = if http_method == "ANY" {
            call.request.method.clone()
        } else {
            Method::from_bytes(http_method.as_bytes()).map_err(|_| GatewayError::Internal {
                reason: format!("httpMethod {http_method} is invalid"),
            })?
        };
        let timeout = Duration::from_millis(u64::from(call.route.integration.timeout_ms()));
        let request = self
            .client
            .request(method, &url)
            .headers(forwarded_headers(call))
            .body(call.request.body.clone())
            .timeout(timeout);
        let failure = |e: reqwest::Error| {
            if e.is_timeout() {
                GatewayError::IntegrationTimeout
            } else {
                GatewayError::IntegrationFailure {
                    reason: format!("backend {}: {}", redact_query(&url), error_chain(&e)),
                }
            }
        };
        let mut upstream = request.send().await.map_err(failure)?;
        let mut body = BytesMut::new();
        while let Some(chunk) = upstream.chunk().await.map_err(failure)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(GatewayError::IntegrationFailure {
                    reason: format!("backend response is larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let mut response = Response::new(body.freeze());
        *response.status_mut() = upstream.status();
        *response.headers_mut() = strip_hop_by_hop(upstream.headers());
        Ok(response)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Query strings may carry secrets; logs get the URL without one.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A parameter value may not climb out of the path the template gives it: a `.` or `..`
/// segment (in any encoding) or a backslash would let the URL parser move the request to
/// another path on the backend.
fn escapes_its_place(value: &str) -> bool {
    value.contains('\\')
        || value.split('/').any(|segment| {
            let decoded = crate::event::percent_decode(segment, false);
            decoded == "." || decoded == ".." || decoded.contains(['/', '\\'])
        })
}

/// The backend URL: stage variables, then `{param}` / `{proxy}` from the matched path, then the
/// client's query string appended. The template's host was proven literal when the definition
/// was accepted, so nothing here can change where the request goes.
fn backend_url(template: &str, call: &Call<'_>) -> Result<String, GatewayError> {
    let mut url = substitute_stage_variables(template, &call.stage.variables)
        .map_err(|reason| GatewayError::Internal { reason })?;
    for (name, value) in call.params {
        if escapes_its_place(value) {
            return Err(GatewayError::MissingAuthenticationToken);
        }
        url = url.replace(&format!("{{{name}}}"), value);
        url = url.replace(&format!("{{{name}+}}"), value);
    }
    let query = call.request.raw_query.as_str();
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    Ok(url)
}

fn strip_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    // Headers the sender named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_str = name.as_str();
        if HOP_BY_HOP.contains(&name_str) || named.iter().any(|n| n == name_str) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn forwarded_headers(call: &Call<'_>) -> HeaderMap {
    let mut headers = strip_hop_by_hop(&call.request.headers);
    // reqwest sets these from the URL and the body.
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    let forwarded_for = match call.request.header("x-forwarded-for") {
        Some(previous) if !previous.is_empty() => format!("{previous}, {}", call.request.source_ip),
        _ => call.request.source_ip.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    if !headers.contains_key("x-forwarded-proto") {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    }
    if !headers.contains_key("x-forwarded-port") {
        headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
    }
    if let Ok(id) = HeaderValue::from_str(&call.request.request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let out = strip_hop_by_hop(&h);
        assert_eq!(
            out.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-kept"]
        );
    }

    #[test]
    fn dot_segments_cannot_climb() {
        for bad in ["..", "a/../b", "%2e%2E", "a/%2E", "a\\b", "x%2fy"] {
            assert!(escapes_its_place(bad), "{bad}");
        }
        for good in ["a", "a/b.c", "...", "a%20b"] {
            assert!(!escapes_its_place(good), "{good}");
        }
    }
}
