//! Pipeline D's routes: `POST`/`GET /webhook/{channel}`, `GET /funnel-report`,
//! `GET /funnel-report.csv` (streamed), `GET`/`PUT /keywords`. What a delivery came to
//! ([`Received`]) becomes a status code here, and only here.

use crate::ingest::{Received, Verified};
use crate::service::{KeywordSet, Service};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use muara_api::answer::{Audit, Failure, Reply, answer, unprocessable};
use muara_api::{ADMIN, Access, Route, VIEWER};
use muara_core::ErrorKind;
use muara_core::ports::{AuditEntry, Principal};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest webhook or keyword body accepted.
pub const FUNNEL_BODY_LIMIT: usize = 1 << 20;

/// The funnel's routes. Webhooks prove themselves with signatures, not tokens.
pub fn routes(service: Arc<Service>) -> Vec<Route> {
    use Method as M;
    vec![
        Route::new(
            M::POST,
            "/webhook/{channel}",
            Access::Public,
            service.clone(),
            webhook,
        )
        .body_limit(FUNNEL_BODY_LIMIT),
        Route::new(
            M::GET,
            "/webhook/{channel}",
            Access::Public,
            service.clone(),
            verify,
        ),
        Route::new(M::GET, "/funnel-report", VIEWER, service.clone(), report),
        Route::new(
            M::GET,
            "/funnel-report.csv",
            VIEWER,
            service.clone(),
            export,
        ),
        Route::new(M::GET, "/keywords", VIEWER, service.clone(), keywords),
        Route::new(M::PUT, "/keywords", ADMIN, service, put_keywords).body_limit(FUNNEL_BODY_LIMIT),
    ]
}

/// A delivery's answer. A message another delivery still handles is not known to be stored,
/// so the sender is asked to come back (`503`); its new messages are queued and will answer
/// as duplicates then.
pub fn render(received: Received) -> (StatusCode, Json<Value>) {
    match received {
        Received::UnknownChannel(e) => (StatusCode::NOT_FOUND, Json(json!({"error": e}))),
        Received::BadSignature(e) => (StatusCode::UNAUTHORIZED, Json(json!({"error": e}))),
        Received::Unavailable(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "retry", "error": e})),
        ),
        Received::NotJson { error, kept } => (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "rejected", "error": error, "kept": kept})),
        ),
        Received::UnknownShape { reason, kept } => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "kept", "reason": reason, "kept": kept})),
        ),
        Received::Messages(t) => {
            let (code, status) = if t.in_progress > 0 {
                (StatusCode::SERVICE_UNAVAILABLE, "retry")
            } else {
                (StatusCode::OK, "ok")
            };
            (
                code,
                Json(json!({
                    "status": status,
                    "accepted": t.accepted,
                    "duplicates": t.duplicates,
                    "in_progress": t.in_progress,
                    "statuses": t.statuses,
                    "rejected": t.refused,
                })),
            )
        }
    }
}

async fn webhook(
    State(service): State<Arc<Service>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> (StatusCode, Json<Value>) {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                e.status(),
                Json(json!({"status": "rejected", "error": e.body_text()})),
            );
        }
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    render(service.ingest.receive(&channel, signature, &body).await)
}

async fn verify(
    State(service): State<Arc<Service>>,
    Path(_channel): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (code, text) = match service.ingest.verify(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
    ) {
        Verified::Challenge(c) => (StatusCode::OK, c),
        Verified::Refused(why) => (StatusCode::FORBIDDEN, why.to_string()),
    };
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn report(
    State(service): State<Arc<Service>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Reply {
    answer(service.report(&q).await)
}

async fn export(
    State(service): State<Arc<Service>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Failure> {
    let stream = service.export(&q).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"funnel.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn keywords(State(service): State<Arc<Service>>) -> Reply {
    answer(service.keywords().await)
}

/// The keyword list as the audit entry keeps it.
fn to_json(v: impl serde::Serialize) -> muara_core::Result<Value> {
    serde_json::to_value(v).map_err(|e| muara_core::Error::fatal(format!("answer not JSON: {e}")))
}

async fn put_keywords(
    State(service): State<Arc<Service>>,
    Extension(actor): Extension<Principal>,
    Extension(audit): Extension<Audit>,
    body: Bytes,
) -> Reply {
    let set: KeywordSet = serde_json::from_slice(&body).map_err(|e| {
        unprocessable(format!(
            "expected {{\"keywords\": [{{\"kind\", \"keyword\", \"channel\"?}}]}}: {e}"
        ))
    })?;
    let before = service.keywords().await.and_then(to_json).ok();
    match service.put_keywords(set).await {
        Ok(n) => {
            audit
                .record(AuditEntry {
                    actor,
                    action: "keywords.replace".into(),
                    target: "funnel keywords".into(),
                    before,
                    after: service.keywords().await.and_then(to_json).ok(),
                })
                .await;
            Ok((
                StatusCode::OK,
                Json(json!({"status": "replaced", "keywords": n})),
            ))
        }
        Err(e) if e.kind() == ErrorKind::Invalid => Err(unprocessable(e.message())),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.chain()})),
        )),
    }
}
