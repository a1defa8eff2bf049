//! CORS, per API (HTTP API style `cors` configuration).
//!
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by
//!   the gateway, 204, before routing: no authorizer, key, throttle or integration sees it.
//!   The `Access-Control-Allow-*` headers are sent only when the origin and the requested
//!   method are allowed; otherwise the browser refuses the call, as it should.
//! - Every other response of the API, gateway errors included, carries
//!   `Access-Control-Allow-Origin` (and `-Allow-Credentials`, `-Expose-Headers`) for an allowed
//!   origin. CORS headers from the integration are replaced, so a backend cannot widen what
//!   the API allows.
//! - An allowed origin is echoed with `Vary: Origin`, so caches keep answers per origin; `*`
//!   is sent as `*` only without credentials (definitions with both are refused at deploy).

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use portico_model::definition::Cors;

use crate::IncomingRequest;

pub fn is_preflight(request: &IncomingRequest) -> bool {
    request.method == Method::OPTIONS
        && request.headers.contains_key(ORIGIN)
        && request.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The `Access-Control-Allow-Origin` value for the request's origin, if it is allowed.
fn allowed_origin(cors: &Cors, request: &IncomingRequest) -> Option<HeaderValue> {
    let origin = request.header("origin")?;
    if cors
        .allow_origins
        .iter()
        .any(|o| o != "*" && o.eq_ignore_ascii_case(origin))
    {
        return HeaderValue::from_str(origin).ok();
    }
    (!cors.allow_credentials && cors.allow_origins.iter().any(|o| o == "*"))
        .then(|| HeaderValue::from_static("*"))
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    (!items.is_empty())
        .then(|| HeaderValue::from_str(&items.join(",")).ok())
        .flatten()
}

fn vary_origin(headers: &mut HeaderMap, origin: &HeaderValue) {
    if origin != "*" {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

/// The gateway's answer to a preflight.
pub fn preflight(cors: &Cors, request: &IncomingRequest) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    let Some(origin) = allowed_origin(cors, request) else {
        return response;
    };
    let requested = request
        .header("access-control-request-method")
        .unwrap_or_default();
    let method_allowed = cors
        .allow_methods
        .iter()
        .any(|m| m == "*" || m == "ANY" || m.eq_ignore_ascii_case(requested));
    if !method_allowed {
        return response;
    }
    vary_origin(headers, &origin);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    let methods = if cors.allow_methods.iter().any(|m| m == "*" || m == "ANY") {
        HeaderValue::from_str(requested).ok()
    } else {
        joined(&cors.allow_methods)
    };
    if let Some(methods) = methods {
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    // `*` allows whatever the browser asks for; echoing the request also works with
    // credentials, where browsers read `*` literally.
    let allow_headers = if cors.allow_headers.iter().any(|h| h == "*") {
        request.headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned()
    } else {
        joined(&cors.allow_headers)
    };
    if let Some(allow_headers) = allow_headers {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    }
    if let Some(max_age) = cors.max_age {
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age));
    }
    if cors.allow_credentials {
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// The CORS headers of an actual (non-preflight) response.
pub fn apply(cors: &Cors, request: &IncomingRequest, headers: &mut HeaderMap) {
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
    ] {
        headers.remove(name);
    }
    let Some(origin) = allowed_origin(cors, request) else {
        return;
    };
    vary_origin(headers, &origin);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if cors.allow_credentials {
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(expose) = joined(&cors.expose_headers) {
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: vec!["x-request-id".into()],
            max_age: Some(600),
            allow_credentials: credentials,
        }
    }

    fn preflight_request(origin: &str, method: &str) -> IncomingRequest {
        let mut request = IncomingRequest::sample(&[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", "authorization"),
        ]);
        request.method = Method::OPTIONS;
        request
    }

    #[test]
    fn preflights_allow_only_listed_origins_and_methods() {
        let config = cors(&["https://app.example"], true);
        let ok = preflight(&config, &preflight_request("https://app.example", "POST"));
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        let h = ok.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example");
        assert_eq!(h["access-control-allow-methods"], "GET,POST");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization,content-type"
        );
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["vary"], "Origin");

        for (origin, method) in [
            ("https://evil.example", "POST"),
            ("https://app.example.evil.example", "GET"),
            ("null", "GET"),
            ("https://app.example", "DELETE"),
        ] {
            let refused = preflight(&config, &preflight_request(origin, method));
            assert_eq!(refused.status(), StatusCode::NO_CONTENT);
            assert!(
                !refused
                    .headers()
                    .contains_key("access-control-allow-origin"),
                "{origin} {method}"
            );
        }
    }

    #[test]
    fn actual_responses_get_the_origin_and_lose_the_backends_cors_headers() {
        let config = cors(&["*"], false);
        let request = IncomingRequest::sample(&[("origin", "https://any.example")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://backend-says.example"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        apply(&config, &request, &mut headers);
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(!headers.contains_key("access-control-allow-credentials"));
        assert_eq!(headers["access-control-expose-headers"], "x-request-id");

        // No Origin: no CORS headers at all.
        let mut headers = HeaderMap::new();
        apply(&config, &IncomingRequest::sample(&[]), &mut headers);
        assert!(headers.is_empty());
    }
}
