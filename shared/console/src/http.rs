//! The console's routes: its static page (`/console`, its assets and login settings), `GET /me`,
//! clients and their configuration, KPIs, the audit log, local tokens and the dead-letter
//! queues. Each set is bound to the service it needs, so a host links only what it serves:
//! `muara up` all of them, the console Lambda all but local tokens (users live in Cognito).

use crate::service::{ClientConfig, ClientCreated, ClientList, Kpis, RowDeleted, RowWritten};
use crate::tokens::{TokenIssued, TokenList, TokenRevoked};
use crate::{PgConsole, TokenStore};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use muara_api::answer::{Audit, Reply, body, failed, query, unprocessable};
use muara_api::{ADMIN, Access, OPERATOR, Route, VIEWER};
use muara_core::ports::{AuditEntry, AuditLog, AuditSink, DeadLetters, Principal, Role, Swept};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// A typed answer: the value with this status, or the error's answer.
type Typed<T> = Result<(StatusCode, Json<T>), (StatusCode, Json<Value>)>;

/// `200` with the value, or the error's answer.
fn ok<T: Serialize>(r: muara_core::Result<T>) -> Typed<T> {
    r.map(|v| (StatusCode::OK, Json(v))).map_err(failed)
}

/// `201` with the value, or the error's answer.
fn made<T: Serialize>(r: muara_core::Result<T>) -> Typed<T> {
    r.map(|v| (StatusCode::CREATED, Json(v))).map_err(failed)
}

/// What a host serves of the console.
pub struct ConsoleRoutes {
    /// How the page logs in: `{"auth": "token"}` locally, Cognito's settings in AWS.
    pub login: Value,
    pub console: Arc<PgConsole>,
    pub audit: Arc<dyn AuditSink>,
    /// Local tokens; `None` where users live in an identity provider.
    pub tokens: Option<Arc<TokenStore>>,
    pub dead_letters: Arc<dyn DeadLetters>,
}

impl std::fmt::Debug for ConsoleRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleRoutes")
            .field("login", &self.login)
            .field("tokens", &self.tokens.is_some())
            .finish_non_exhaustive()
    }
}

impl ConsoleRoutes {
    /// The console on `pool`, where users live in an identity provider (no local tokens).
    pub fn without_tokens(
        pool: deadpool_postgres::Pool,
        login: Value,
        dead_letters: Arc<dyn DeadLetters>,
    ) -> Self {
        Self {
            login,
            console: Arc::new(PgConsole::new(pool.clone())),
            audit: Arc::new(crate::PgAudit::new(pool)),
            tokens: None,
            dead_letters,
        }
    }
}

/// Every console route the parts allow.
pub fn routes(parts: ConsoleRoutes) -> Vec<Route> {
    let mut all = pages(parts.login);
    all.extend(configuration(parts.console));
    all.extend(audit_log(parts.audit));
    if let Some(tokens) = parts.tokens {
        all.extend(token_routes(tokens));
    }
    all.extend(dead_letter_routes(parts.dead_letters));
    all
}

// ----------------------------------------------------------------- the page

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The page and who is logged in. The static files and login settings hold no data.
pub fn pages(login: Value) -> Vec<Route> {
    let login = Arc::new(login);
    vec![
        Route::new(
            Method::GET,
            "/console",
            Access::Public,
            login.clone(),
            index,
        ),
        Route::new(
            Method::GET,
            "/console/config.json",
            Access::Public,
            login.clone(),
            login_settings,
        ),
        Route::new(
            Method::GET,
            "/console/{asset}",
            Access::Public,
            login,
            static_file,
        ),
        Route::new(Method::GET, "/me", VIEWER, (), me),
    ]
}

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

fn asset(login: &Value, content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(login)) {
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

async fn index(State(login): State<Arc<Value>>) -> Response {
    asset(&login, "text/html; charset=utf-8", INDEX_HTML)
}

async fn static_file(State(login): State<Arc<Value>>, Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset(&login, "text/javascript; charset=utf-8", APP_JS),
        "app.css" => asset(&login, "text/css; charset=utf-8", APP_CSS),
        "index.html" => asset(&login, "text/html; charset=utf-8", INDEX_HTML),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("the console has no file {name:?}")})),
        )
            .into_response(),
    }
}

async fn login_settings(State(login): State<Arc<Value>>) -> Json<Value> {
    Json((*login).clone())
}

async fn me(Extension(p): Extension<Principal>) -> Json<Value> {
    Json(json!({"subject": p.subject, "role": p.role, "via": p.via}))
}

