//! Calling a route's integration and turning its answer into the client's response.

pub mod http;
pub mod lambda;
pub mod mock;

use bytes::Bytes;
use portico_model::definition::{Integration, RouteDefinition};
use portico_model::records::Stage;

use crate::{GatewayError, IncomingRequest, Settings};

/// Everything an integration may read about the request it serves.
pub struct Call<'a> {
    pub request: &'a IncomingRequest,
    /// The path after the stage.
    pub path: &'a str,
    pub route: &'a RouteDefinition,
    /// Path parameters as matched, still percent-encoded.
    pub params: &'a [(String, String)],
    pub stage: &'a Stage,
    pub api_id: &'a str,
    pub settings: &'a Settings,
}

pub async fn run(
    call: &Call<'_>,
    invoker: &dyn portico_model::ports::Invoker,
    backend: &http::HttpBackend,
) -> Result<::http::Response<Bytes>, GatewayError> {
    match &call.route.integration {
        Integration::AwsProxy { .. } => lambda::call(call, invoker).await,
        Integration::HttpProxy { .. } => backend.call(call).await,
        Integration::Mock {
            status_code,
            headers,
            body,
        } => mock::respond(*status_code, headers, body),
    }
}
