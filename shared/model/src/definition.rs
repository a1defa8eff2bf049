//! The native JSON definition of an API, as operators write it and the admin API stores it.
//!
//! Field names follow API Gateway's own spelling (`payloadFormatVersion`, `timeoutInMillis`,
//! `statusCode`) so that a definition reads like the `x-amazon-apigateway-integration` it maps
//! to. Unknown fields are refused rather than ignored: a typo must not silently drop a setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::problem::{Problem, Problems};

/// Longest API name accepted (API Gateway allows 1024; names are labels, not documents).
pub const MAX_NAME_LEN: usize = 128;
/// Most routes in one API. A compiled snapshot of this many routes stays well under DynamoDB's
/// 400 KB item limit once compressed (see docs/definitions.md).
pub const MAX_ROUTES: usize = 1_000;
/// Longest route path, in bytes.
pub const MAX_PATH_LEN: usize = 1_024;
/// Integration timeout bounds: API Gateway's floor, and a Lambda function's 15-minute ceiling.
pub const MIN_TIMEOUT_MS: u32 = 50;
pub const MAX_TIMEOUT_MS: u32 = 900_000;
/// API Gateway's default integration timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 29_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub api_type: ApiType,
    #[serde(default)]
    pub routes: Vec<RouteDefinition>,
}

