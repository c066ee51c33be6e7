//! Dead-letter queues through the [`DeadLetters`] port: `GET /dead-letters` (counts),
//! `GET /dead-letters/{queue}` (peek), `POST /dead-letters/{queue}/redrive` and
//! `POST /dead-letters/{queue}/discard`. The PostgreSQL queue serves them locally, SQS in AWS.

use crate::AppState;
use crate::auth::Principal;
use crate::console::{AuditEntry, Reply, audit, port, query, unprocessable};
use crate::events::failed;
use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One dead-letter queue and the queue its messages came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterQueue {
    /// The name used in the routes: the source queue's short name (`funnel`, `events`, …).
    pub name: String,
    /// The queue redriven messages go back to.
    pub source: String,
    /// The dead-letter queue itself (name or URL).
    pub dead_letter_queue: String,
    pub count: u64,
}

/// A message waiting in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub receives: u32,
    pub sent_at: Option<String>,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn queues(&self) -> muara_core::Result<Vec<DeadLetterQueue>>;
    /// Up to `limit` messages, left where they are.
    async fn peek(&self, queue: &str, limit: usize) -> muara_core::Result<Vec<DeadLetter>>;
    /// Moves the messages with these ids (all when `None`) back to the source queue.
    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> muara_core::Result<u64>;
    /// Deletes the messages with these ids.
    async fn discard(&self, queue: &str, ids: &[String]) -> muara_core::Result<u64>;
}

const WHAT: &str = "dead-letter queues are";

pub(crate) async fn list(State(state): State<AppState>) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    let q = dl.queues().await.map_err(failed)?;
    Ok((StatusCode::OK, Json(json!({"queues": q}))))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PeekParams {
    limit: Option<usize>,
}

pub(crate) async fn peek(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    q: Result<Query<PeekParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    let limit = query(q)?.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(unprocessable("limit must be between 1 and 100".into()));
    }
    let m = dl.peek(&queue, limit).await.map_err(failed)?;
    Ok((StatusCode::OK, Json(json!({"queue": queue, "messages": m}))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ids {
    #[serde(default)]
    ids: Option<Vec<String>>,
}

/// The ids asked for; a request without a JSON body means "all".
fn ids_of(
    b: Result<Json<Ids>, axum::extract::rejection::JsonRejection>,
) -> Result<Option<Vec<String>>, (StatusCode, Json<Value>)> {
    match b {
        Ok(Json(b)) => Ok(b.ids),
        Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => Ok(None),
        Err(e) => Err(unprocessable(e.body_text())),
    }
}

pub(crate) async fn redrive(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(queue): Path<String>,
    b: Result<Json<Ids>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    let ids = ids_of(b)?;
    let moved = dl.redrive(&queue, ids.as_deref()).await.map_err(failed)?;
    let entry = AuditEntry {
        actor,
        action: "dead_letters.redrive".into(),
        target: format!("queue {queue}"),
        before: Some(json!({"ids": ids})),
        after: Some(json!({"moved": moved})),
    };
    audit(&state, entry).await;
    Ok((StatusCode::OK, Json(json!({"moved": moved}))))
}

pub(crate) async fn discard(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(queue): Path<String>,
    b: Result<Json<Ids>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    let Some(ids) = ids_of(b)?.filter(|i| !i.is_empty()) else {
        return Err(unprocessable(
            "discard needs the ids of the messages to delete".into(),
        ));
    };
    // What is thrown away is kept in the audit log: the bodies are the only copy left.
    let before = dl.peek(&queue, 100).await.ok().map(|m| {
        json!(
            m.into_iter()
                .filter(|d| ids.contains(&d.id))
                .collect::<Vec<_>>()
        )
    });
    let n = dl.discard(&queue, &ids).await.map_err(failed)?;
    let entry = AuditEntry {
        actor,
        action: "dead_letters.discard".into(),
        target: format!("queue {queue}"),
        before,
        after: Some(json!({"discarded": n})),
    };
    audit(&state, entry).await;
    Ok((StatusCode::OK, Json(json!({"discarded": n}))))
}
