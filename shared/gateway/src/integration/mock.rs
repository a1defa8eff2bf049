//! Mock integration: the definition's status, headers and body, from the gateway itself.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::GatewayError;

pub fn respond(
    status: u16,
    headers: &BTreeMap<String, String>,
    body: &str,
) -> Result<Response<Bytes>, GatewayError> {
    let internal = |reason: String| GatewayError::Internal { reason };
    let mut response = Response::new(Bytes::copy_from_slice(body.as_bytes()));
    *response.status_mut() = StatusCode::from_u16(status)
        .map_err(|_| internal(format!("mock status {status} is invalid")))?;
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| internal(format!("mock header name {name:?} is invalid")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| internal(format!("mock header {name} has an invalid value")))?;
        response.headers_mut().append(name, value);
    }
    if !response.headers().contains_key(http::header::CONTENT_TYPE) && !body.is_empty() {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(response)
}
