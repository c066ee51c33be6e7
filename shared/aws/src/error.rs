//! Classifying AWS SDK errors once, for every adapter.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use muara_core::{Error, ErrorKind};

type SdkError<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "TransactionConflictException",
    "KMSThrottlingException",
];
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ExecutionDoesNotExist",
    "StateMachineDoesNotExist",
    "NoSuchUpload",
];
const CONFLICT_CODES: &[&str] = &[
    "ConditionalCheckFailedException",
    "ExecutionAlreadyExists",
    "TransactionCanceledException",
];
const INVALID_CODES: &[&str] = &[
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidInput",
    "InvalidExecutionInput",
    "InvalidName",
    "MessageRejected",
    "InvalidArgument",
    "BadDigest",
    "InvalidRequest",
    "EntityTooLarge",
];

/// Maps an error code (and HTTP status, when known) to a kind.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(code) = code {
        if RETRYABLE_CODES.contains(&code) {
            return ErrorKind::Retryable;
        }
        if NOT_FOUND_CODES.contains(&code) {
            return ErrorKind::NotFound;
        }
        if CONFLICT_CODES.contains(&code) {
            return ErrorKind::Conflict;
        }
        if INVALID_CODES.contains(&code) || code.starts_with("InvalidParameter") {
            return ErrorKind::Invalid;
        }
        if code.contains("NotVerified") || code == "AccessDenied" || code == "AccessDeniedException"
        {
            return ErrorKind::Config;
        }
    }
    match status {
        Some(429) => ErrorKind::Retryable,
        Some(s) if s >= 500 => ErrorKind::Retryable,
        Some(404) => ErrorKind::NotFound,
        Some(409) | Some(412) => ErrorKind::Conflict,
        _ => ErrorKind::Fatal,
    }
}

/// Maps an SDK error to a classified [`Error`] with the SDK error as its source.
pub fn sdk_error<E>(context: &str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_s3::error::SdkError as S;
    let kind = match &e {
        S::TimeoutError(_) | S::DispatchFailure(_) | S::ResponseError(_) => ErrorKind::Retryable,
        S::ConstructionFailure(_) => ErrorKind::Fatal,
        S::ServiceError(se) => classify_code(se.err().code(), Some(se.raw().status().as_u16())),
        _ => ErrorKind::Fatal,
    };
    let detail = match e.code() {
        Some(code) => format!("{context}: {code}: {}", e.message().unwrap_or("")),
        None => context.to_string(),
    };
    Error::with_source(kind, detail, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_5xx_retry_bad_input_does_not() {
        assert_eq!(
            classify_code(Some("ThrottlingException"), Some(400)),
            ErrorKind::Retryable
        );
        assert_eq!(
            classify_code(Some("SlowDown"), Some(503)),
            ErrorKind::Retryable
        );
        assert_eq!(classify_code(None, Some(502)), ErrorKind::Retryable);
        assert_eq!(
            classify_code(Some("ConditionalCheckFailedException"), Some(400)),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify_code(Some("ValidationException"), Some(400)),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify_code(Some("NoSuchKey"), Some(404)),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify_code(Some("MailFromDomainNotVerifiedException"), Some(400)),
            ErrorKind::Config
        );
        assert_eq!(
            classify_code(Some("SomethingElse"), Some(400)),
            ErrorKind::Fatal
        );
    }
}
