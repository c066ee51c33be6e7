//! The operator console: its static files, `GET /me`, and the routes behind the pages that no
//! pipeline port serves — clients, batch configuration, KPIs, the audit log and local tokens —
//! through the [`ConsoleApi`], [`AuditSink`] and [`Tokens`] ports.

use crate::AppState;
use crate::answer::failed;
use crate::auth::{Principal, Role};
use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
pub use muara_core::ports::{AuditEntry, AuditSink};
use serde::Deserialize;
use serde_json::{Value, json};

/// Clients, their configuration tables, and KPIs (PostgreSQL `tools` schema).
#[async_trait]
pub trait ConsoleApi: Send + Sync {
    async fn clients(&self) -> muara_core::Result<Value>;
    async fn create_client(&self, actor: &Principal, client: &str) -> muara_core::Result<Value>;
    /// Every configuration table of one client, with the schema the forms are drawn from.
    async fn config(&self, client: &str) -> muara_core::Result<Value>;
    async fn create_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        row: Value,
    ) -> muara_core::Result<Value>;
    async fn update_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
        row: Value,
    ) -> muara_core::Result<Value>;
    async fn delete_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
    ) -> muara_core::Result<Value>;
    /// Runs, success rate, durations and rows loaded per day.
    async fn kpis(&self, client: Option<&str>, days: i64) -> muara_core::Result<Value>;
}

/// Local API tokens (hashed at rest). In AWS users live in Cognito and this is not served.
#[async_trait]
pub trait Tokens: Send + Sync {
    async fn list(&self) -> muara_core::Result<Value>;
    /// Returns the secret once, with the token's row.
    async fn create(
        &self,
        actor: &Principal,
        name: &str,
        role: Role,
        ttl_days: Option<u32>,
    ) -> muara_core::Result<Value>;
    async fn revoke(&self, actor: &Principal, id: i64) -> muara_core::Result<Value>;
}

/// Records a change made through a pipeline port. A change is done by then; a failure to
/// record it is logged loudly rather than reported as a failed change.
pub(crate) async fn audit(state: &AppState, entry: AuditEntry) {
    let Some(sink) = state.audit.clone() else {
        tracing::warn!(action = %entry.action, "no audit log on this host: change not recorded");
        return;
    };
    let action = entry.action.clone();
    if let Err(e) = sink.record(entry).await {
        tracing::error!(%action, error = %e.chain(), "the change could not be written to the audit log");
    }
}

fn missing(what: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("{what} not served here")})),
    )
}

pub(crate) fn unprocessable(message: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": message})),
    )
}

fn answer(r: muara_core::Result<Value>, created: bool) -> (StatusCode, Json<Value>) {
    match r {
        Ok(v) if created => (StatusCode::CREATED, Json(v)),
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => failed(e),
    }
}

// ----------------------------------------------------------------- static files

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// Scripts and styles from this origin only; nothing inline, nothing framed. The page may
/// call this API and, when it logs in with Cognito, that region's Cognito endpoint.
pub fn content_security_policy(login: &Value) -> String {
    let cognito = login["region"]
        .as_str()
        .filter(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .map(|r| format!(" https://cognito-idp.{r}.amazonaws.com"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{cognito}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&state.login)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

pub(crate) async fn index(State(state): State<AppState>) -> Response {
    asset(&state, "text/html; charset=utf-8", INDEX_HTML)
}

pub(crate) async fn static_file(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    match name.as_str() {
        "app.js" => asset(&state, "text/javascript; charset=utf-8", APP_JS),
        "app.css" => asset(&state, "text/css; charset=utf-8", APP_CSS),
        "index.html" => asset(&state, "text/html; charset=utf-8", INDEX_HTML),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("the console has no file {name:?}")})),
        )
            .into_response(),
    }
}

/// How the console logs in: `{"auth": "token"}` locally, Cognito's settings in AWS.
pub(crate) async fn login_settings(State(state): State<AppState>) -> Json<Value> {
    Json(state.login.clone())
}

pub(crate) async fn me(Extension(p): Extension<Principal>) -> Json<Value> {
    Json(json!({"subject": p.subject, "role": p.role, "via": p.via}))
}

// ----------------------------------------------------------------- clients and configuration

/// A handler's answer: `Err` carries the refusal (status and `{"error"}`), so `?` works.
pub(crate) type Reply = Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)>;

