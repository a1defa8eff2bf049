//! The invoker port over Lambda's Invoke API (RequestResponse).

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError as SdkInvokeError;
use aws_sdk_lambda::primitives::Blob;
use portico_model::ports::{InvokeError, InvokeOutput, Invoker};
use portico_model::target::FunctionTarget;

#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    client: Client,
}

impl LambdaInvoker {
    pub fn new(client: Client) -> Self {
        LambdaInvoker { client }
    }
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke(
        &self,
        target: &FunctionTarget,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError> {
        let result = self
            .client
            .invoke()
            .function_name(&target.function)
            .set_qualifier(target.qualifier.clone())
            .payload(Blob::new(payload))
            .send()
            .await;
        match result {
            Ok(output) => Ok(InvokeOutput {
                function_error: output.function_error,
                payload: output.payload.map(Blob::into_inner).unwrap_or_default(),
            }),
            Err(err) => classify(err),
        }
    }
}

fn classify<R>(err: SdkError<SdkInvokeError, R>) -> Result<InvokeOutput, InvokeError>
where
    R: std::fmt::Debug + HasBody,
{
    if let SdkError::ServiceError(service) = &err {
        // `cargo lambda watch` answers a handler error with HTTP 500 and the function's error
        // document ({"errorType", "errorMessage"}) instead of 200 + X-Amz-Function-Error. Lambda
        // itself never puts `errorMessage` in a service error, so this tells them apart.
        let body = service.raw().body_bytes();
        if let Some(body) = body
            && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body)
            && doc.get("errorMessage").is_some()
        {
            return Ok(InvokeOutput {
                function_error: Some("Unhandled".to_owned()),
                payload: body.to_vec(),
            });
        }
        let detail = format!(
            "{}: {}",
            service.err().code().unwrap_or("unknown"),
            service.err().message().unwrap_or_default()
        );
        return Err(match service.err() {
            SdkInvokeError::TooManyRequestsException(_) => InvokeError::Throttled(detail),
            SdkInvokeError::ResourceNotFoundException(_) => InvokeError::NotFound(detail),
            _ if service.raw().status_code() == 403 => InvokeError::Denied(detail),
            _ => InvokeError::Failed(detail),
        });
    }
    Err(InvokeError::Failed(
        aws_sdk_lambda::error::DisplayErrorContext(&err).to_string(),
    ))
}

/// The raw HTTP response of a failed call, as far as `classify` needs it.
pub trait HasBody {
    fn body_bytes(&self) -> Option<&[u8]>;
    fn status_code(&self) -> u16;
}

impl HasBody for aws_smithy_runtime_api::http::Response {
    fn body_bytes(&self) -> Option<&[u8]> {
        self.body().bytes()
    }

    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