/// Decides how a request that matches no route is answered, as the two API Gateway flavours do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiType {
    /// REST API: a missing route answers 403 `Missing Authentication Token`.
    #[default]
    Rest,
    /// HTTP API: a missing route answers 404 `Not Found`.
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDefinition {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// `/pets/{id}`, `/files/{proxy+}`.
    pub path: String,
    pub integration: Integration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Integration {
    /// Lambda proxy: the request becomes an API Gateway proxy event for the function.
    #[serde(rename_all = "camelCase")]
    AwsProxy {
        /// Function name, name with `:qualifier`, or ARN; may use `${stageVariables.x}`.
        uri: String,
        #[serde(default)]
        payload_format_version: PayloadFormatVersion,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_in_millis: Option<u32>,
    },
    /// HTTP proxy: the request is forwarded to `uri` (which may use `{param}`, `{proxy}` and
    /// `${stageVariables.x}`) and the backend's response returned as it is.
    #[serde(rename_all = "camelCase")]
    HttpProxy {
        uri: String,
        /// The backend method; `ANY` (the default) keeps the client's.
        #[serde(default = "any_method")]
        http_method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_in_millis: Option<u32>,
    },
    /// A fixed response from the gateway itself.
    #[serde(rename_all = "camelCase")]
    Mock {
        #[serde(default = "ok_status")]
        status_code: u16,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
    },
}

fn any_method() -> String {
    "ANY".to_owned()
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadFormatVersion {
    #[serde(rename = "1.0")]
    V1,
    #[default]
    #[serde(rename = "2.0")]
    V2,
}

impl Integration {
    pub fn timeout_ms(&self) -> u32 {
        match self {
            Integration::AwsProxy {
                timeout_in_millis, ..
            }
            | Integration::HttpProxy {
                timeout_in_millis, ..
            } => timeout_in_millis.unwrap_or(DEFAULT_TIMEOUT_MS),
            Integration::Mock { .. } => 0,
        }
    }
}

pub const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

impl ApiDefinition {
    /// Every problem in the definition, each with a JSON pointer into it. An empty list means
    /// the definition can be stored; `crate::snapshot::compile` adds what deploying needs.
    pub fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push(Problem::new("/name", "name must not be empty"));
        } else if self.name.chars().count() > MAX_NAME_LEN {
            problems.push(Problem::new(
                "/name",
                format!("name is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        if self.routes.len() > MAX_ROUTES {
            problems.push(Problem::new(
                "/routes",
                format!(
                    "an API has at most {MAX_ROUTES} routes; this one has {}",
                    self.routes.len()
                ),
            ));
        }
        // Two templates that differ only in parameter names match the same requests.
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, route) in self.routes.iter().enumerate() {
            let at = format!("/routes/{i}");
            if !METHODS.contains(&route.method.as_str()) {
                problems.push(Problem::new(
                    format!("{at}/method"),
                    format!(
                        "method {:?} is not one of {}",
                        route.method,
                        METHODS.join(", ")
                    ),
                ));
            }
            match crate::router::PathTemplate::parse(&route.path) {
                Err(reason) => problems.push(Problem::new(format!("{at}/path"), reason)),
                Ok(template) => {
                    let key = (route.method.clone(), template.shape());
                    if let Some(first) = seen.insert(key, i) {
                        problems.push(Problem::new(
                            format!("{at}/path"),
                            format!(
                                "{} {} conflicts with route {first} ({} {}): both match the same requests",
                                route.method,
                                route.path,
                                self.routes[first].method,
                                self.routes[first].path
                            ),
                        ));
                    }
                }
            }
            route
                .integration
                .check(&format!("{at}/integration"), &mut problems);
        }
        problems
    }
}

impl Integration {
    fn check(&self, at: &str, problems: &mut Problems) {
        let check_timeout = |timeout: &Option<u32>, problems: &mut Problems| {
            if let Some(ms) = *timeout
                && !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms)
            {
                problems.push(Problem::new(
                    format!("{at}/timeoutInMillis"),
                    format!(
                        "timeoutInMillis must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
                    ),
                ));
            }
        };
        match self {
            Integration::AwsProxy {
                uri,
                timeout_in_millis,
                ..
            } => {
                if let Err(reason) = crate::target::FunctionTarget::check_template(uri) {
                    problems.push(Problem::new(format!("{at}/uri"), reason));
                }
                check_timeout(timeout_in_millis, problems);
            }
            Integration::HttpProxy {
                uri,
                http_method,
                timeout_in_millis,
            } => {
                if let Err(reason) = check_http_uri(uri) {
                    problems.push(Problem::new(format!("{at}/uri"), reason));
                }
                if !METHODS.contains(&http_method.as_str()) {
                    problems.push(Problem::new(
                        format!("{at}/httpMethod"),
                        format!(
                            "httpMethod {http_method:?} is not one of {}",
                            METHODS.join(", ")
                        ),
                    ));
                }
                check_timeout(timeout_in_millis, problems);
            }
            Integration::Mock {
                status_code,
                headers,
                ..
            } => {
                if !(100..=599).contains(status_code) {
                    problems.push(Problem::new(
                        format!("{at}/statusCode"),
                        "statusCode must be between 100 and 599",
                    ));
                }
                for (name, value) in headers {
                    if http_header_name_invalid(name)
                        || value.bytes().any(|b| b < 0x20 && b != b'\t')
                    {
                        problems.push(Problem::new(
                            format!("{at}/headers/{}", crate::problem::escape_pointer(name)),
                            "header names must be tokens and values must not contain control characters",
                        ));
                    }
                }
            }
        }
    }
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An HTTP integration URI must be an absolute http(s) URL whose host is fixed: placeholders
/// may appear in the path and query only, so a stage variable or a path parameter can never
/// send a request to another host (SSRF).
fn check_http_uri(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(|| format!("uri {uri:?} must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("uri {uri:?} has no host"));
    }
    if authority.contains(['{', '}', '$', '@']) {
        return Err(format!(
            "uri {uri:?}: the host part must be literal (no placeholders or user info), so requests cannot be steered to another host"
        ));
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("uri {uri:?} contains spaces or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(routes: serde_json::Value) -> ApiDefinition {
        serde_json::from_value(json!({"name": "pets", "routes": routes})).expect("valid json")
    }

    #[test]
    fn a_minimal_definition_has_no_problems() {
        let d = def(json!([
            {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}},
            {"method": "ANY", "path": "/{proxy+}", "integration": {"type": "http_proxy", "uri": "http://127.0.0.1:8080/{proxy}"}},
            {"method": "GET", "path": "/", "integration": {"type": "mock", "statusCode": 204}}
        ]));
        assert!(d.problems().is_empty(), "{:?}", d.problems());
        assert_eq!(d.api_type, ApiType::Rest);
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let d = def(json!([
            {"method": "FETCH", "path": "pets", "integration": {"type": "mock", "statusCode": 42}},
            {"method": "GET", "path": "/a/{id}", "integration": {"type": "http_proxy", "uri": "http://${stageVariables.host}/x"}},
            {"method": "GET", "path": "/a/{name}", "integration": {"type": "aws_proxy", "uri": "", "timeoutInMillis": 10}}
        ]));
        let pointers: Vec<_> = d.problems().iter().map(|p| p.pointer.clone()).collect();
        assert_eq!(
            pointers,
            [
                "/routes/0/method",
                "/routes/0/path",
                "/routes/0/integration/statusCode",
                "/routes/1/integration/uri",
                "/routes/2/path",
                "/routes/2/integration/uri",
                "/routes/2/integration/timeoutInMillis",
            ]
        );
    }

    #[test]
    fn unknown_fields_and_integration_types_are_refused() {
        let typo = serde_json::from_value::<ApiDefinition>(json!({"name": "x", "routse": []}));
        assert!(typo.is_err());
        let unknown = serde_json::from_value::<ApiDefinition>(json!({"name": "x", "routes": [
            {"method": "GET", "path": "/", "integration": {"type": "carrier_pigeon"}}
        ]}));
        assert!(unknown.is_err());
    }
}
