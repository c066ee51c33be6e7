//! Pipeline A's route: `GET /recordings?from=&to=&agent=&number=&direction=&limit=`, through
//! the [`RecordingsApi`] port.

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
