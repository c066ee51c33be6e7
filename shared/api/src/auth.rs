//! Who is calling, and may they: roles, principals, and the guard every route passes.
//!
//! - [`Role`]: `viewer` < `operator` < `admin`; a higher role may do all a lower one may.
//! - [`Access`]: what a route needs, declared beside the route itself (see `routes`), so a
//!   route cannot exist without one.
//! - [`Authenticator`]: the port that turns a request's credentials into a [`Principal`]:
//!   hashed local tokens under `muara up`, API Gateway's verified JWT claims in AWS
//!   ([`GatewayJwt`]).
//! - [`guard`]: the per-route middleware: 401 without valid credentials, 403 for a role too
//!   low or a state-changing request from a foreign origin; the principal is handed to the
//!   handler as a request extension.

use crate::AppState;
use async_trait::async_trait;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use muara_core::ports::{AuthError, Authenticator, Credentials, Principal, Role};
use serde_json::json;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials: health, signed webhooks and the console's static files only.
    Public,
    /// At least this role.
    Role(Role),
}

/// The credentials a request presents, as the [`Authenticator`] port reads them.
pub fn credentials(parts: &Parts) -> Credentials<'_> {
    Credentials {
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| ())),
        verified_claims: parts.extensions.get::<GatewayClaims>().map(|c| &c.0),
    }
}

/// The claims API Gateway's JWT authorizer verified, put on the request by the Lambda host
/// (`muara_lambda::http`). Never built from anything the caller sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayClaims(pub std::collections::HashMap<String, String>);

/// AWS: the HTTP API's JWT authorizer has checked signature, issuer, audience and expiry; the
/// function maps the `cognito:groups` claim to a role (the highest group wins).
#[derive(Debug, Clone, Copy, Default)]
pub struct GatewayJwt;

/// Parses the groups claim, which API Gateway flattens to `[a b]` (or `a,b`, or JSON).
pub fn groups_of(claim: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(claim) {
        return list;
    }
    claim
        .trim_matches(|c| c == '[' || c == ']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|g| g.trim_matches('"').to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

/// The highest muara role among the groups, if any.
pub fn role_of_groups(groups: &[String]) -> Option<Role> {
    groups.iter().filter_map(|g| g.parse::<Role>().ok()).max()
}

#[async_trait]
impl Authenticator for GatewayJwt {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<Principal, AuthError> {
        let claims = credentials.verified_claims.ok_or_else(|| {
            // Without the authorizer's claims the request did not come through a JWT route.
            if credentials.authorization.is_some() {
                AuthError::Invalid("no verified claims: the route has no JWT authorizer".into())
            } else {
                AuthError::Missing
            }
        })?;
        let groups = groups_of(
            claims
                .get("cognito:groups")
                .map(String::as_str)
                .unwrap_or(""),
        );
        let role = role_of_groups(&groups).ok_or_else(|| AuthError::NoRole(groups.join(",")))?;
        let subject = ["cognito:username", "username", "email", "sub"]
            .iter()
            .find_map(|k| claims.get(*k))
            .cloned()
            .ok_or_else(|| AuthError::Invalid("the token names no user".into()))?;
        Ok(Principal {
            subject,
            role,
            via: "jwt",
        })
    }
}

fn deny(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// True when a state-changing request comes from a page of another origin. Browsers send
/// `Origin` on cross-site POST/PUT/DELETE; callers without one (curl, the CLI) are not browsers.
fn foreign_origin(state: &AppState, parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return false;
    };
    // An Origin that is not ASCII is no origin this API serves.
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if state.allowed_origins.iter().any(|o| o == origin) {
        return false;
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host)
}

/// The per-route middleware: authenticates, checks the role, refuses cross-origin changes.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let Access::Role(needed) = access else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let Some(auth) = state.auth.clone() else {
        tracing::error!("a guarded route was called on a host without an authenticator");
        return deny(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no authenticator is configured on this host".into(),
        );
    };
    let principal = match auth.authenticate(&credentials(&parts)).await {
        Ok(p) => p,
        Err(AuthError::Unavailable(e)) => {
            // The cause is for the logs, not for a caller who is not yet known.
            tracing::error!(error = %e, "credentials could not be checked");
            return deny(
                StatusCode::SERVICE_UNAVAILABLE,
                "credentials cannot be checked now; try again".into(),
            );
        }
        Err(e @ AuthError::NoRole(_)) => return deny(StatusCode::FORBIDDEN, e.to_string()),
        Err(e) => {
            tracing::info!(path = %parts.uri.path(), reason = %e, "request not authenticated");
            let mut res = deny(StatusCode::UNAUTHORIZED, e.to_string());
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"muara\""),
            );
            return res;
        }
    };
    if principal.role < needed {
        tracing::info!(subject = %principal.subject, role = %principal.role, %needed,
            path = %parts.uri.path(), "role too low");
        return deny(
            StatusCode::FORBIDDEN,
            format!(
                "{} {} needs the {needed} role; {} is {}",
                parts.method,
                parts.uri.path(),
                principal.subject,
                principal.role
            ),
        );
    }
    if foreign_origin(&state, &parts) {
        tracing::warn!(subject = %principal.subject, path = %parts.uri.path(),
            "cross-origin change refused");
        return deny(StatusCode::FORBIDDEN, "cross-origin request refused".into());
    }
    parts.extensions.insert(principal);
    parts
        .extensions
        .insert(crate::answer::Audit(state.audit.clone()));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claims_in_every_shape_api_gateway_uses() {
        assert_eq!(groups_of("[admin viewer]"), vec!["admin", "viewer"]);
        assert_eq!(groups_of("[\"operator\"]"), vec!["operator"]);
        assert_eq!(groups_of("viewer,operator"), vec!["viewer", "operator"]);
        assert!(groups_of("").is_empty());
        assert_eq!(
            role_of_groups(&groups_of("[viewer admin ops]")),
            Some(Role::Admin)
        );
        assert_eq!(role_of_groups(&groups_of("[staff]")), None);
    }
}
