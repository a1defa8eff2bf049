//! Every answer the gateway makes itself, in one place, with API Gateway's status, body and
//! `x-amzn-ErrorType` (../shared/REFERENCE.md). The `reason` some variants carry is for the
//! access log only: internal detail never reaches the client.

use bytes::Bytes;
use http::{Response, StatusCode, header::CONTENT_TYPE};
use portico_model::definition::ApiType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route (or no such API or stage) on a REST API.
    MissingAuthenticationToken,
    /// No route on an HTTP API.
    NotFound,
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
            GatewayError::IntegrationFailure { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::IntegrationTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::ConfigUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `x-amzn-ErrorType` header, where API Gateway sends one.
    pub fn error_type(&self) -> Option<&'static str> {
        match self {
            GatewayError::MissingAuthenticationToken => Some("MissingAuthenticationTokenException"),
            GatewayError::NotFound | GatewayError::IntegrationTimeout => None,
            GatewayError::IntegrationFailure { .. } | GatewayError::Internal { .. } => {
                Some("InternalServerErrorException")
            }
            GatewayError::ConfigUnavailable { .. } => Some("ServiceUnavailableException"),
        }
    }

    /// The body, byte for byte as API Gateway writes it (note the inconsistent spacing).
    pub fn body(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => {
                r#"{"message":"Missing Authentication Token"}"#
            }
            GatewayError::NotFound => r#"{"message":"Not Found"}"#,
            GatewayError::IntegrationFailure { .. } | GatewayError::Internal { .. } => {
                r#"{"message": "Internal server error"}"#
            }
            GatewayError::IntegrationTimeout => r#"{"message": "Endpoint request timed out"}"#,
            GatewayError::ConfigUnavailable { .. } => r#"{"message":"Service Unavailable"}"#,
        }
    }

    /// What the access log says of it.
    pub fn reason(&self) -> Option<&str> {
        match self {
            GatewayError::IntegrationFailure { reason }
            | GatewayError::Internal { reason }
            | GatewayError::ConfigUnavailable { reason } => Some(reason),
            _ => None,
        }
    }

    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from_static(self.body().as_bytes()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(kind) = self.error_type() {
            headers.insert("x-amzn-errortype", http::HeaderValue::from_static(kind));
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
