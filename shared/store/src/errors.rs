//! SDK errors sorted into the ports' kinds by error code, not by message text.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use portico_model::ports::StoreError;

pub fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let detail = || {
            format!(
                "{}: {}",
                service.err().code().unwrap_or("unknown"),
                service.err().message().unwrap_or_default()
            )
        };
        return match service.err().code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException",
            ) => StoreError::Throttled,
            Some(
                "ResourceNotFoundException"
                | "ValidationException"
                | "AccessDeniedException"
                | "UnrecognizedClientException",
            ) => StoreError::Misconfigured(detail()),
            _ => StoreError::Unavailable(detail()),
        };
    }
    // Timeouts, connection failures, unreadable responses.
    StoreError::Unavailable(DisplayErrorContext(&err).to_string())
}
