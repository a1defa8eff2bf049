//! The request as the front's function URL delivered it, in the one shape every phase reads.

use bytes::Bytes;
use http::{HeaderMap, Method};

#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub method: Method,
    /// The path exactly as the client sent it (percent-encoding intact).
    pub raw_path: String,
    /// The query string exactly as sent, without `?`; empty when none.
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    /// `x-amzn-RequestId` of this request, echoed to clients, targets and logs.
    pub request_id: String,
    /// When the request arrived, in milliseconds since the epoch.
    pub time_epoch_ms: i64,
    /// `HTTP/1.1` and the like.
    pub protocol: String,
}

impl IncomingRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn user_agent(&self) -> &str {
        self.header("user-agent").unwrap_or_default()
    }

    /// `GET /` from 192.0.2.1 with `headers` (appended in order), for unit tests to adjust.
    #[cfg(test)]
    pub(crate) fn sample(headers: &[(&str, &str)]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        IncomingRequest {
            method: Method::GET,
            raw_path: "/".into(),
            raw_query: String::new(),
            headers: map,
            body: Bytes::new(),
            source_ip: "192.0.2.1".into(),
            request_id: "r".into(),
            time_epoch_ms: 0,
            protocol: "HTTP/1.1".into(),
        }
    }
}
