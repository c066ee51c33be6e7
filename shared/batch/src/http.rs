//! Pipeline B's routes: `POST /clients/{client}/batches` (start, restart, reprocess, refresh,
//! unlock) and `GET /clients/{client}/batches[/{batch_id}[/logs|/objects|/object]]`.
//! Paths are checked here, before anything reaches the pipeline.

use crate::control::{Ask, BatchControl, RunAnswer};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use muara_api::answer::{Audit, Reply, answer, body, failed, query, unprocessable};
use muara_api::{OPERATOR, Route, VIEWER};
use muara_core::ports::{AuditEntry, Principal};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The batch routes, served by the console Lambda and by `muara up`.
pub fn routes(control: Arc<BatchControl>) -> Vec<Route> {
    use Method as M;
    vec![
        Route::new(
            M::GET,
            "/clients/{client}/batches",
            VIEWER,
            control.clone(),
            list_batches,
        ),
        Route::new(
            M::POST,
            "/clients/{client}/batches",
            OPERATOR,
            control.clone(),
            request_batch,
        ),
        Route::new(
            M::GET,
            "/clients/{client}/batches/{batch_id}",
            VIEWER,
            control.clone(),
            show_batch,
        ),
        Route::new(
            M::GET,
            "/clients/{client}/batches/{batch_id}/logs",
            VIEWER,
            control.clone(),
            batch_logs,
        ),
        Route::new(
            M::GET,
            "/clients/{client}/batches/{batch_id}/objects",
            VIEWER,
            control.clone(),
            batch_objects,
        ),
        Route::new(
            M::GET,
            "/clients/{client}/batches/{batch_id}/object",
            VIEWER,
            control,
            batch_object,
        ),
    ]
}

type Refusal = (StatusCode, Json<Value>);

/// Checks a client name.
fn check_client(client: &str) -> Result<(), Refusal> {
    muara_core::names::check_client(client).map_err(failed)
}

/// Checks the client and batch of a path.
fn checked(client: &str, batch: &str) -> Result<(), Refusal> {
    check_client(client)?;
    batch
        .parse::<crate::ids::BatchId>()
        .map(|_| ())
        .map_err(|_| unprocessable(format!("batch id {batch:?} is not of the form BATCH000001")))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    #[serde(default)]
    limit: Option<i64>,
}

async fn list_batches(
    State(control): State<Arc<BatchControl>>,
    Path(client): Path<String>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let limit = query(params)?.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(unprocessable("limit must be between 1 and 1000"));
    }
    check_client(&client)?;
    answer(control.list(&client, limit).await)
}

async fn show_batch(
    State(control): State<Arc<BatchControl>>,
    Path((client, batch_id)): Path<(String, String)>,
) -> Reply {
    checked(&client, &batch_id)?;
    answer(control.show(&client, &batch_id).await)
}

async fn batch_logs(
    State(control): State<Arc<BatchControl>>,
    Path((client, batch_id)): Path<(String, String)>,
) -> Reply {
    checked(&client, &batch_id)?;
    answer(control.logs(&client, &batch_id).await)
}

async fn batch_objects(
    State(control): State<Arc<BatchControl>>,
    Path((client, batch_id)): Path<(String, String)>,
) -> Reply {
    checked(&client, &batch_id)?;
    let objects = control.objects(&client, &batch_id).await.map_err(failed)?;
    Ok((
        StatusCode::OK,
        Json(json!({"client": client, "batch_id": batch_id, "objects": objects})),
    ))
}

#[derive(Debug, Deserialize)]
struct KeyParam {
    key: String,
}

/// One lake object of the batch, as a download.
async fn batch_object(
    State(control): State<Arc<BatchControl>>,
    Path((client, batch_id)): Path<(String, String)>,
    q: Result<Query<KeyParam>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    checked(&client, &batch_id)?;
    let key = query(q)?.key;
    let bytes = control
        .object(&client, &batch_id, &key)
        .await
        .map_err(failed)?;
    // The file name is the key's last segment, reduced to characters safe in a header.
    let name: String = key
        .rsplit('/')
        .next()
        .unwrap_or("object")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let content_type = if name.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    mode: String,
    #[serde(default)]
    batch_id: Option<String>,
    /// Restart/reprocessing: the batch's files to run (physical, Parquet or logical names).
    #[serde(default)]
    files: Vec<String>,
}

async fn request_batch(
    State(control): State<Arc<BatchControl>>,
    Extension(actor): Extension<Principal>,
    Extension(audit): Extension<Audit>,
    Path(client): Path<String>,
    req: Result<Json<BatchRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RunAnswer>), Refusal> {
    let req = body(req)?;
    check_client(&client)?;
    if let Some(b) = &req.batch_id {
        b.parse::<crate::ids::BatchId>().map_err(failed)?;
    }
    let target = format!(
        "client {client}{}{}",
        req.batch_id
            .as_deref()
            .map(|b| format!(" batch {b}"))
            .unwrap_or_default(),
        if req.files.is_empty() {
            String::new()
        } else {
            format!(" files {}", req.files.join(", "))
        }
    );
    let action = format!("batch.{}", req.mode);
    let answered = match Ask::parse(&req.mode, req.batch_id, req.files) {
        Ok(ask) => control.request(&client, ask).await,
        Err(e) => Err(e),
    };
    match answered {
        Ok(a) => {
            let reply = a.reply();
            // The audit keeps the answer as the caller got it.
            let after = match serde_json::to_value(&reply) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(%action, error = %e, "the answer could not be put in the audit entry");
                    None
                }
            };
            audit
                .record(AuditEntry {
                    actor,
                    action,
                    target,
                    before: None,
                    after,
                })
                .await;
            let code = if a.started() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok((code, Json(reply)))
        }
        Err(e) => {
            tracing::warn!(%client, error = %e.chain(), "batch request refused");
            Err(failed(e))
        }
    }
}
