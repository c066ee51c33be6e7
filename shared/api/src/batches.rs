//! `POST /clients/{client}/batches`: start, restart, reprocess or refresh a client's batch;
//! `GET /clients/{client}/batches[/{batch_id}[/logs]]`: what the batches did.

use crate::AppState;
use crate::auth::Principal;
use crate::console::{AuditEntry, audit};
use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use muara_core::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

/// What the route needs from pipeline B: one narrow port, so the HTTP layer (and the health
/// Lambda that shares it) never links the batch machinery.
#[async_trait]
pub trait BatchControl: Send + Sync {
    /// Requests a run; the answer says what happened (`started`, `duplicate`, `busy`, …).
    /// `files` chooses the files a restart or reprocessing runs (empty: its default).
    async fn request(
        &self,
        client: &str,
        mode: &str,
        batch_id: Option<&str>,
        files: &[String],
    ) -> muara_core::Result<Value>;

    /// Reads what operators see: the client's batches, one batch, or one batch's logs.
    async fn query(&self, query: BatchQuery) -> muara_core::Result<Value>;

    /// The lake objects of one batch (raw files, Parquet, manifest) wherever they are now:
    /// `{"objects": [{"key", "size", "kind"}]}`.
    async fn objects(&self, client: &str, batch_id: &str) -> muara_core::Result<Value> {
        let _ = (client, batch_id);
        Err(muara_core::Error::not_found(
            "lake objects are not served here",
        ))
    }

    /// One of those objects' bytes; a key that is not one of the batch's objects is not found.
    async fn object(
        &self,
        client: &str,
        batch_id: &str,
        key: &str,
    ) -> muara_core::Result<bytes::Bytes> {
        let _ = (client, batch_id, key);
        Err(muara_core::Error::not_found(
            "lake objects are not served here",
        ))
    }
}

/// The read routes' questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchQuery {
    List { client: String, limit: i64 },
    Show { client: String, batch_id: String },
    Logs { client: String, batch_id: String },
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    #[serde(default)]
    limit: Option<i64>,
}

fn refuse(status: StatusCode, message: String) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": message})))
}

fn valid_batch(b: &str) -> bool {
    b.len() == 11 && b.starts_with("BATCH") && b[5..].chars().all(|c| c.is_ascii_digit())
}

async fn answer(state: &AppState, query: BatchQuery) -> (StatusCode, Json<Value>) {
    let Some(control) = state.batches.clone() else {
        return refuse(StatusCode::NOT_FOUND, "batches are not served here".into());
    };
    let checked = match &query {
        BatchQuery::List { client, .. } => check_client(client),
        BatchQuery::Show { client, batch_id } | BatchQuery::Logs { client, batch_id } => {
            checked(client, batch_id)
        }
    };
    if let Err(refusal) = checked {
        return refusal;
    }
    match control.query(query).await {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => (
            status_of(e.kind()),
            Json(json!({"error": e.chain(), "error_type": e.kind().error_type()})),
        ),
    }
}

pub(crate) async fn list_batches(
    State(state): State<AppState>,
    Path(client): Path<String>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> (StatusCode, Json<Value>) {
    let limit = match params {
        Ok(Query(p)) => p.limit.unwrap_or(50),
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()),
    };
    if !(1..=1000).contains(&limit) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be between 1 and 1000".into(),
        );
    }
    answer(&state, BatchQuery::List { client, limit }).await
}

pub(crate) async fn show_batch(
    State(state): State<AppState>,
    Path((client, batch_id)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    answer(&state, BatchQuery::Show { client, batch_id }).await
}

/// Checks a client name; the refusal as an answer.
fn check_client(client: &str) -> Result<(), (StatusCode, Json<Value>)> {
    muara_core::names::check_client(client).map_err(crate::answer::failed)
}

/// Checks the client and batch of a path; the refusal as an answer.
fn checked(client: &str, batch: &str) -> Result<(), (StatusCode, Json<Value>)> {
    check_client(client)?;
    if !valid_batch(batch) {
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("batch id {batch:?} is not of the form BATCH000001"),
        ));
    }
    Ok(())
}

