//! Who is calling: roles, principals, and the port that turns a request's credentials into a
//! principal — hashed local tokens under `muara up`, API Gateway's verified JWT claims in AWS.
//! The HTTP kit (`muara-api`) reads the credentials off a request and guards every route.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A caller's role. The order is the order of power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `viewer`, `operator`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0:?} is not one of viewer, operator, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// An authenticated caller, as the handlers and the audit log see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Token name locally, the user's `cognito:username` (or `sub`) in AWS.
    pub subject: String,
    pub role: Role,
    /// `token` or `jwt`.
    pub via: &'static str,
}

impl Principal {
    /// The platform acting on an operator's behalf outside the API (first start, CLI, tests):
    /// an admin, named for the audit log.
    pub fn system(subject: impl Into<String>, via: &'static str) -> Self {
        Self {
            subject: subject.into(),
            role: Role::Admin,
            via,
        }
    }
}

/// Why a request was not authenticated. Each is a 401 except `Unavailable` (503) and
/// `NoRole` (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this route needs a bearer token (Authorization: Bearer …)")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token was revoked")]
    Revoked,
    #[error("the caller has no muara role (groups: {0})")]
    NoRole(String),
    #[error("credentials cannot be checked now: {0}")]
    Unavailable(String),
}

/// What a request presents: its `Authorization` header, and the claims API Gateway's JWT
/// authorizer verified (put there by the Lambda host, never read from what the caller sends).
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header, when present (`Err` when it is not ASCII).
    pub authorization: Option<Result<&'a str, ()>>,
    pub verified_claims: Option<&'a HashMap<String, String>>,
}

impl<'a> Credentials<'a> {
    /// The bearer token, read strictly.
    pub fn bearer(&self) -> Result<&'a str, AuthError> {
        let value = self
            .authorization
            .ok_or(AuthError::Missing)?
            .map_err(|()| AuthError::Invalid("the Authorization header is not ASCII".into()))?;
        let (scheme, token) = value
            .split_once(' ')
            .ok_or_else(|| AuthError::Invalid("expected \"Bearer <token>\"".into()))?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Invalid("expected \"Bearer <token>\"".into()));
        }
        Ok(token.trim())
    }
}

/// Turns a request's credentials into a principal.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<Principal, AuthError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed_strictly() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("Admin".parse::<Role>().is_err());
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let with = |h: Option<Result<&'static str, ()>>| Credentials {
            authorization: h,
            verified_claims: None,
        };
        assert_eq!(with(None).bearer(), Err(AuthError::Missing));
        assert!(matches!(
            with(Some(Err(()))).bearer(),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            with(Some(Ok("Basic abc"))).bearer(),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            with(Some(Ok("Bearer  "))).bearer(),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(with(Some(Ok("Bearer  muara_x "))).bearer(), Ok("muara_x"));
    }
}
