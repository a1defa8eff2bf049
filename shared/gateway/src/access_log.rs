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
use serde_json::{Value, json};

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
    println!(
        "{}",
        line(request, trace, response, error, latency, now_ms())
    );
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

pub fn line(
    request: &IncomingRequest,
    trace: &Trace,
    response: &Response<Bytes>,
    error: Option<&GatewayError>,
    latency: Duration,
    timestamp_ms: u64,
) -> Value {
    let status = response.status();
    let latency_ms = latency.as_secs_f64() * 1e3;
    let integration_ms = trace.integration_latency.map(|d| d.as_secs_f64() * 1e3);
    let route = trace
        .route
        .and_then(|i| trace.snapshot.as_ref()?.routes().get(i));
    let mut line = json!({
        "requestId": request.request_id,
        "apiId": trace.api_id,
        "stage": trace.stage,
        "routeKey": route.map(|r| r.key()),
        "canary": trace.canary,
        "method": request.method.as_str(),
        "status": status.as_u16(),
        "latencyMs": latency_ms,
        "integrationLatencyMs": integration_ms,
        "sourceIp": request.source_ip,
        "userAgent": request.user_agent(),
        "errorType": error.and_then(GatewayError::error_type),
        "error": error.and_then(GatewayError::reason),
    });
    // Metrics only for requests that reached a deployed API: its dimensions are then known
    // values, not whatever the client sent.
    let (Some(snapshot), Some(stage)) = (&trace.snapshot, &trace.stage) else {
        return line;
    };
    let (method, resource) = match route {
        Some(route) => (route.method.as_str(), route.path.as_str()),
        None => ("-", "-"),
    };
    let mut metrics = vec![
        json!({"Name": "Count", "Unit": "Count"}),
        json!({"Name": "Latency", "Unit": "Milliseconds"}),
        json!({"Name": "4XXError", "Unit": "Count"}),
        json!({"Name": "5XXError", "Unit": "Count"}),
    ];
    if integration_ms.is_some() {
        metrics.push(json!({"Name": "IntegrationLatency", "Unit": "Milliseconds"}));
    }
    line["_aws"] = json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["ApiName", "Stage"], ["ApiName", "Stage", "Method", "Resource"]],
            "Metrics": metrics,
        }],
    });
    line["ApiName"] = json!(snapshot.definition.name);
    line["Stage"] = json!(stage);
    line["Method"] = json!(method);
    line["Resource"] = json!(resource);
    line["Count"] = json!(1);
    line["Latency"] = json!(latency_ms);
    line["4XXError"] = json!(u8::from(status.is_client_error()));
    line["5XXError"] = json!(u8::from(status.is_server_error()));
    if let Some(ms) = integration_ms {
        line["IntegrationLatency"] = json!(ms);
    }
    line
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

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
        let line = line(
            &request("GET"),
            &deployed_trace(true),
            &response(200),
            None,
            Duration::from_millis(5),
            1_700_000_000_000,
        );
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
                "IntegrationLatency"
            ]
        );
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
    }

    #[test]
    fn client_chosen_values_never_become_dimensions() {
        // No route matched: the method the client sent and its path stay out of the dimensions.
        let line = line(
            &request("PROPFIND"),
            &deployed_trace(false),
            &response(403),
            None,
            Duration::from_millis(1),
            0,
        );
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
        let line = super::line(
            &request("GET"),
            &unresolved,
            &response(403),
            None,
            Duration::from_millis(1),
            0,
        );
        assert!(line.get("_aws").is_none());
        assert_eq!(line["apiId"], "random123");
    }
}
