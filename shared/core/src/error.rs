//! One error type for ports and domain code.
//!
//! Retry policy is decided here and nowhere else: adapters map their service errors to an
//! [`ErrorKind`], and callers ask [`Error::is_retryable`]. The same classification becomes the
//! `error_type` a Lambda reports, which Step Functions `Retry`/`Catch` clauses match on.

use std::fmt;

/// What kind of failure this is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A transient fault (network, throttling, connection loss, timeouts, serialization
    /// failure): the same call may succeed later.
    Retryable,
    /// Bad input or bad data: retrying will fail the same way.
    Invalid,
    /// A conditional write lost: someone else holds the lock, the record exists, the name is
    /// taken.
    Conflict,
    /// The thing asked for does not exist.
    NotFound,
    /// Missing or malformed configuration.
    Config,
    /// Anything else that is not worth retrying (permissions, programming errors).
    Fatal,
}

impl ErrorKind {
    /// The stable name reported as a Lambda `errorType` and matched by state machine `Retry`
    /// and `Catch` clauses.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::Invalid => "InvalidInput",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Config => "ConfigError",
            ErrorKind::Fatal => "NonRetryable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A classified error that keeps its source.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

/// Result alias for ports and domain code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    /// The message followed by every source in the chain, for logs and failure reports.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::Conflict,
            K::InvalidData | K::InvalidInput => ErrorKind::Invalid,
            K::PermissionDenied => ErrorKind::Fatal,
            _ => ErrorKind::Retryable,
        };
        Error::with_source(kind, "i/o error", e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::with_source(ErrorKind::Invalid, "invalid JSON", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_keeps_every_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset");
        let e = Error::with_source(ErrorKind::Retryable, "sending batch", io);
        assert_eq!(e.chain(), "Retryable: sending batch: peer reset");
        assert!(e.is_retryable());
    }

    #[test]
    fn io_errors_are_classified() {
        let nf: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(nf.kind(), ErrorKind::NotFound);
        let reset: Error = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(reset.is_retryable());
    }

    #[test]
    fn error_types_are_stable_names_for_state_machines() {
        assert_eq!(ErrorKind::Retryable.error_type(), "Retryable");
        assert_eq!(ErrorKind::Fatal.error_type(), "NonRetryable");
    }
}
