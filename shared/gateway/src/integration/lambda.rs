//! Lambda proxy integration: build the event, invoke, read the answer as API Gateway does.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use portico_model::definition::{Integration, PayloadFormatVersion};
use portico_model::ports::{InvokeError, Invoker};
use portico_model::target::{FunctionTarget, substitute_stage_variables};

use super::Call;
use crate::GatewayError;
use crate::event::{self, EventContext};

pub async fn call(call: &Call<'_>, invoker: &dyn Invoker) -> Result<Response<Bytes>, GatewayError> {
    let Integration::AwsProxy {
        uri,
        payload_format_version,
        ..
    } = &call.route.integration
    else {
        return Err(GatewayError::Internal {
            reason: "not a Lambda proxy integration".to_owned(),
        });
    };
    let internal = |reason: String| GatewayError::Internal { reason };
    let resolved = substitute_stage_variables(uri, &call.stage.variables).map_err(internal)?;
    let target = FunctionTarget::parse(&resolved).map_err(internal)?;

    let ctx = EventContext {
        api_id: call.api_id,
        account_id: &call.settings.account_id,
        stage: &call.stage.stage_name,
        route_key: format!("{} {}", call.route.method, call.route.path),
        path: call.path,
        path_parameters: call
            .params
            .iter()
            .map(|(k, v)| (k.clone(), event::percent_decode(v, false)))
            .collect(),
        stage_variables: &call.stage.variables,
    };
    let payload = match payload_format_version {
        PayloadFormatVersion::V2 => event::v2_event(call.request, &ctx),
        PayloadFormatVersion::V1 => {
            return Err(internal(
                "payload format 1.0 is not supported by this version of the front".to_owned(),
            ));
        }
    };

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
    event::v2_response(&output.payload).map_err(|reason| GatewayError::IntegrationFailure {
        reason: format!("function {}: {reason}", target.function),
    })
}
