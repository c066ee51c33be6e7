//! Classifying PostgreSQL errors, once, for every caller.

use muara_core::{Error, ErrorKind};
use tokio_postgres::error::SqlState;

/// Maps a driver error to a classified [`Error`], keeping it as the source.
pub fn pg_error(context: &str, e: tokio_postgres::Error) -> Error {
    let kind = classify(&e);
    // The server's message, detail and hint are what an operator needs: put them in the text.
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{context}: {} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => context.to_string(),
    };
    Error::with_source(kind, message, e)
}

/// Retryable: connection problems and the transient conflicts PostgreSQL asks clients to retry.
pub fn classify(e: &tokio_postgres::Error) -> ErrorKind {
    match e.code() {
        // A certificate that does not verify is configuration, and no retry changes it.
        None if is_tls_failure(e) => ErrorKind::Config,
        None => ErrorKind::Retryable, // closed connection, I/O, timeouts: no SQLSTATE
        Some(code) => classify_state(code),
    }
}

/// Whether the error comes from the TLS handshake (rustls: certificate, name, protocol).
fn is_tls_failure(e: &tokio_postgres::Error) -> bool {
    if e.to_string().contains("server does not support TLS") {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        if err.to_string().contains("server does not support TLS") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn classify_state(code: &SqlState) -> ErrorKind {
    let s = code.code();
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || s.starts_with("08") // connection exception
        || s.starts_with("53")
    // insufficient resources
    {
        ErrorKind::Retryable
    } else if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::EXCLUSION_VIOLATION {
        ErrorKind::Conflict
    } else if s.starts_with("22") || s.starts_with("23") {
        ErrorKind::Invalid // data exception, integrity constraint violation
    } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_FUNCTION {
        ErrorKind::NotFound
    } else {
        ErrorKind::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_retryable_and_bad_data_is_not() {
        assert_eq!(
            classify_state(&SqlState::T_R_SERIALIZATION_FAILURE),
            ErrorKind::Retryable
        );
        assert_eq!(
            classify_state(&SqlState::T_R_DEADLOCK_DETECTED),
            ErrorKind::Retryable
        );
        assert_eq!(
            classify_state(&SqlState::LOCK_NOT_AVAILABLE),
            ErrorKind::Retryable
        );
        assert_eq!(
            classify_state(&SqlState::CONNECTION_FAILURE),
            ErrorKind::Retryable
        );
        assert_eq!(
            classify_state(&SqlState::UNIQUE_VIOLATION),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify_state(&SqlState::INVALID_TEXT_REPRESENTATION),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify_state(&SqlState::NOT_NULL_VIOLATION),
            ErrorKind::Invalid
        );
        assert_eq!(classify_state(&SqlState::SYNTAX_ERROR), ErrorKind::Fatal);
    }
}
