//! Pipeline D's routes through the [`FunnelApi`] port: `POST`/`GET /webhook/{channel}`,
//! `GET /funnel-report`, `GET /funnel-report.csv` (streamed), `GET`/`PUT /keywords`.

use crate::AppState;
use crate::auth::Principal;
use crate::console::{AuditEntry, audit};
use crate::events::failed;
use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Largest webhook or keyword body accepted.
pub const FUNNEL_BODY_LIMIT: usize = 1 << 20;

#[async_trait]
pub trait FunnelApi: Send + Sync {
    /// `POST /webhook/{channel}`: status and JSON answer.
    async fn webhook(&self, channel: &str, signature: Option<&str>, body: &[u8]) -> (u16, Value);
    /// WhatsApp's verification `GET`: status and plain-text body (the challenge).
    fn verify(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> (u16, String);
    async fn report(&self, params: &BTreeMap<String, String>) -> muara_core::Result<Value>;
    /// The funnel rows as CSV chunks, header first.
    async fn export(
        &self,
        params: &BTreeMap<String, String>,
    ) -> muara_core::Result<BoxStream<'static, muara_core::Result<Bytes>>>;
    async fn keywords(&self) -> muara_core::Result<Value>;
    /// `PUT /keywords`: replaces the whole set; status and JSON answer.
    async fn put_keywords(&self, body: &[u8]) -> (u16, Value);
}

fn missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "the funnel is not served here"})),
    )
        .into_response()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) async fn webhook(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                e.status(),
                Json(json!({"status": "rejected", "error": e.body_text()})),
            )
                .into_response();
        }
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let (code, answer) = funnel.webhook(&channel, signature, &body).await;
    (status(code), Json(answer)).into_response()
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    Path(_channel): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    let get = |k: &str| q.get(k).map(String::as_str);
    let (code, text) = funnel.verify(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
    );
    (
        status(code),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

pub(crate) async fn report(
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    match funnel.report(&q).await {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => failed(e).into_response(),
    }
}

pub(crate) async fn export(
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    match funnel.export(&q).await {
        Ok(stream) => (
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
            .into_response(),
        Err(e) => failed(e).into_response(),
    }
}

pub(crate) async fn keywords(State(state): State<AppState>) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    match funnel.keywords().await {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => failed(e).into_response(),
    }
}

pub(crate) async fn put_keywords(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    body: Bytes,
) -> Response {
    let Some(funnel) = state.funnel.clone() else {
        return missing();
    };
    let before = funnel.keywords().await.ok();
    let (code, v) = funnel.put_keywords(&body).await;
    if code < 300 {
        let after = funnel.keywords().await.ok();
        audit(
            &state,
            AuditEntry {
                actor,
                action: "keywords.replace".into(),
                target: "funnel keywords".into(),
                before,
                after,
            },
        )
        .await;
    }
    (status(code), Json(v)).into_response()
}
