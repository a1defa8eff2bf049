//! One JSON line per request on stdout (CloudWatch Logs in Lambda), written whether the
//! request succeeded or not. It is the access log and, for requests that reached a deployed
//! API, also a CloudWatch Embedded Metric Format document: CloudWatch turns it into the
//! API Gateway metrics (Count, Latency, IntegrationLatency, 4XXError, 5XXError) at no API
//! call. It names no header values but the user agent: keys, tokens and cookies never reach
//! a log.
//!
//! Metric dimensions take values only from the deployed definition (the API's name, a route's
//! method and template, the stage that exists): a hostile path or method must not be able to
//! mint new metrics, which CloudWatch bills one by one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use serde::Serialize;

use crate::{GatewayError, IncomingRequest, Trace};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "Portico";

pub fn write(
    request: &IncomingRequest,
    trace: &Trace,
    response: &Response<Bytes>,
    error: Option<&GatewayError>,
    latency: Duration,
) {
    use std::io::Write as _;
    let line = line(request, trace, response, error, latency, now_ms());
    // One buffer, one write: the line is serialized straight to bytes (no JSON tree), and a
    // single write keeps lines whole however the runtime interleaves requests.
    let mut buffer = Vec::with_capacity(768);
    if serde_json::to_writer(&mut buffer, &line).is_ok() {
        buffer.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&buffer);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// One access line. Field order is the order written; the upper-case fields after `_aws` are
/// the metric values and dimensions EMF reads from the same document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line<'a> {
    request_id: &'a str,
    api_id: Option<&'a str>,
    stage: Option<&'a str>,
    route_key: Option<String>,
    canary: bool,
    /// The admitted key's id: usage per key, without the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_id: Option<&'a str>,
    /// `$context.authorizer.principalId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    /// `OPEN` or `CLOSED` when the counters table failed and the stage's failure mode decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_fallback: Option<portico_model::records::LimitsFailureMode>,
    method: &'a str,
    status: u16,
    latency_ms: f64,
    integration_latency_ms: Option<f64>,
    source_ip: &'a str,
    user_agent: &'a str,
    error_type: Option<&'static str>,
    error: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    metrics: Option<Metrics<'a>>,
}

#[derive(Debug, Serialize)]
struct Metrics<'a> {
    #[serde(rename = "_aws")]
    aws: Emf,
    #[serde(rename = "ApiName")]
    api_name: &'a str,
    #[serde(rename = "Stage")]
    stage: &'a str,
    #[serde(rename = "Method")]
    method: &'a str,
    #[serde(rename = "Resource")]
    resource: &'a str,
    #[serde(rename = "Count")]
    count: u8,
    #[serde(rename = "Latency")]
    latency: f64,
    #[serde(rename = "4XXError")]
    client_error: u8,
    #[serde(rename = "5XXError")]
    server_error: u8,
    #[serde(rename = "IntegrationLatency", skip_serializing_if = "Option::is_none")]
    integration_latency: Option<f64>,
    /// 1 when limits were decided without the counters table (Portico's own metric).
    #[serde(rename = "LimitFallback")]
    limit_fallback: u8,
}

#[derive(Debug, Serialize)]
struct Emf {
    #[serde(rename = "Timestamp")]
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    cloudwatch_metrics: [MetricDirective; 1],
}

#[derive(Debug, Serialize)]
struct MetricDirective {
    #[serde(rename = "Namespace")]
    namespace: &'static str,
    #[serde(rename = "Dimensions")]
    dimensions: [&'static [&'static str]; 2],
    #[serde(rename = "Metrics")]
    metrics: &'static [MetricDefinition],
}

#[derive(Debug, Serialize)]
struct MetricDefinition {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Unit")]
    unit: &'static str,
}

