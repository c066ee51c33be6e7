//! Dead-letter queues through the [`DeadLetters`] port: `GET /dead-letters` (counts),
//! `GET /dead-letters/{queue}` (peek), `POST /dead-letters/{queue}/redrive` and
//! `POST /dead-letters/{queue}/discard`. The PostgreSQL queue serves them locally, SQS in AWS.

use crate::AppState;
use crate::answer::failed;
use crate::auth::Principal;
use crate::console::{AuditEntry, Reply, audit, port, query, unprocessable};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use muara_core::ports::Swept;
use serde::Deserialize;
use serde_json::{Value, json};

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

/// Which messages: `{"ids": [...]}`, or `{"all": true}` for a whole queue (never implied).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Which {
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
    let w = b
        .map(|Json(w)| w)
        .map_err(|e| unprocessable(e.body_text()))?;
    match (w.ids, w.all) {
        (Some(ids), false) if !ids.is_empty() => Ok(Some(ids)),
        (None, true) if all_allowed => Ok(None),
        _ if all_allowed => Err(unprocessable(
            "name the messages (\"ids\": [...], not empty) or ask for {\"all\": true}".into(),
        )),
        _ => Err(unprocessable(
            "name the messages to delete (\"ids\": [...], not empty)".into(),
        )),
    }
}

/// Records what was done (also when it stopped early), then answers.
async fn swept(
    state: &AppState,
    actor: Principal,
    action: &str,
    queue: &str,
    asked: Option<&[String]>,
    result: muara_core::Result<Swept>,
    count_key: &str,
) -> Reply {
    let s = result.map_err(failed)?;
    let ids: Vec<&str> = s.done.iter().map(|d| d.id.as_str()).collect();
    let entry = AuditEntry {
        actor,
        action: format!("dead_letters.{action}"),
        target: format!("queue {queue}"),
        // A discard keeps the bodies: they are the only copy left.
        before: Some(json!({"asked": asked, "messages": s.done})),
        after: Some(json!({count_key: ids.len(), "ids": ids, "stopped": s.stopped})),
    };
    audit(state, entry).await;
    Ok((
        StatusCode::OK,
        Json(json!({count_key: ids.len(), "ids": ids, "stopped": s.stopped})),
    ))
}

pub(crate) async fn redrive(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(queue): Path<String>,
    b: Result<Json<Which>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    let ids = which(b, true)?;
    let result = dl.redrive(&queue, ids.as_deref()).await;
    swept(
        &state,
        actor,
        "redrive",
        &queue,
        ids.as_deref(),
        result,
        "moved",
    )
    .await
}

pub(crate) async fn discard(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(queue): Path<String>,
    b: Result<Json<Which>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let dl = port(&state.dead_letters, WHAT)?;
    // `which` answers `None` (all) only when all is allowed: never here.
    let ids = which(b, false)?.unwrap_or_default();
    let result = dl.discard(&queue, &ids).await;
    swept(
        &state,
        actor,
        "discard",
        &queue,
        Some(&ids),
        result,
        "discarded",
    )
    .await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

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
            let mut state = crate::testing::state();
            state.dead_letters = Some(std::sync::Arc::new(Nothing));
            let res = crate::app(state, vec![])
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

    struct Nothing;

    #[async_trait::async_trait]
    impl muara_core::ports::DeadLetters for Nothing {
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
        async fn redrive(
            &self,
            _: &str,
            _: Option<&[String]>,
        ) -> muara_core::Result<muara_core::ports::Swept> {
            panic!("a redrive reached the port")
        }
        async fn discard(
            &self,
            _: &str,
            _: &[String],
        ) -> muara_core::Result<muara_core::ports::Swept> {
            panic!("a discard reached the port")
        }
    }
}
