//! Every answer the gateway makes itself, in one place, with API Gateway's status, body and
//! `x-amzn-ErrorType` (../shared/REFERENCE.md). The `reason` some variants carry is for the
//! access log only: internal detail never reaches the client.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header::CONTENT_TYPE};
use portico_model::definition::{ApiType, GatewayResponse};

use crate::IncomingRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route (or no such API or stage) on a REST API.
    MissingAuthenticationToken,
    /// No route on an HTTP API.
    NotFound,
    /// A path that has no unambiguous normal form (see [`crate::path`]).
    BadRequestPath { reason: String },
    /// A body larger than a function URL delivers, or an event larger than Lambda accepts.
    RequestTooLarge,
    /// The route needs an identity the gateway could not establish (authorizers).
    Unauthorized { reason: String },
    /// The route needs an API key the request does not have.
    Forbidden { reason: String },
    /// The integration answered something API Gateway would not pass on: a function error,
    /// a malformed proxy response, a backend that could not be reached.
    IntegrationFailure { reason: String },
    /// The integration did not answer within its timeout.
    IntegrationTimeout,
    /// The gateway could not call the integration: Lambda throttling or permissions, an
    /// undefined stage variable, a corrupt deployment.
    Internal { reason: String },
    /// The config store failed and this instance has no earlier copy of the stage to serve.
    ConfigUnavailable { reason: String },
    /// A token bucket on the request's way is empty.
    Throttled { limits: LimitHeaders },
    /// The API key's usage plan quota is used up for this period.
    QuotaExceeded { limits: LimitHeaders },
    /// The counters table failed and the stage fails closed.
    LimitsUnavailable { reason: String },
    /// The API's resource policy denies the request (`explicit`: a Deny statement matched;
    /// otherwise no Allow did). `resource` is the method ARN with the account masked.
    AccessDenied { explicit: bool, resource: String },
    /// A Lambda authorizer's policy does not allow the method ARN (`explicit`: a Deny
    /// statement matched).
    AuthorizerDenied { explicit: bool },
    /// The caller is known but may not call the route: a JWT without the route's scopes, a
    /// simple authorizer answer of `isAuthorized: false`.
    AuthorizerForbidden { reason: String },
    /// A Lambda authorizer could not be called or answered something unusable
    /// (`configuration`: `AUTHORIZER_CONFIGURATION_ERROR`, else `AUTHORIZER_FAILURE`).
    AuthorizerFailure { reason: String, configuration: bool },
}

/// What a limited response tells the client: `Retry-After` on refusals (seconds until a token
/// or the quota's next period) and the IETF `RateLimit-*` fields of the tightest limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitHeaders {
    pub retry_after: Option<u64>,
    pub rate_limit: Option<RateLimitFields>,
}

/// `RateLimit-Limit` (a bucket's burst, or a quota), `RateLimit-Remaining` (as this instance
/// knows it), `RateLimit-Reset` (seconds until the bucket is full or the quota resets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitFields {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl LimitHeaders {
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        if let Some(seconds) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(fields) = self.rate_limit {
            headers.insert("ratelimit-limit", HeaderValue::from(fields.limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(fields.remaining));
            headers.insert("ratelimit-reset", HeaderValue::from(fields.reset));
        }
    }
}

