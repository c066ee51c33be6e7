//! Serving the HTTP API in Lambda behind API Gateway's HTTP API: the JWT authorizer's verified
//! claims become [`GatewayClaims`] on each request, and the callers' role comes from them.

use axum::extract::Request;
use lambda_http::request::RequestContext;
use muara_api::AppState;
use muara_api::auth::{GatewayClaims, GatewayJwt};
use std::sync::Arc;

/// The claims API Gateway's JWT authorizer put on the request, if any.
pub fn claims_of(req: &Request) -> Option<GatewayClaims> {
    match req.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|j| GatewayClaims(j.claims.clone())),
        _ => None,
    }
}

/// Authentication as configured: `MUARA_AUTH=jwt` (the only mode in Lambda). Anything else is
/// a configuration error: a Lambda never serves its routes without it.
pub fn configure(state: &mut AppState) -> muara_core::Result<()> {
    match muara_core::config::required("MUARA_AUTH")?.as_str() {
        "jwt" => state.auth = Some(Arc::new(GatewayJwt)),
        other => {
            return Err(muara_core::Error::config(format!(
                "MUARA_AUTH={other:?}: only \"jwt\" (API Gateway's JWT authorizer) is served in Lambda"
            )));
        }
    }
    state.allowed_origins = muara_core::config::list("MUARA_CONSOLE_ORIGIN");
    Ok(())
}

/// How the console logs in here: Cognito's settings when `MUARA_COGNITO_REGION` and
/// `MUARA_COGNITO_CLIENT_ID` are set.
pub fn login_settings() -> serde_json::Value {
    match (
        muara_core::config::optional("MUARA_COGNITO_REGION"),
        muara_core::config::optional("MUARA_COGNITO_CLIENT_ID"),
    ) {
        (Some(region), Some(client_id)) => {
            serde_json::json!({"auth": "cognito", "region": region, "client_id": client_id})
        }
        _ => serde_json::json!({"auth": "token"}),
    }
}

/// The router with the authorizer's claims (and only those) on every request.
pub fn router(state: AppState, routes: Vec<muara_api::Route>) -> axum::Router {
    muara_api::app(state, routes).layer(axum::middleware::map_request(
        |mut req: Request| async move {
            // Never trust a caller-supplied value: only what the Lambda event carries.
            req.extensions_mut().remove::<GatewayClaims>();
            if let Some(c) = claims_of(&req) {
                req.extensions_mut().insert(c);
            }
            req
        },
    ))
}

/// The state a pipeline's routes are served with in Lambda: the database probe, and the audit
/// log when the routes write one.
pub fn state(
    pool: &muara_db::Pool,
    audit: Option<Arc<dyn muara_core::ports::AuditSink>>,
) -> AppState {
    let mut state = AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
        .with_probe(Arc::new(muara_db::pool::DbProbe(pool.clone())));
    state.audit = audit;
    state
}

/// Runs the router as the Lambda's handler, authentication configured from the environment.
pub async fn serve(
    mut state: AppState,
    routes: Vec<muara_api::Route>,
) -> Result<(), lambda_http::Error> {
    configure(&mut state)?;
    lambda_http::run(router(state, routes)).await
}
