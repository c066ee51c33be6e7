//! Predefined ASL error names, for matching [`ExecutionFailure::error`](crate::ExecutionFailure)
//! and for task handlers that want to raise a well-known error.

/// Wildcard in `ErrorEquals` matching every error except [`RUNTIME`].
pub const ALL: &str = "States.ALL";
/// A Task ran longer than `TimeoutSeconds`, or the execution exceeded its top-level
/// `TimeoutSeconds`.
pub const TIMEOUT: &str = "States.Timeout";
/// In `ErrorEquals`, matches every error except [`TIMEOUT`] (and [`RUNTIME`]).
pub const TASK_FAILED: &str = "States.TaskFailed";
/// An unrecoverable interpreter error (bad InputPath/OutputPath, transition limit, ...).
/// As on AWS, it is never retried or caught, not even by [`ALL`].
pub const RUNTIME: &str = "States.Runtime";
/// A state's input or output, or a task's payload or result, is over 256 KiB. As on AWS it is
/// a terminal error: neither [`ALL`] nor [`TASK_FAILED`] matches it, only its own name.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// A Choice state matched no rule and has no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// A `.$` field of a payload template (Parameters, ItemSelector, ResultSelector)
/// referenced a path that is not in its input.
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// `ResultPath` could not be applied to the state's input.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// An intrinsic function (`States.Format(...)` etc.) failed.
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";

/// Whether an `ErrorEquals` entry matches an error name, per the ASL rules for the
/// reserved wildcards.
pub(crate) fn matches(pattern: &str, error: &str) -> bool {
    if error == RUNTIME {
        return false;
    }
    if error == DATA_LIMIT_EXCEEDED {
        return pattern == error;
    }
    pattern == error || pattern == ALL || (pattern == TASK_FAILED && error != TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_the_spec() {
        assert!(matches(ALL, "Custom.Error"));
        assert!(matches(ALL, TIMEOUT));
        assert!(!matches(ALL, RUNTIME));
        assert!(!matches(RUNTIME, RUNTIME));
        assert!(matches(TASK_FAILED, "Lambda.Unknown"));
        assert!(!matches(TASK_FAILED, TIMEOUT));
        assert!(matches("Custom.Error", "Custom.Error"));
        assert!(!matches("Custom.Error", "custom.error"));
    }
}