// ----------------------------------------------------------------- clients and configuration

/// Clients, their configuration tables, and KPIs.
pub fn configuration(console: Arc<PgConsole>) -> Vec<Route> {
    use Method as M;
    let c = console;
    vec![
        Route::new(M::GET, "/clients", VIEWER, c.clone(), clients),
        Route::new(M::POST, "/clients", ADMIN, c.clone(), create_client),
        Route::new(
            M::GET,
            "/clients/{client}/config",
            VIEWER,
            c.clone(),
            config,
        ),
        Route::new(
            M::POST,
            "/clients/{client}/config/{table}",
            ADMIN,
            c.clone(),
            create_row,
        ),
        Route::new(
            M::PUT,
            "/clients/{client}/config/{table}/{id}",
            ADMIN,
            c.clone(),
            update_row,
        ),
        Route::new(
            M::DELETE,
            "/clients/{client}/config/{table}/{id}",
            ADMIN,
            c.clone(),
            delete_row,
        ),
        Route::new(M::GET, "/kpis", VIEWER, c, kpis),
    ]
}

type Console = State<Arc<PgConsole>>;

async fn clients(State(c): Console) -> Typed<ClientList> {
    ok(c.clients().await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    client: String,
}

async fn create_client(
    State(c): Console,
    Extension(actor): Extension<Principal>,
    b: Result<Json<NewClient>, axum::extract::rejection::JsonRejection>,
) -> Typed<ClientCreated> {
    let new = body(b)?;
    made(c.create_client(&actor, &new.client).await)
}

async fn config(State(c): Console, Path(client): Path<String>) -> Typed<ClientConfig> {
    ok(c.config(&client).await)
}

type JsonBody = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

async fn create_row(
    State(c): Console,
    Extension(actor): Extension<Principal>,
    Path((client, table)): Path<(String, String)>,
    b: JsonBody,
) -> Typed<RowWritten> {
    let row = body(b)?;
    made(c.create_row(&actor, &client, &table, row).await)
}

async fn update_row(
    State(c): Console,
    Extension(actor): Extension<Principal>,
    Path((client, table, id)): Path<(String, String, String)>,
    b: JsonBody,
) -> Typed<RowWritten> {
    let row = body(b)?;
    ok(c.update_row(&actor, &client, &table, &id, row).await)
}

async fn delete_row(
    State(c): Console,
    Extension(actor): Extension<Principal>,
    Path((client, table, id)): Path<(String, String, String)>,
) -> Typed<RowDeleted> {
    ok(c.delete_row(&actor, &client, &table, &id).await)
}

#[derive(Debug, Deserialize)]
struct KpiParams {
    client: Option<String>,
    days: Option<i64>,
}

async fn kpis(
    State(c): Console,
    q: Result<Query<KpiParams>, axum::extract::rejection::QueryRejection>,
) -> Typed<Kpis> {
    let p = query(q)?;
    let days = p.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(unprocessable("days must be between 1 and 366"));
    }
    let client = p.client.as_deref().filter(|c| !c.is_empty());
    ok(c.kpis(client, days).await)
}

// ----------------------------------------------------------------- audit and tokens

/// `GET /audit`: the newest changes.
pub fn audit_log(sink: Arc<dyn AuditSink>) -> Vec<Route> {
    vec![Route::new(Method::GET, "/audit", ADMIN, sink, entries)]
}

#[derive(Debug, Deserialize)]
struct LimitParams {
    limit: Option<i64>,
}

async fn entries(
    State(sink): State<Arc<dyn AuditSink>>,
    q: Result<Query<LimitParams>, axum::extract::rejection::QueryRejection>,
) -> Typed<AuditLog> {
    let limit = query(q)?.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(unprocessable("limit must be between 1 and 1000"));
    }
    ok(sink.entries(limit).await)
}

/// Local API tokens (not served in AWS, where users live in Cognito).
pub fn token_routes(tokens: Arc<TokenStore>) -> Vec<Route> {
    use Method as M;
    vec![
        Route::new(M::GET, "/tokens", ADMIN, tokens.clone(), list_tokens),
        Route::new(M::POST, "/tokens", ADMIN, tokens.clone(), create_token),
        Route::new(M::DELETE, "/tokens/{id}", ADMIN, tokens, revoke_token),
    ]
}

type Tokens = State<Arc<TokenStore>>;

