//! Pipeline A's routes: `GET /recordings?from=&to=&agent=&number=&direction=&limit=` and
//! `GET /recordings/daily?days=`, through the [`RecordingsApi`] port.

use crate::AppState;
use crate::events::failed;
use async_trait::async_trait;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[async_trait]
pub trait RecordingsApi: Send + Sync {
    /// Recordings matching the query parameters, newest first.
    async fn search(&self, params: &BTreeMap<String, String>) -> muara_core::Result<Value>;
    /// Recordings indexed and files that failed, per day, for the last `days` days.
    async fn daily(&self, days: i64) -> muara_core::Result<Value>;
}

pub(crate) async fn search(
    State(state): State<AppState>,
    Query(params): Query<BTreeMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let Some(recordings) = state.recordings.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "recordings are not served here"})),
        );
    };
    match recordings.search(&params).await {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => failed(e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct DailyParams {
    days: Option<i64>,
}

pub(crate) async fn daily(
    State(state): State<AppState>,
    params: Result<Query<DailyParams>, axum::extract::rejection::QueryRejection>,
) -> (StatusCode, Json<Value>) {
    let Some(recordings) = state.recordings.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "recordings are not served here"})),
        );
    };
    let days = match params {
        Ok(Query(p)) => p.days.unwrap_or(14),
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.body_text()})),
            );
        }
    };
    if !(1..=366).contains(&days) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "days must be between 1 and 366"})),
        );
    }
    match recordings.daily(days).await {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => failed(e),
    }
}
