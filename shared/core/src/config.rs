//! Typed configuration from the environment, read once at start-up.
//!
//! Every getter returns an [`Error`] of kind `Config` that names the variable, so a missing
//! setting ends the process with one clear line instead of a panic.

use crate::{Error, Result};
use std::str::FromStr;
use std::time::Duration;

/// A required variable; empty counts as missing.
pub fn required(name: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(Error::config(format!(
            "missing required environment variable {name}"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::config(format!(
            "environment variable {name} is not valid UTF-8"
        ))),
    }
}

/// An optional variable; empty counts as unset.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A comma-separated list (`a@x.id, b@x.id`); empty items dropped, empty when unset.
pub fn list(name: &str) -> Vec<String> {
    optional(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// An optional variable parsed as `T`, or `default` when unset.
pub fn parsed_or<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| {
            Error::config(format!("environment variable {name}={v:?} is invalid: {e}"))
        }),
    }
}

/// A duration in whole seconds, or `default` when unset.
pub fn seconds_or(name: &str, default: Duration) -> Result<Duration> {
    parsed_or::<u64>(name, default.as_secs()).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_is_named_in_the_error() {
        let err = required("MUARA_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("MUARA_TEST_SURELY_UNSET_VARIABLE"));
    }

    #[test]
    fn unset_optional_falls_back_to_default() {
        assert_eq!(
            parsed_or("MUARA_TEST_SURELY_UNSET_NUMBER", 7u32).ok(),
            Some(7)
        );
    }
}
