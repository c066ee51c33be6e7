//! Definition-time errors ([`AslError`]) and the runtime fault carried between states.
//!
//! The parsers' own errors ([`PathError`], [`IntrinsicError`],
//! [`TemplateError`](crate::template::TemplateError),
//! [`ChoiceError`](crate::choice::ChoiceError)) become the message of an
//! [`AslError::Invalid`] when a definition is loaded, and a [`Fault`] (an ASL error name and
//! a cause) when a path or intrinsic function fails at run time.

use std::fmt;

use thiserror::Error;

use crate::intrinsic::IntrinsicError;
use crate::names;
use crate::path::PathError;

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

    /// Prefixes the cause with where the failure happened: `{context}: {cause}`.
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.cause = format!("{context}: {}", self.cause);
        self
    }
}

impl From<PathError> for Fault {
    /// `States.ResultPathMatchFailure` when a ResultPath could not be applied,
    /// `States.Runtime` for everything else (a path that matches nothing in InputPath,
    /// OutputPath, ItemsPath, a Choice rule…). Payload templates name their path failures
    /// `States.ParameterPathFailure` themselves.
    fn from(error: PathError) -> Self {
        let name = match error {
            PathError::IndexOutOfBounds { .. }
            | PathError::NotAContainer { .. }
            | PathError::SetThroughNonReference { .. } => names::RESULT_PATH_MATCH_FAILURE,
            PathError::MissingRoot { .. }
            | PathError::Syntax { .. }
            | PathError::NotReference { .. }
            | PathError::NoMatch { .. } => names::RUNTIME,
        };
        Self::new(name, error.to_string())
    }
}

impl From<IntrinsicError> for Fault {
    /// `States.IntrinsicFailure`.
    fn from(error: IntrinsicError) -> Self {
        Self::new(names::INTRINSIC_FAILURE, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::intrinsic::Call;
    use crate::path::Path;

    #[test]
    fn path_failures_are_runtime_errors_except_for_result_path() {
        let missing = Path::parse("$.a")
            .unwrap()
            .select(&json!({}), &json!({}))
            .unwrap_err();
        assert_eq!(
            Fault::from(missing).context("InputPath"),
            Fault::runtime("InputPath: path `$.a` does not match anything in the input")
        );
        let mut target = json!(1);
        let unsettable = Path::parse("$.a")
            .unwrap()
            .set(&mut target, json!(2))
            .unwrap_err();
        assert_eq!(
            Fault::from(unsettable),
            Fault::new(
                names::RESULT_PATH_MATCH_FAILURE,
                "cannot apply ResultPath `$.a`: `a` would have to be set inside a number, which is not a container of that kind"
            )
        );
    }

    #[test]
    fn intrinsic_failures_keep_their_cause_chain() {
        let err = Call::parse("States.Format('{}', States.ArrayGetItem($.xs, $.i))")
            .unwrap()
            .eval(&json!({"xs": [1]}), &json!({}))
            .unwrap_err();
        let mut chain = Vec::new();
        let mut next: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = next {
            chain.push(e);
            next = e.source();
        }
        assert!(
            chain
                .last()
                .and_then(|e| e.downcast_ref::<PathError>())
                .is_some_and(|e| matches!(e, PathError::NoMatch { .. })),
            "{chain:?}"
        );
        assert_eq!(
            Fault::from(err),
            Fault::new(
                names::INTRINSIC_FAILURE,
                "States.Format: States.ArrayGetItem: path `$.i` does not match anything in the input"
            )
        );
    }
}
