//! Definition-time errors ([`AslError`]) and the runtime fault carried between states.

use thiserror::Error;

use crate::names;

/// Why a definition could not be parsed, validated or substituted.
///
/// Runtime failures are not `AslError`s: they surface as
/// [`ExecutionFailure`](crate::ExecutionFailure) so that they carry an ASL error name.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AslError {
    /// The definition text is not JSON.
    #[error("state machine definition is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The definition is JSON but not a valid state machine. `location` names the
    /// offending state, nested states as `state "Outer" > branch 0 > state "Inner"`.
    #[error("invalid state machine definition at {location}: {message}")]
    Invalid {
        /// Where the problem is, e.g. `state "Fetch"` or `the state machine`.
        location: String,
        /// What is wrong.
        message: String,
    },

    /// [`substitute`](crate::substitute) met `${Name}` placeholders it has no value for.
    #[error(
        "definition uses substitution placeholder(s) with no value: {}",
        .names.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", ")
    )]
    UnknownPlaceholders {
        /// Each unknown placeholder name once, in order of first appearance.
        names: Vec<String>,
    },

    /// [`substitute`](crate::substitute) met a `${` with no closing `}`.
    #[error("unterminated substitution placeholder starting at byte {offset}")]
    UnterminatedPlaceholder {
        /// Byte offset of the `$`.
        offset: usize,
    },
}

impl AslError {
    pub(crate) fn invalid(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A runtime error as ASL sees it: a name that Retry/Catch match on, and a cause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub(crate) error: String,
    pub(crate) cause: String,
}

impl Fault {
    pub(crate) fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }
}