const COUNT: MetricDefinition = MetricDefinition {
    name: "Count",
    unit: "Count",
};
const LATENCY: MetricDefinition = MetricDefinition {
    name: "Latency",
    unit: "Milliseconds",
};
const CLIENT_ERROR: MetricDefinition = MetricDefinition {
    name: "4XXError",
    unit: "Count",
};
const SERVER_ERROR: MetricDefinition = MetricDefinition {
    name: "5XXError",
    unit: "Count",
};
const INTEGRATION_LATENCY: MetricDefinition = MetricDefinition {
    name: "IntegrationLatency",
    unit: "Milliseconds",
};
const LIMIT_FALLBACK: MetricDefinition = MetricDefinition {
    name: "LimitFallback",
    unit: "Count",
};
const WITH_INTEGRATION: &[MetricDefinition] = &[
    COUNT,
    LATENCY,
    CLIENT_ERROR,
    SERVER_ERROR,
    INTEGRATION_LATENCY,
    LIMIT_FALLBACK,
];
const WITHOUT_INTEGRATION: &[MetricDefinition] =
    &[COUNT, LATENCY, CLIENT_ERROR, SERVER_ERROR, LIMIT_FALLBACK];

pub fn line<'a>(
    request: &'a IncomingRequest,
    trace: &'a Trace,
    response: &Response<Bytes>,
    error: Option<&'a GatewayError>,
    latency: Duration,
    timestamp_ms: u64,
) -> Line<'a> {
    let status = response.status();
    let latency_ms = latency.as_secs_f64() * 1e3;
    let integration_ms = trace.integration_latency.map(|d| d.as_secs_f64() * 1e3);
    let route = trace
        .route
        .and_then(|i| trace.snapshot.as_ref()?.routes().get(i));
    // Metrics only for requests that reached a deployed API: its dimensions are then known
    // values, not whatever the client sent.
    let metrics = match (&trace.snapshot, &trace.stage) {
        (Some(snapshot), Some(stage)) => {
            let (method, resource) = match route {
                Some(route) => (route.method.as_str(), route.path.as_str()),
                None => ("-", "-"),
            };
            Some(Metrics {
                aws: Emf {
                    timestamp: timestamp_ms,
                    cloudwatch_metrics: [MetricDirective {
                        namespace: NAMESPACE,
                        dimensions: [
                            &["ApiName", "Stage"],
                            &["ApiName", "Stage", "Method", "Resource"],
                        ],
                        metrics: if integration_ms.is_some() {
                            WITH_INTEGRATION
                        } else {
                            WITHOUT_INTEGRATION
                        },
                    }],
                },
                api_name: &snapshot.definition.name,
                stage,
                method,
                resource,
                count: 1,
                latency: latency_ms,
                client_error: u8::from(status.is_client_error()),
                server_error: u8::from(status.is_server_error()),
                integration_latency: integration_ms,
                limit_fallback: u8::from(trace.limit_fallback.is_some()),
            })
        }
        _ => None,
    };
    Line {
        request_id: &request.request_id,
        api_id: trace.api_id.as_deref(),
        stage: trace.stage.as_deref(),
        route_key: route.map(|r| r.key()),
        canary: trace.canary,
        api_key_id: trace.api_key_id.as_deref(),
        principal_id: trace.principal_id.as_deref(),
        limit_fallback: trace.limit_fallback,
        method: request.method.as_str(),
        status: status.as_u16(),
        latency_ms,
        integration_latency_ms: integration_ms,
        source_ip: &request.source_ip,
        user_agent: request.user_agent(),
        error_type: error.and_then(GatewayError::error_type),
        error: error.and_then(GatewayError::reason),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;

    fn value(line: Line<'_>) -> Value {
        serde_json::to_value(line).expect("serializes")
    }

    fn request(method: &str) -> IncomingRequest {
        IncomingRequest {
            method: http::Method::from_bytes(method.as_bytes()).expect("method"),
            raw_path: "/a/prod/pets/1".into(),
            raw_query: String::new(),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            source_ip: "198.51.100.1".into(),
            request_id: "req-1".into(),
            time_epoch_ms: 0,
            protocol: "HTTP/1.1".into(),
        }
    }

    fn deployed_trace(matched: bool) -> Trace {
        let definition: portico_model::definition::ApiDefinition =
            serde_json::from_value(json!({"name": "pets",
            "routes": [{"method": "GET", "path": "/pets/{id}", "integration": {"type": "mock"}}]}))
            .expect("definition");
        Trace {
            api_id: Some("a".into()),
            stage: Some("prod".into()),
            route: matched.then_some(0),
            integration_latency: matched.then_some(Duration::from_millis(3)),
            canary: false,
            api_key_id: matched.then(|| "key-1".to_owned()),
            principal_id: None,
            limit_fallback: None,
            snapshot: Some(Arc::new(
                portico_model::snapshot::compile("a", &definition).expect("compiles"),
            )),
        }
    }

    fn response(status: u16) -> Response<Bytes> {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = http::StatusCode::from_u16(status).expect("status");
        response
    }

    #[test]
    fn a_served_request_is_an_emf_document_with_api_gateways_metrics() {
        let (request, trace) = (request("GET"), deployed_trace(true));
        let line = value(line(
            &request,
            &trace,
            &response(200),
            None,
            Duration::from_millis(5),
            1_700_000_000_000,
        ));
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_u64);
        let metric = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metric["Namespace"], "Portico");
        let names: Vec<&str> = metric["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "Count",
                "Latency",
                "4XXError",
                "5XXError",
                "IntegrationLatency",
                "LimitFallback"
            ]
        );
        assert_eq!(line["LimitFallback"].as_u64(), Some(0));
        assert_eq!(
            (line["ApiName"].as_str(), line["Stage"].as_str()),
            (Some("pets"), Some("prod"))
        );
        assert_eq!(
            (line["Method"].as_str(), line["Resource"].as_str()),
            (Some("GET"), Some("/pets/{id}"))
        );
        assert_eq!(
            (
                line["Count"].as_u64(),
                line["4XXError"].as_u64(),
                line["5XXError"].as_u64()
            ),
            (Some(1), Some(0), Some(0))
        );
        assert_eq!(line["IntegrationLatency"].as_f64(), Some(3.0));
        assert_eq!(line["apiKeyId"], "key-1");
    }

    #[test]
    fn a_limits_fallback_is_in_the_line_and_counted() {
        let request = request("GET");
        let mut trace = deployed_trace(true);
        trace.limit_fallback = Some(portico_model::records::LimitsFailureMode::Closed);
        let line = value(line(
            &request,
            &trace,
            &response(503),
            None,
            Duration::from_millis(5),
            1_700_000_000_000,
        ));
        assert_eq!(line["limitFallback"], "CLOSED");
        assert_eq!(line["LimitFallback"].as_u64(), Some(1));
        let quiet = deployed_trace(true);
        let line = value(super::line(
            &request,
            &quiet,
            &response(200),
            None,
            Duration::from_millis(5),
            1_700_000_000_000,
        ));
        assert!(line.get("limitFallback").is_none());
    }

    #[test]
    fn client_chosen_values_never_become_dimensions() {
        // No route matched: the method the client sent and its path stay out of the dimensions.
        let (propfind, trace) = (request("PROPFIND"), deployed_trace(false));
        let line = value(line(
            &propfind,
            &trace,
            &response(403),
            None,
            Duration::from_millis(1),
            0,
        ));
        assert_eq!(
            (line["Method"].as_str(), line["Resource"].as_str()),
            (Some("-"), Some("-"))
        );
        assert_eq!(line["4XXError"], 1);
        assert!(line.get("IntegrationLatency").is_none());
        // An API that was never resolved: an access log line, no metrics at all.
        let unresolved = Trace {
            api_id: Some("random123".into()),
            ..Trace::default()
        };
        let get = request("GET");
        let line = value(super::line(
            &get,
            &unresolved,
            &response(403),
            None,
            Duration::from_millis(1),
            0,
        ));
        assert!(line.get("_aws").is_none());
        assert_eq!(line["apiId"], "random123");
    }
}