impl GatewayError {
    pub fn no_route(api_type: ApiType) -> GatewayError {
        match api_type {
            ApiType::Rest => GatewayError::MissingAuthenticationToken,
            ApiType::Http => GatewayError::NotFound,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::MissingAuthenticationToken => StatusCode::FORBIDDEN,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::BadRequestPath { .. } => StatusCode::BAD_REQUEST,
            GatewayError::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden { .. } => StatusCode::FORBIDDEN,
            GatewayError::IntegrationFailure { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::IntegrationTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::ConfigUnavailable { .. } | GatewayError::LimitsUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::Throttled { .. } | GatewayError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            GatewayError::AccessDenied { .. }
            | GatewayError::AuthorizerDenied { .. }
            | GatewayError::AuthorizerForbidden { .. } => StatusCode::FORBIDDEN,
            GatewayError::AuthorizerFailure { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `x-amzn-ErrorType` header, where API Gateway sends one.
    pub fn error_type(&self) -> Option<&'static str> {
        match self {
            GatewayError::MissingAuthenticationToken => Some("MissingAuthenticationTokenException"),
            GatewayError::NotFound | GatewayError::IntegrationTimeout => None,
            GatewayError::BadRequestPath { .. } => Some("BadRequestException"),
            GatewayError::RequestTooLarge => Some("RequestTooLargeException"),
            GatewayError::Unauthorized { .. } => Some("UnauthorizedException"),
            GatewayError::Forbidden { .. } => Some("ForbiddenException"),
            GatewayError::IntegrationFailure { .. } | GatewayError::Internal { .. } => {
                Some("InternalServerErrorException")
            }
            GatewayError::ConfigUnavailable { .. } | GatewayError::LimitsUnavailable { .. } => {
                Some("ServiceUnavailableException")
            }
            GatewayError::Throttled { .. } => Some("TooManyRequestsException"),
            GatewayError::QuotaExceeded { .. } => Some("LimitExceededException"),
            GatewayError::AccessDenied { .. } | GatewayError::AuthorizerDenied { .. } => {
                Some("AccessDeniedException")
            }
            GatewayError::AuthorizerForbidden { .. } => Some("ForbiddenException"),
            GatewayError::AuthorizerFailure {
                configuration: true,
                ..
            } => Some("AuthorizerConfigurationException"),
            GatewayError::AuthorizerFailure { .. } => Some("AuthorizerFailureException"),
        }
    }

    /// The body, byte for byte as API Gateway writes it (note the inconsistent spacing, and
    /// the capital `M` of policy denials).
    pub fn body(&self) -> std::borrow::Cow<'static, str> {
        let body: &'static str = match self {
            GatewayError::MissingAuthenticationToken => {
                r#"{"message":"Missing Authentication Token"}"#
            }
            GatewayError::NotFound => r#"{"message":"Not Found"}"#,
            GatewayError::BadRequestPath { .. } => r#"{"message":"Bad Request"}"#,
            GatewayError::RequestTooLarge => r#"{"message":"Request Too Long"}"#,
            GatewayError::Unauthorized { .. } => r#"{"message":"Unauthorized"}"#,
            GatewayError::Forbidden { .. } | GatewayError::AuthorizerForbidden { .. } => {
                r#"{"message":"Forbidden"}"#
            }
            GatewayError::AuthorizerDenied { explicit: true } => {
                r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
            }
            GatewayError::AuthorizerDenied { explicit: false } => {
                r#"{"Message":"User is not authorized to access this resource"}"#
            }
            GatewayError::AuthorizerFailure { .. } => r#"{"message": null}"#,
            GatewayError::IntegrationFailure { .. } | GatewayError::Internal { .. } => {
                r#"{"message": "Internal server error"}"#
            }
            GatewayError::IntegrationTimeout => r#"{"message": "Endpoint request timed out"}"#,
            GatewayError::ConfigUnavailable { .. } | GatewayError::LimitsUnavailable { .. } => {
                r#"{"message":"Service Unavailable"}"#
            }
            GatewayError::Throttled { .. } => r#"{"message":"Too Many Requests"}"#,
            GatewayError::QuotaExceeded { .. } => r#"{"message":"Limit Exceeded"}"#,
            GatewayError::AccessDenied { explicit, resource } => {
                let message = format!(
                    "User: anonymous is not authorized to perform: execute-api:Invoke on resource: {resource}{}",
                    if *explicit {
                        " with an explicit deny"
                    } else {
                        ""
                    }
                );
                return serde_json::json!({ "Message": message }).to_string().into();
            }
        };
        body.into()
    }

    /// The gateway response type an API may override (`gatewayResponses`).
    pub fn response_type(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            GatewayError::NotFound => "RESOURCE_NOT_FOUND",
            // Not a type of its own in API Gateway, whose edge refuses such paths: an
            // override of DEFAULT_4XX applies.
            GatewayError::BadRequestPath { .. } => "DEFAULT_4XX",
            GatewayError::RequestTooLarge => "REQUEST_TOO_LARGE",
            GatewayError::Unauthorized { .. } => "UNAUTHORIZED",
            GatewayError::Forbidden { .. } => "INVALID_API_KEY",
            GatewayError::IntegrationFailure { .. } => "INTEGRATION_FAILURE",
            GatewayError::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            GatewayError::Internal { .. } => "API_CONFIGURATION_ERROR",
            GatewayError::ConfigUnavailable { .. } | GatewayError::LimitsUnavailable { .. } => {
                "DEFAULT_5XX"
            }
            GatewayError::Throttled { .. } => "THROTTLED",
            GatewayError::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            GatewayError::AccessDenied { .. }
            | GatewayError::AuthorizerDenied { .. }
            | GatewayError::AuthorizerForbidden { .. } => "ACCESS_DENIED",
            GatewayError::AuthorizerFailure {
                configuration: true,
                ..
            } => "AUTHORIZER_CONFIGURATION_ERROR",
            GatewayError::AuthorizerFailure { .. } => "AUTHORIZER_FAILURE",
        }
    }