pub(crate) async fn batch_objects(
    State(state): State<AppState>,
    Path((client, batch_id)): Path<(String, String)>,
) -> crate::console::Reply {
    let control = crate::console::port(&state.batches, "batches are")?;
    checked(&client, &batch_id)?;
    let v = control
        .objects(&client, &batch_id)
        .await
        .map_err(crate::answer::failed)?;
    Ok((StatusCode::OK, Json(v)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyParam {
    key: String,
}

/// One lake object of the batch, as a download.
pub(crate) async fn batch_object(
    State(state): State<AppState>,
    Path((client, batch_id)): Path<(String, String)>,
    q: Result<Query<KeyParam>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, (StatusCode, Json<Value>)> {
    use axum::response::IntoResponse as _;
    let control = crate::console::port(&state.batches, "batches are")?;
    checked(&client, &batch_id)?;
    let key = crate::console::query(q)?.key;
    let bytes = control
        .object(&client, &batch_id, &key)
        .await
        .map_err(crate::answer::failed)?;
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
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                "nosniff".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub(crate) async fn batch_logs(
    State(state): State<AppState>,
    Path((client, batch_id)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    answer(&state, BatchQuery::Logs { client, batch_id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    mode: String,
    #[serde(default)]
    batch_id: Option<String>,
    /// Restart/reprocessing: the batch's files to run (physical, Parquet or logical names).
    #[serde(default)]
    files: Vec<String>,
}

/// Maps an error class to an HTTP status (the body carries the message).
pub(crate) fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Retryable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Config | ErrorKind::Fatal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(crate) async fn request_batch(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    Path(client): Path<String>,
    body: Result<Json<BatchRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<Value>) {
    let Some(control) = state.batches.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "batches are not served here"})),
        );
    };
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.body_text()})),
            );
        }
    };
    if let Err(refusal) = check_client(&client) {
        return refusal;
    }
    match control
        .request(&client, &req.mode, req.batch_id.as_deref(), &req.files)
        .await
    {
        Ok(v) => {
            audit(
                &state,
                AuditEntry {
                    actor,
                    action: format!("batch.{}", req.mode),
                    target: format!(
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
                    ),
                    before: None,
                    after: Some(v.clone()),
                },
            )
            .await;
            let code = if v["outcome"] == "started" {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (code, Json(v))
        }
        Err(e) => {
            tracing::warn!(%client, error = %e.chain(), "batch request refused");
            (
                status_of(e.kind()),
                Json(json!({"error": e.chain(), "error_type": e.kind().error_type()})),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::app;
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, String, Option<String>)>>);

    #[async_trait]
    impl super::BatchControl for Seen {
        async fn request(
            &self,
            client: &str,
            mode: &str,
            batch_id: Option<&str>,
            _files: &[String],
        ) -> muara_core::Result<Value> {
            self.0
                .lock()
                .unwrap()
                .push((client.into(), mode.into(), batch_id.map(Into::into)));
            if mode == "bogus" {
                return Err(muara_core::Error::invalid(
                    "mode \"bogus\" is not one of start, restart, reprocessing",
                ));
            }
            Ok(json!({"outcome": "started", "name": format!("{client}-BATCH000001-{mode}")}))
        }

        async fn query(&self, query: super::BatchQuery) -> muara_core::Result<Value> {
            match query {
                super::BatchQuery::Show { batch_id, .. } if batch_id == "BATCH000404" => Err(
                    muara_core::Error::not_found("client \"acme\" has no batch \"BATCH000404\""),
                ),
                q => Ok(json!({"query": format!("{q:?}")})),
            }
        }
    }

    /// Sends one request to the router with `seen` behind the batch port.
    async fn call(seen: Arc<Seen>, req: Request<Body>) -> (StatusCode, Value) {
        let mut state = crate::testing::state();
        state.batches = Some(seen);
        let res = app(state, vec![]).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(seen: Arc<Seen>, path: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", "Bearer operator")
            .body(Body::from(body.to_string()))
            .unwrap();
        call(seen, req).await
    }

    #[tokio::test]
    async fn a_start_request_is_accepted_and_passed_on() {
        let seen = Arc::new(Seen::default());
        let (status, body) = post(
            seen.clone(),
            "/clients/acme/batches",
            r#"{"mode":"restart","batch_id":"BATCH000003"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(
            seen.0.lock().unwrap()[0],
            ("acme".into(), "restart".into(), Some("BATCH000003".into()))
        );
    }

    async fn get(path: &str) -> (StatusCode, Value) {
        let req = Request::get(path)
            .header("authorization", "Bearer viewer")
            .body(Body::empty())
            .unwrap();
        call(Arc::new(Seen::default()), req).await
    }

    #[tokio::test]
    async fn read_routes_pass_well_formed_questions_on_and_refuse_the_rest() {
        let (status, body) = get("/clients/acme/batches?limit=5").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["query"].as_str().unwrap().contains("limit: 5"));
        let (status, body) = get("/clients/acme/batches/BATCH000002/logs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["query"].as_str().unwrap().starts_with("Logs"));
        let (status, _) = get("/clients/acme/batches/BATCH000404").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for bad in [
            "/clients/acme/batches?limit=0",
            "/clients/acme/batches?limit=x",
            "/clients/acme/batches/batch1",
            "/clients/ACME/batches",
        ] {
            let (status, body) = get(bad).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert!(body["error"].is_string());
        }
    }

    #[tokio::test]
    async fn bad_requests_are_422_with_the_reason() {
        let seen = Arc::new(Seen::default());
        let (status, body) = post(
            seen.clone(),
            "/clients/Acme;drop/batches",
            r#"{"mode":"start"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = post(
            seen.clone(),
            "/clients/acme/batches",
            r#"{"mode":"start","extra":1}"#,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) =
            post(seen.clone(), "/clients/acme/batches", r#"{"mode":"bogus"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["error"].as_str().unwrap().contains("bogus"));
        assert_eq!(
            seen.0.lock().unwrap().len(),
            1,
            "only the well-formed request reached the port"
        );
    }
}
