//! Every admin failure as one JSON shape: `{"message": ..., "problems": [...]}`. Client
//! mistakes are not logged as errors; internal detail is logged and never returned.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use portico_model::ports::StoreError;
use portico_model::problem::Problems;
use serde_json::json;

use crate::AdminRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// 400: the input is wrong; every problem is listed with a JSON pointer.
    Invalid { message: String, problems: Problems },
    /// 404: the named resource does not exist.
    NotFound(String),
    /// 404: no such path in the admin API.
    NoSuchPath(String),
    /// 405, with the methods the path allows.
    MethodNotAllowed(&'static str),
    /// 409: a concurrent writer got there first; read again and retry.
    Conflict(String),
    /// 412: `If-Match` named a version that is no longer current.
    PreconditionFailed { current: u64 },
    /// 503: the store is throttling or unreachable; nothing was changed unless the message
    /// says otherwise.
    Unavailable(String),
    /// 500: a bug or a misconfiguration; the detail goes to the log only.
    Internal(String),
}

impl AdminError {
    pub fn invalid(problems: Problems) -> Self {
        AdminError::Invalid {
            message: "the request is invalid; see problems".to_owned(),
            problems,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) | AdminError::NoSuchPath(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_response(&self) -> Response<Bytes> {
        let body = match self {
            AdminError::Invalid { message, problems } => {
                json!({"message": message, "problems": problems})
            }
            AdminError::NotFound(message) | AdminError::Conflict(message) => {
                json!({"message": message})
            }
            AdminError::NoSuchPath(path) => {
                json!({"message": format!("no admin resource at {path}")})
            }
            AdminError::MethodNotAllowed(allow) => {
                json!({"message": format!("method not allowed here; allowed: {allow}")})
            }
            AdminError::PreconditionFailed { current } => json!({
                "message": format!("If-Match does not name the current version ({current}); read the resource again"),
                "currentVersion": current,
            }),
            AdminError::Unavailable(message) => json!({"message": message}),
            AdminError::Internal(_) => {
                json!({"message": "internal error; see the admin function's log"})
            }
        };
        let mut response = crate::wire::json_response(self.status(), &body);
        if let AdminError::MethodNotAllowed(allow) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let AdminError::Unavailable(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }

    pub fn log(&self, request: &AdminRequest) {
        match self {
            AdminError::Internal(detail) => {
                tracing::error!(method = %request.method, path = %request.path, caller = %request.caller, %detail, "admin request failed")
            }
            AdminError::Unavailable(detail) => {
                tracing::warn!(method = %request.method, path = %request.path, %detail, "config store unavailable")
            }
            _ => {}
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed => AdminError::Conflict(
                "the resource was changed by another writer; read it again and retry".to_owned(),
            ),
            StoreError::Throttled => AdminError::Unavailable(
                "the config store is throttling requests; nothing was changed, retry shortly"
                    .to_owned(),
            ),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "config store unavailable");
                AdminError::Unavailable(
                    "the config store is unavailable; nothing was changed, retry shortly"
                        .to_owned(),
                )
            }
            StoreError::Misconfigured(detail) | StoreError::Corrupt(detail) => {
                AdminError::Internal(detail)
            }
        }
    }
}
