//! One JSON line per request on stdout (CloudWatch Logs in Lambda), written whether the
//! request succeeded or not. It names no header values but the user agent: keys, tokens and
//! cookies never reach a log.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use serde_json::json;

use crate::{GatewayError, IncomingRequest, Trace};

pub fn write(
    request: &IncomingRequest,
    trace: &Trace,
    response: &Response<Bytes>,
    error: Option<&GatewayError>,
    latency: Duration,
) {
    let line = json!({
        "requestId": request.request_id,
        "apiId": trace.api_id,
        "stage": trace.stage,
        "routeKey": trace.route,
        "canary": trace.canary,
        "method": request.method.as_str(),
        "status": response.status().as_u16(),
        "latencyMs": latency.as_secs_f64() * 1e3,
        "integrationLatencyMs": trace.integration_latency.map(|d| d.as_secs_f64() * 1e3),
        "sourceIp": request.source_ip,
        "userAgent": request.user_agent(),
        "errorType": error.and_then(GatewayError::error_type),
        "error": error.and_then(GatewayError::reason),
    });
    println!("{line}");
}
