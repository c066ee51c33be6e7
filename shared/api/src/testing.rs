//! Test support (`testing` feature): an authenticator whose tokens are role names, for route
//! tests.
//! (The integration tests use the real PostgreSQL token store.)

use crate::auth::{AuthError, Authenticator, Credentials, Principal, Role};
use async_trait::async_trait;

#[derive(Debug)]
pub struct RoleNamedTokens;

#[async_trait]
impl Authenticator for RoleNamedTokens {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<Principal, AuthError> {
        let token = credentials.bearer()?;
        if token == "expired" {
            return Err(AuthError::Expired);
        }
        let role: Role = token
            .parse()
            .map_err(|_| AuthError::Invalid("unknown token".into()))?;
        Ok(Principal {
            subject: format!("test-{role}"),
            role,
            via: "token",
        })
    }
}

/// A state whose callers authenticate with `Bearer viewer|operator|admin`.
pub fn state() -> crate::AppState {
    let mut s = crate::AppState::new(
        "local",
        std::sync::Arc::new(muara_core::metrics::Metrics::new()),
    );
    s.auth = Some(std::sync::Arc::new(RoleNamedTokens));
    s
}
