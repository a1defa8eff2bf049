//! Lambda proxy integration: build the event, invoke, read the answer as API Gateway does.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use portico_model::definition::PayloadFormatVersion;
use portico_model::ports::{InvokeError, Invoker};
use portico_model::target::{FunctionTarget, substitute_stage_variables};

use super::Call;
use crate::GatewayError;
use crate::event;

pub async fn call(call: &Call<'_>, invoker: &dyn Invoker) -> Result<Response<Bytes>, GatewayError> {
    let integration = &call.route.integration;
    let internal = |reason: String| GatewayError::Internal { reason };
    let resolved =
        substitute_stage_variables(integration.uri(), &call.stage.variables).map_err(internal)?;
    let target = FunctionTarget::parse(&resolved).map_err(internal)?;

    let ctx = call.event_context();
    let format = integration.payload_format(call.api_type);
    let payload = match format {
        PayloadFormatVersion::V1 => event::v1_event(call.request, &ctx),
        PayloadFormatVersion::V2 => event::v2_event(call.request, &ctx),
    };

    // A body under the function URL's limit can still make an event over Lambda's invoke
    // limit (base64 grows it by a third): refused as too large rather than failing the call.
    if payload.len() > crate::MAX_BODY_BYTES {
        return Err(GatewayError::RequestTooLarge);
    }

    let timeout = Duration::from_millis(u64::from(call.route.integration.timeout_ms()));
    let output = match tokio::time::timeout(timeout, invoker.invoke(&target, payload)).await {
        Err(_) => return Err(GatewayError::IntegrationTimeout),
        Ok(Err(
            error @ (InvokeError::Throttled(_)
            | InvokeError::Denied(_)
            | InvokeError::NotFound(_)
            | InvokeError::Failed(_)),
        )) => {
            return Err(internal(format!("invoking {}: {error}", target.function)));
        }
        Ok(Ok(output)) => output,
    };
    if let Some(kind) = output.function_error {
        return Err(GatewayError::IntegrationFailure {
            reason: format!("function {} failed ({kind})", target.function),
        });
    }
    let parsed = match format {
        PayloadFormatVersion::V1 => event::v1_response(&output.payload),
        PayloadFormatVersion::V2 => event::v2_response(&output.payload),
    };
    parsed.map_err(|reason| GatewayError::IntegrationFailure {
        reason: format!("function {}: {reason}", target.function),
    })
}