async fn list_tokens(State(t): Tokens) -> Typed<TokenList> {
    ok(t.list_tokens().await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    ttl_days: Option<u32>,
}

async fn create_token(
    State(t): Tokens,
    Extension(actor): Extension<Principal>,
    b: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, (StatusCode, Json<Value>)> {
    let new = body(b)?;
    let role = new
        .role
        .parse::<Role>()
        .map_err(|e| unprocessable(e.to_string()))?;
    let issued = t
        .create_token(&actor, &new.name, role, new.ttl_days)
        .await
        .map(|c| Issued {
            row: c.row,
            token: c.token,
        });
    // The answer carries a secret: no cache may keep it.
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        made(issued),
    )
        .into_response())
}

/// `POST /tokens`: the token's row and, this once, its secret.
#[derive(Serialize)]
struct Issued {
    #[serde(flatten)]
    row: TokenIssued,
    token: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("row", &self.row)
            .field("token", &"<secret>")
            .finish()
    }
}

/// `DELETE /tokens/{id}`.
#[derive(Debug, Serialize)]
struct Revoked {
    revoked: TokenRevoked,
}

async fn revoke_token(
    State(t): Tokens,
    Extension(actor): Extension<Principal>,
    Path(id): Path<String>,
) -> Typed<Revoked> {
    let id = id
        .parse::<i64>()
        .map_err(|_| unprocessable(format!("token id {id:?} is not a number")))?;
    ok(t.revoke_token(&actor, id)
        .await
        .map(|revoked| Revoked { revoked }))
}

// ----------------------------------------------------------------- dead-letter queues

/// `GET /dead-letters` (counts), `GET /dead-letters/{queue}` (peek),
/// `POST /dead-letters/{queue}/redrive` and `POST /dead-letters/{queue}/discard`. The
/// PostgreSQL queue serves them locally, SQS in AWS.
pub fn dead_letter_routes(dead_letters: Arc<dyn DeadLetters>) -> Vec<Route> {
    use Method as M;
    let d = dead_letters;
    vec![
        Route::new(M::GET, "/dead-letters", VIEWER, d.clone(), dl_list),
        Route::new(M::GET, "/dead-letters/{queue}", VIEWER, d.clone(), dl_peek),
        Route::new(
            M::POST,
            "/dead-letters/{queue}/redrive",
            OPERATOR,
            d.clone(),
            dl_redrive,
        ),
        Route::new(
            M::POST,
            "/dead-letters/{queue}/discard",
            OPERATOR,
            d,
            dl_discard,
        ),
    ]
}

type DeadLetterQueues = State<Arc<dyn DeadLetters>>;

async fn dl_list(State(dl): DeadLetterQueues) -> Reply {
    let q = dl.queues().await.map_err(failed)?;
    Ok((StatusCode::OK, Json(json!({"queues": q}))))
}

#[derive(Debug, Deserialize)]
struct PeekParams {
    limit: Option<usize>,
}

async fn dl_peek(
    State(dl): DeadLetterQueues,
    Path(queue): Path<String>,
    q: Result<Query<PeekParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let limit = query(q)?.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(unprocessable("limit must be between 1 and 100"));
    }
    let m = dl.peek(&queue, limit).await.map_err(failed)?;
    Ok((StatusCode::OK, Json(json!({"queue": queue, "messages": m}))))
}

/// Which messages: `{"ids": [...]}`, or `{"all": true}` for a whole queue (never implied).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Which {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
}

/// `Some(ids)` or `None` for all; anything unclear is a 422.
fn which(
    b: Result<Json<Which>, axum::extract::rejection::JsonRejection>,
    all_allowed: bool,
) -> Result<Option<Vec<String>>, (StatusCode, Json<Value>)> {
    let w = body(b)?;
    match (w.ids, w.all) {
        (Some(ids), false) if !ids.is_empty() => Ok(Some(ids)),
        (None, true) if all_allowed => Ok(None),
        _ if all_allowed => Err(unprocessable(
            "name the messages (\"ids\": [...], not empty) or ask for {\"all\": true}",
        )),
        _ => Err(unprocessable(
            "name the messages to delete (\"ids\": [...], not empty)",
        )),
    }
}

/// What a sweep did, as recorded and answered.
struct Sweep<'a> {
    action: &'static str,
    queue: &'a str,
    asked: Option<&'a [String]>,
    count_key: &'static str,
}

