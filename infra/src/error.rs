//! The crate's error type: every variant names the region and the function or rule involved.

use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Boxed SDK error kept as the [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from deploying the checker or syncing its schedules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Lambda API call failed.
    #[error("Lambda {operation} for function `{function}` in {region} failed: {message}")]
    Lambda {
        operation: &'static str,
        function: String,
        region: String,
        /// Error code and message from AWS, or the transport error chain.
        message: String,
        #[source]
        source: BoxError,
    },
    /// An EventBridge API call failed.
    #[error("EventBridge {operation} for rule `{rule}` in {region} failed: {message}")]
    EventBridge {
        operation: &'static str,
        rule: String,
        region: String,
        message: String,
        #[source]
        source: BoxError,
    },
    /// EventBridge accepted the call but rejected some entries (PutTargets / RemoveTargets).
    #[error("EventBridge {operation} for rule `{rule}` in {region} rejected {failed} entries: {details}")]
    PartialFailure {
        operation: &'static str,
        rule: String,
        region: String,
        failed: i32,
        details: String,
    },
    /// The function ended in a failed state or did not settle in time.
    #[error("function `{function}` in {region} is not ready: {reason}")]
    FunctionNotReady {
        function: String,
        region: String,
        reason: String,
    },
    /// An S3 call on the bucket of kept renders failed.
    #[error("S3 {operation} on `{bucket}/{key}` failed: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    /// The caller's input cannot be deployed (e.g. zip too large for a direct upload).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// `code: message` from AWS when the service answered, else the whole transport error chain.
pub(crate) fn describe<E, R>(err: &aws_sdk_lambda::error::SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or("(no message)")),
        None => DisplayErrorContext(err).to_string(),
    }
}

/// Wraps a Lambda SDK error with the operation, function and region.
pub(crate) fn lambda_err<E, R>(
    operation: &'static str,
    function: &str,
    region: &str,
    e: aws_sdk_lambda::error::SdkError<E, R>,
) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::Lambda {
        operation,
        function: function.to_owned(),
        region: region.to_owned(),
        message: describe(&e),
        source: Box::new(e),
    }
}