/// The request body, or a 422 naming what is wrong with it.
fn body<T>(
    b: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, (StatusCode, Json<Value>)> {
    b.map(|Json(v)| v).map_err(|e| unprocessable(e.body_text()))
}

/// The query parameters, or a 422.
pub(crate) fn query<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, (StatusCode, Json<Value>)> {
    q.map(|Query(v)| v)
        .map_err(|e| unprocessable(e.body_text()))
}

pub(crate) fn port<T: ?Sized>(
    p: &Option<std::sync::Arc<T>>,
    what: &str,
) -> Result<std::sync::Arc<T>, (StatusCode, Json<Value>)> {
    p.clone().ok_or_else(|| missing(what))
}

const NO_TOKENS: &str = "tokens are (users are managed by the identity provider)";

pub(crate) async fn clients(State(state): State<AppState>) -> Reply {
    let c = port(&state.console, "clients are")?;
    Ok(answer(c.clients().await, false))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClient {
    client: String,
}

pub(crate) async fn create_client(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    b: Result<Json<NewClient>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let c = port(&state.console, "clients are")?;
    let new = body(b)?;
    Ok(answer(c.create_client(&actor, &new.client).await, true))
}

pub(crate) async fn config(State(state): State<AppState>, Path(client): Path<String>) -> Reply {
    let c = port(&state.console, "configuration is")?;
    Ok(answer(c.config(&client).await, false))
}

type JsonBody = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

pub(crate) async fn create_row(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path((client, table)): Path<(String, String)>,
    b: JsonBody,
) -> Reply {
    let c = port(&state.console, "configuration is")?;
    let row = body(b)?;
    Ok(answer(
        c.create_row(&actor, &client, &table, row).await,
        true,
    ))
}

pub(crate) async fn update_row(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path((client, table, id)): Path<(String, String, String)>,
    b: JsonBody,
) -> Reply {
    let c = port(&state.console, "configuration is")?;
    let row = body(b)?;
    Ok(answer(
        c.update_row(&actor, &client, &table, &id, row).await,
        false,
    ))
}

pub(crate) async fn delete_row(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path((client, table, id)): Path<(String, String, String)>,
) -> Reply {
    let c = port(&state.console, "configuration is")?;
    Ok(answer(
        c.delete_row(&actor, &client, &table, &id).await,
        false,
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct KpiParams {
    client: Option<String>,
    days: Option<i64>,
}

pub(crate) async fn kpis(
    State(state): State<AppState>,
    q: Result<Query<KpiParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let c = port(&state.console, "KPIs are")?;
    let p = query(q)?;
    let days = p.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(unprocessable("days must be between 1 and 366".into()));
    }
    let client = p.client.as_deref().filter(|c| !c.is_empty());
    Ok(answer(c.kpis(client, days).await, false))
}

// ----------------------------------------------------------------- audit and tokens

#[derive(Debug, Deserialize)]
pub(crate) struct LimitParams {
    limit: Option<i64>,
}

pub(crate) async fn audit_log(
    State(state): State<AppState>,
    q: Result<Query<LimitParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let sink = port(&state.audit, "the audit log is")?;
    let limit = query(q)?.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(unprocessable("limit must be between 1 and 1000".into()));
    }
    Ok(answer(sink.entries(limit).await, false))
}

pub(crate) async fn tokens(State(state): State<AppState>) -> Reply {
    let t = port(&state.tokens, NO_TOKENS)?;
    Ok(answer(t.list().await, false))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    ttl_days: Option<u32>,
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    b: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, (StatusCode, Json<Value>)> {
    let t = port(&state.tokens, NO_TOKENS)?;
    let new = body(b)?;
    let role = new
        .role
        .parse::<Role>()
        .map_err(|e| unprocessable(e.to_string()))?;
    let made = answer(t.create(&actor, &new.name, role, new.ttl_days).await, true);
    // The answer carries a secret: no cache may keep it.
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        made,
    )
        .into_response())
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(id): Path<String>,
) -> Reply {
    let t = port(&state.tokens, NO_TOKENS)?;
    let id = id
        .parse::<i64>()
        .map_err(|_| unprocessable(format!("token id {id:?} is not a number")))?;
    Ok(answer(t.revoke(&actor, id).await, false))
}
