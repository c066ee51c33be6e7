//! Pipeline C's routes: `POST /publish`, `GET /stats`, `GET /events`, through the
//! [`EventsApi`] port (the HTTP layer never links the aggregator's storage).

use crate::AppState;
use crate::batches::status_of;
use async_trait::async_trait;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest `POST /publish` body; larger ones are answered `413` before they are read whole.
pub const PUBLISH_BODY_LIMIT: usize = 1 << 20;

#[async_trait]
pub trait EventsApi: Send + Sync {
    /// The publish answer: HTTP status and JSON body.
    async fn publish(&self, body: &[u8]) -> (u16, Value);
    async fn stats(&self, uptime_seconds: u64) -> muara_core::Result<Value>;
    async fn events(
        &self,
        topic: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> muara_core::Result<Value>;
}

fn missing() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "events are not served here"})),
    )
}

pub(crate) fn failed(e: muara_core::Error) -> (StatusCode, Json<Value>) {
    (
        status_of(e.kind()),
        Json(json!({"error": e.chain(), "error_type": e.kind().error_type()})),
    )
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> (StatusCode, Json<Value>) {
    let Some(events) = state.events.clone() else {
        return missing();
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            return (
                status,
                Json(
                    json!({"status": "rejected", "error": if status == StatusCode::PAYLOAD_TOO_LARGE {
                        format!("the body is larger than {PUBLISH_BODY_LIMIT} bytes")
                    } else {
                        e.body_text()
                    }}),
                ),
            );
        }
    };
    let (status, v) = events.publish(&body).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(v),
    )
}

pub(crate) async fn stats(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let Some(events) = state.events.clone() else {
        return missing();
    };
    match events.stats(state.started.elapsed().as_secs()).await {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsParams {
    topic: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> (StatusCode, Json<Value>) {
    let Some(events) = state.events.clone() else {
        return missing();
    };
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.body_text()})),
            );
        }
    };
    match events
        .events(p.topic.as_deref(), p.limit, p.cursor.as_deref())
        .await
    {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => failed(e),
    }
}