/// Records what was done (also when it stopped early), then answers.
async fn swept(
    audit: &Audit,
    actor: Principal,
    sweep: Sweep<'_>,
    result: muara_core::Result<Swept>,
) -> Reply {
    let s = result.map_err(failed)?;
    let ids: Vec<&str> = s.done.iter().map(|d| d.id.as_str()).collect();
    let answer = json!({sweep.count_key: ids.len(), "ids": ids, "stopped": s.stopped});
    audit
        .record(AuditEntry {
            actor,
            action: format!("dead_letters.{}", sweep.action),
            target: format!("queue {}", sweep.queue),
            // A discard keeps the bodies: they are the only copy left.
            before: Some(json!({"asked": sweep.asked, "messages": s.done})),
            after: Some(answer.clone()),
        })
        .await;
    Ok((StatusCode::OK, Json(answer)))
}

async fn dl_redrive(
    State(dl): DeadLetterQueues,
    Extension(actor): Extension<Principal>,
    Extension(audit): Extension<Audit>,
    Path(queue): Path<String>,
    b: Result<Json<Which>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let ids = which(b, true)?;
    let result = dl.redrive(&queue, ids.as_deref()).await;
    let sweep = Sweep {
        action: "redrive",
        queue: &queue,
        asked: ids.as_deref(),
        count_key: "moved",
    };
    swept(&audit, actor, sweep, result).await
}

async fn dl_discard(
    State(dl): DeadLetterQueues,
    Extension(actor): Extension<Principal>,
    Extension(audit): Extension<Audit>,
    Path(queue): Path<String>,
    b: Result<Json<Which>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    // `which` answers `None` (all) only when all is allowed: never here.
    let ids = which(b, false)?.unwrap_or_default();
    let result = dl.discard(&queue, &ids).await;
    let sweep = Sweep {
        action: "discard",
        queue: &queue,
        asked: Some(&ids),
        count_key: "discarded",
    };
    swept(&audit, actor, sweep, result).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Nothing;

    #[async_trait::async_trait]
    impl DeadLetters for Nothing {
        async fn queues(&self) -> muara_core::Result<Vec<muara_core::ports::DeadLetterQueue>> {
            Ok(vec![])
        }
        async fn peek(
            &self,
            _: &str,
            _: usize,
        ) -> muara_core::Result<Vec<muara_core::ports::DeadLetter>> {
            Ok(vec![])
        }
        async fn redrive(&self, _: &str, _: Option<&[String]>) -> muara_core::Result<Swept> {
            panic!("a redrive reached the port")
        }
        async fn discard(&self, _: &str, _: &[String]) -> muara_core::Result<Swept> {
            panic!("a discard reached the port")
        }
    }

    fn app(routes: Vec<Route>) -> axum::Router {
        muara_api::app(muara_api::testing::state(), routes)
    }

    /// A redrive or discard must say which messages: a whole queue is never implied.
    #[tokio::test]
    async fn the_messages_are_named_or_all_is_asked_for_explicitly() {
        for (path, body, ct) in [
            ("/dead-letters/funnel/redrive", "", None),
            (
                "/dead-letters/funnel/redrive",
                "ids=1",
                Some("application/x-www-form-urlencoded"),
            ),
            (
                "/dead-letters/funnel/redrive",
                "{}",
                Some("application/json"),
            ),
            (
                "/dead-letters/funnel/redrive",
                r#"{"ids": null}"#,
                Some("application/json"),
            ),
            (
                "/dead-letters/funnel/redrive",
                r#"{"ids": []}"#,
                Some("application/json"),
            ),
            (
                "/dead-letters/funnel/redrive",
                r#"{"ids": ["a"], "all": true}"#,
                Some("application/json"),
            ),
            (
                "/dead-letters/funnel/discard",
                r#"{"all": true}"#,
                Some("application/json"),
            ),
        ] {
            let mut req = Request::post(path).header("authorization", "Bearer operator");
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            let res = app(dead_letter_routes(Arc::new(Nothing)))
                .oneshot(req.body(Body::from(body)).unwrap())
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {body}"
            );
        }
    }

    #[tokio::test]
    async fn the_console_is_served_with_a_strict_content_security_policy() {
        let get = |path: &'static str| async move {
            app(pages(json!({"auth": "token"})))
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap()
        };
        for path in ["/console", "/console/app.js", "/console/app.css"] {
            let res = get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let csp = res.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
            assert_eq!(res.headers()["x-frame-options"], "DENY");
        }
        let cognito = content_security_policy(
            &json!({"auth": "cognito", "region": "ap-southeast-3", "client_id": "x"}),
        );
        assert!(
            cognito
                .contains("connect-src 'self' https://cognito-idp.ap-southeast-3.amazonaws.com;")
        );
        let hostile = content_security_policy(&json!({"region": "x; script-src *"}));
        assert!(!hostile.contains("script-src *"), "{hostile}");
        assert_eq!(
            get("/console/../../etc/passwd").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
