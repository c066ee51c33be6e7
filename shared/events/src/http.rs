//! Pipeline C's routes: `POST /publish`, `GET /stats`, `GET /events`. What a publish came to
//! ([`Published`]) becomes a status code and a JSON body here, and only here.

use crate::ingest::{Item, Outcome, Published};
use crate::{Service, read};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use muara_api::answer::{Reply, answer, query};
use muara_api::{OPERATOR, Route, VIEWER};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest `POST /publish` body; larger ones are answered `413` before they are read whole.
pub const PUBLISH_BODY_LIMIT: usize = crate::model::MAX_BODY_BYTES;

/// The aggregator's routes, served by the events API Lambda and by `muara up`.
pub fn routes(service: Arc<Service>) -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/publish", OPERATOR, service.clone(), publish)
            .body_limit(PUBLISH_BODY_LIMIT),
        Route::new(Method::GET, "/stats", VIEWER, service.clone(), stats),
        Route::new(Method::GET, "/events", VIEWER, service, list),
    ]
}

async fn publish(
    State(service): State<Arc<Service>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> (StatusCode, Json<Value>) {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {PUBLISH_BODY_LIMIT} bytes")
            } else {
                e.body_text()
            };
            return (status, Json(json!({"status": "rejected", "error": error})));
        }
    };
    render(service.ingest.publish(&body).await)
}

/// A publish's answer: one event's status, or a batch's counts and per-item results.
pub fn render(published: Published) -> (StatusCode, Json<Value>) {
    match published {
        Published::TooLarge(m) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"status": "rejected", "error": m})),
        ),
        Published::Invalid(m) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"status": "rejected", "error": m})),
        ),
        Published::Unavailable(m) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "error": m})),
        ),
        Published::One(item) => one(item),
        Published::Many(items) => (StatusCode::OK, Json(many(&items))),
    }
}

fn one(
    Item {
        outcome,
        topic,
        event_id,
    }: Item,
) -> (StatusCode, Json<Value>) {
    match outcome {
        Outcome::New | Outcome::Duplicate => (
            StatusCode::OK,
            Json(json!({"status": outcome.status(), "topic": topic, "event_id": event_id})),
        ),
        Outcome::Conflict => (
            StatusCode::CONFLICT,
            Json(
                json!({"status": "conflict", "topic": topic, "event_id": event_id,
                   "detail": "an event with this topic and event_id was published with a different payload; it is kept as first stored"}),
            ),
        ),
        Outcome::Rejected(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"status": "rejected", "errors": errors})),
        ),
        Outcome::Retry => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "retry", "topic": topic, "event_id": event_id,
                   "detail": "another request is publishing this event; retry"}),
            ),
        ),
    }
}

fn many(items: &[Item]) -> Value {
    let results: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let mut r = json!({"index": i, "status": it.outcome.status(),
                               "topic": it.topic, "event_id": it.event_id});
            if let Outcome::Rejected(errors) = &it.outcome {
                r["errors"] = json!(errors);
            }
            r
        })
        .collect();
    let rejected: Vec<Value> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| match &it.outcome {
            Outcome::Rejected(errors) => Some(json!({
                "index": i,
                "reason": errors
                    .iter()
                    .map(|e| if e.field.is_empty() { e.reason.clone() } else { format!("{} {}", e.field, e.reason) })
                    .collect::<Vec<_>>()
                    .join("; "),
                "errors": errors,
            })),
            _ => None,
        })
        .collect();
    let count = |o: &Outcome| items.iter().filter(|it| it.outcome == *o).count();
    let retry: Vec<usize> = (0..items.len())
        .filter(|i| items[*i].outcome == Outcome::Retry)
        .collect();
    let mut body = json!({
        "status": "ok",
        "received": items.len() - retry.len(),
        "accepted": count(&Outcome::New),
        "duplicates": count(&Outcome::Duplicate),
        "conflicts": count(&Outcome::Conflict),
        "rejected": rejected,
        "results": results,
    });
    if !retry.is_empty() {
        body["retry"] = json!(retry);
    }
    body
}

async fn stats(State(service): State<Arc<Service>>) -> Reply {
    answer(read::stats(&service.pool, service.started.elapsed().as_secs()).await)
}

#[derive(Debug, Deserialize)]
struct EventsParams {
    topic: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(service): State<Arc<Service>>,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let p = query(params)?;
    answer(
        read::events(
            &service.pool,
            p.topic.as_deref(),
            p.limit,
            p.cursor.as_deref(),
        )
        .await,
    )
}
