//! Calling a route's integration and turning its answer into the client's response.

pub mod http;
pub mod lambda;
pub mod mock;

use bytes::Bytes;
use portico_model::definition::{ApiType, IntegrationType, RouteDefinition};
use portico_model::records::Stage;

use crate::{GatewayError, IncomingRequest, Settings};

/// Everything an integration may read about the request it serves.
pub struct Call<'a> {
    pub request: &'a IncomingRequest,
    pub target: &'a crate::resolve::Target,
    /// The host the request was addressed to.
    pub domain_name: &'a str,
    /// The API key the request was admitted with, on routes that require one.
    pub api_key: Option<&'a crate::keys::AdmittedKey>,
    /// Who the route's authorizer says the caller is.
    pub principal: Option<&'a crate::auth::Principal>,
    pub route: &'a RouteDefinition,
    /// Path parameters as matched, still percent-encoded.
    pub params: &'a [(String, String)],
    pub stage: &'a Stage,
    pub api_type: ApiType,
    /// Content types payload 1.0 delivers base64-encoded.
    pub binary_media_types: &'a [String],
    pub settings: &'a Settings,
}

impl<'a> Call<'a> {
    /// What a proxy event (or an authorizer's REQUEST event) is built from.
    pub fn event_context(&self) -> crate::event::EventContext<'_> {
        crate::event::EventContext {
            api_id: &self.target.api_id,
            account_id: &self.settings.account_id,
            stage: &self.stage.stage_name,
            route_key: self.route.key(),
            resource: &self.route.path,
            event_path: &self.target.event_path,
            full_path: &self.target.full_path,
            domain_name: self.domain_name,
            api_key: self
                .api_key
                .map(|k| (k.value.as_str(), k.grant.key.id.as_str())),
            path_parameters: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), crate::event::percent_decode(v, false)))
                .collect(),
            stage_variables: &self.stage.variables,
            binary_media_types: self.binary_media_types,
            principal: self.principal,
        }
    }
}

pub async fn run(
    call: &Call<'_>,
    invoker: &dyn portico_model::ports::Invoker,
    backend: &http::HttpBackend,
) -> Result<::http::Response<Bytes>, GatewayError> {
    let integration = &call.route.integration;
    match integration.kind {
        IntegrationType::AwsProxy => lambda::call(call, invoker).await,
        IntegrationType::HttpProxy => backend.call(call).await,
        IntegrationType::Mock => mock::respond(
            integration.status_code.unwrap_or(200),
            &integration.headers,
            integration.body.as_deref().unwrap_or_default(),
        ),
        // Non-proxy integrations need mapping templates, which this front does not apply:
        // answering as API Gateway does for a broken integration beats guessing.
        IntegrationType::Http | IntegrationType::Aws => Err(GatewayError::Internal {
            reason: format!(
                "{} integrations (mapping templates) are not served by this version of the front",
                integration.kind.as_str()
            ),
        }),
    }
}
