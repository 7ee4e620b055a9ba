//! SDK errors as port errors, classified once for every service: an error is permanent when its
//! code (or, for a service that answers some requests with a bare status, its HTTP status) says
//! retrying cannot help; everything else (throttling, timeouts, 5xx, dispatch failures) is
//! transient. The SDK has already retried transient errors by then.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use store_model::ports::PortError;

/// What a service's permanent errors look like.
pub(crate) struct Permanent {
    /// Error codes.
    pub codes: &'static [&'static str],
    /// HTTP statuses (for answers without a code, such as S3's to `HEAD`).
    pub statuses: &'static [u16],
}

/// The HTTP status of an error's response, when there was one.
pub(crate) fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// `e` as a port error of `operation`, with the SDK's full context as its message.
pub(crate) fn sdk_error<E>(
    operation: &'static str,
    e: SdkError<E>,
    permanent: &Permanent,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!("{}", DisplayErrorContext(&e));
    let status = status(&e);
    let is_permanent = e.code().is_some_and(|c| permanent.codes.contains(&c))
        || status.is_some_and(|s| permanent.statuses.contains(&s));
    if is_permanent {
        PortError::permanent(operation, message, e)
    } else {
        PortError::transient(operation, message, e)
    }
}
