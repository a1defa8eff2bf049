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
}