    /// `$context.error.message`.
    pub fn message(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "Missing Authentication Token",
            GatewayError::NotFound => "Not Found",
            GatewayError::BadRequestPath { .. } => "Bad Request",
            GatewayError::RequestTooLarge => "Request Too Long",
            GatewayError::Unauthorized { .. } => "Unauthorized",
            GatewayError::Forbidden { .. } => "Forbidden",
            GatewayError::IntegrationFailure { .. } | GatewayError::Internal { .. } => {
                "Internal server error"
            }
            GatewayError::IntegrationTimeout => "Endpoint request timed out",
            GatewayError::ConfigUnavailable { .. } | GatewayError::LimitsUnavailable { .. } => {
                "Service Unavailable"
            }
            GatewayError::Throttled { .. } => "Too Many Requests",
            GatewayError::QuotaExceeded { .. } => "Limit Exceeded",
            GatewayError::AccessDenied { .. } | GatewayError::AuthorizerDenied { .. } => {
                "User is not authorized to access this resource"
            }
            GatewayError::AuthorizerForbidden { .. } => "Forbidden",
            GatewayError::AuthorizerFailure { .. } => "Authorizer error",
        }
    }

    /// The response, shaped by the API's override for this type if it has one: its own
    /// entry, else `DEFAULT_4XX` / `DEFAULT_5XX` by the default status.
    pub fn to_response_for(
        &self,
        overrides: &BTreeMap<String, GatewayResponse>,
        context: &ErrorContext<'_>,
    ) -> Response<Bytes> {
        let class = if self.status().is_client_error() {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        let Some(custom) = overrides
            .get(self.response_type())
            .or_else(|| overrides.get(class))
        else {
            return self.to_response();
        };
        let mut response = self.to_response();
        if let Some(status) = custom
            .status_code
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            *response.status_mut() = status;
        }
        let template = custom
            .response_templates
            .get_key_value("application/json")
            .or_else(|| custom.response_templates.iter().next());
        if let Some((content_type, template)) = template {
            *response.body_mut() = Bytes::from(context.render(template, self));
            if let Ok(value) = HeaderValue::from_str(content_type) {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
        }
        for (name, source) in &custom.response_parameters {
            let Some(header) = name.strip_prefix("gatewayresponse.header.") else {
                continue;
            };
            let value = context.parameter(source, self);
            if let (Ok(header), Some(Ok(value))) = (
                HeaderName::from_bytes(header.as_bytes()),
                value.map(|v| HeaderValue::from_str(&v)),
            ) {
                response.headers_mut().insert(header, value);
            }
        }
        response
    }

    /// What the access log says of it.
    pub fn reason(&self) -> Option<&str> {
        match self {
            GatewayError::IntegrationFailure { reason }
            | GatewayError::Internal { reason }
            | GatewayError::ConfigUnavailable { reason }
            | GatewayError::LimitsUnavailable { reason }
            | GatewayError::Unauthorized { reason }
            | GatewayError::BadRequestPath { reason }
            | GatewayError::Forbidden { reason }
            | GatewayError::AuthorizerForbidden { reason }
            | GatewayError::AuthorizerFailure { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(match self.body() {
            std::borrow::Cow::Borrowed(body) => Bytes::from_static(body.as_bytes()),
            std::borrow::Cow::Owned(body) => Bytes::from(body),
        });
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(kind) = self.error_type() {
            headers.insert("x-amzn-errortype", http::HeaderValue::from_static(kind));
        }
        match self {
            GatewayError::Throttled { limits } | GatewayError::QuotaExceeded { limits } => {
                limits.apply(headers);
            }
            // A fail-closed stage: the counters table is expected back within seconds.
            GatewayError::LimitsUnavailable { .. } => {
                headers.insert(http::header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        response
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.body())?;
        if let Some(reason) = self.reason() {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// What a gateway response template may refer to.
pub struct ErrorContext<'a> {
    pub request: &'a IncomingRequest,
    pub api_id: Option<&'a str>,
    pub stage: Option<&'a str>,
}

impl ErrorContext<'_> {
    fn variable(&self, name: &str, error: &GatewayError) -> Option<String> {
        Some(match name {
            "context.error.messageString" => {
                serde_json::to_string(error.message()).unwrap_or_default()
            }
            "context.error.message" => error.message().to_owned(),
            "context.error.responseType" => error.response_type().to_owned(),
            "context.requestId" | "context.extendedRequestId" => self.request.request_id.clone(),
            "context.apiId" => self.api_id.unwrap_or_default().to_owned(),
            "context.stage" => self.stage.unwrap_or_default().to_owned(),
            "context.httpMethod" => self.request.method.to_string(),
            "context.identity.sourceIp" => self.request.source_ip.clone(),
            _ => return None,
        })
    }

    /// A `gatewayresponse.header.*` source: a quoted literal, a request header or query
    /// parameter, or a context variable.
    fn parameter(&self, source: &str, error: &GatewayError) -> Option<String> {
        if let Some(literal) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return Some(literal.to_owned());
        }
        if let Some(header) = source.strip_prefix("method.request.header.") {
            return self.request.header(header).map(str::to_owned);
        }
        if let Some(name) = source.strip_prefix("method.request.querystring.") {
            return crate::event::query_pairs(&self.request.raw_query)
                .into_iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v);
        }
        self.variable(source, error)
    }

    /// Substitutes `$context.*` variables (longest names first, so `$context.error.message`
    /// does not eat the start of `$context.error.messageString`). Unknown ones stay as written.
    fn render(&self, template: &str, error: &GatewayError) -> String {
        const VARIABLES: [&str; 9] = [
            "context.error.messageString",
            "context.error.responseType",
            "context.error.message",
            "context.extendedRequestId",
            "context.identity.sourceIp",
            "context.httpMethod",
            "context.requestId",
            "context.apiId",
            "context.stage",
        ];
        let mut out = template.to_owned();
        for name in VARIABLES {
            let value = self.variable(name, error).unwrap_or_default();
            out = out
                .replace(&format!("${{{name}}}"), &value)
                .replace(&format!("${name}"), &value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> IncomingRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-trace", HeaderValue::from_static("t-1"));
        IncomingRequest {
            method: http::Method::GET,
            raw_path: "/a/prod/x".into(),
            raw_query: "lang=fr".into(),
            headers,
            body: Bytes::new(),
            source_ip: "198.51.100.1".into(),
            request_id: "req-1".into(),
            time_epoch_ms: 0,
            protocol: "HTTP/1.1".into(),
        }
    }

    fn overrides(value: serde_json::Value) -> BTreeMap<String, GatewayResponse> {
        serde_json::from_value(value).expect("gateway responses")
    }

    #[test]
    fn an_override_sets_status_headers_and_body() {
        let r = request();
        let context = ErrorContext {
            request: &r,
            api_id: Some("a"),
            stage: Some("prod"),
        };
        let custom = overrides(json!({"MISSING_AUTHENTICATION_TOKEN": {
            "statusCode": 404,
            "responseParameters": {
                "gatewayresponse.header.x-literal": "'yes'",
                "gatewayresponse.header.x-trace": "method.request.header.x-trace",
                "gatewayresponse.header.x-lang": "method.request.querystring.lang",
                "gatewayresponse.header.x-id": "context.requestId"
            },
            "responseTemplates": {"application/json": "{\"error\":$context.error.messageString,\"type\":\"$context.error.responseType\",\"id\":\"$context.requestId\",\"stage\":\"${context.stage}\"}"}
        }}));
        let response = GatewayError::MissingAuthenticationToken.to_response_for(&custom, &context);
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-literal"], "yes");
        assert_eq!(response.headers()["x-trace"], "t-1");
        assert_eq!(response.headers()["x-lang"], "fr");
        assert_eq!(response.headers()["x-id"], "req-1");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON");
        assert_eq!(
            body,
            json!({"error": "Missing Authentication Token", "type": "MISSING_AUTHENTICATION_TOKEN", "id": "req-1", "stage": "prod"})
        );
    }

    #[test]
    fn policy_denials_name_the_resource_with_api_gateways_capital_m() {
        let explicit = GatewayError::AccessDenied {
            explicit: true,
            resource: "arn:aws:execute-api:eu-west-1:********9012:abc/prod/GET/pets".into(),
        }
        .to_response();
        assert_eq!(explicit.status(), 403);
        assert_eq!(
            explicit.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
        assert_eq!(
            explicit.body().as_ref(),
            br#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:eu-west-1:********9012:abc/prod/GET/pets with an explicit deny"}"#
        );
        let implicit = GatewayError::AccessDenied {
            explicit: false,
            resource: "r".into(),
        };
        assert!(
            !String::from_utf8_lossy(implicit.to_response().body()).contains("explicit"),
            "no matching Allow is not an explicit deny"
        );
    }

    #[test]
    fn defaults_cover_their_class_and_nothing_else() {
        let r = request();
        let context = ErrorContext {
            request: &r,
            api_id: None,
            stage: None,
        };
        let custom = overrides(
            json!({"DEFAULT_5XX": {"responseTemplates": {"text/plain": "sorry: $context.error.message"}}}),
        );
        let timeout = GatewayError::IntegrationTimeout.to_response_for(&custom, &context);
        assert_eq!(
            timeout.status(),
            504,
            "no status in the override keeps the default"
        );
        assert_eq!(
            timeout.body().as_ref(),
            b"sorry: Endpoint request timed out"
        );
        assert_eq!(timeout.headers()["content-type"], "text/plain");
        let missing = GatewayError::MissingAuthenticationToken.to_response_for(&custom, &context);
        assert_eq!(
            missing.body().as_ref(),
            br#"{"message":"Missing Authentication Token"}"#,
            "a 4xx is not a 5xx"
        );
    }
}
