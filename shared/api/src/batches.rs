//! `POST /clients/{client}/batches`: start, restart or reprocess a client's batch.

use crate::AppState;
use async_trait::async_trait;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muara_core::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

/// What the route needs from pipeline B: one narrow port, so the HTTP layer (and the health
/// Lambda that shares it) never links the batch machinery.
#[async_trait]
pub trait BatchControl: Send + Sync {
    /// Requests a run; the answer says what happened (`started`, `duplicate`, `busy`, …).
    async fn request(
        &self,
        client: &str,
        mode: &str,
        batch_id: Option<&str>,
    ) -> muara_core::Result<Value>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    mode: String,
    #[serde(default)]
    batch_id: Option<String>,
}

fn valid_client(c: &str) -> bool {
    let mut chars = c.chars();
    matches!(chars.next(), Some(ch) if ch.is_ascii_lowercase())
        && chars.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        && c.len() <= 63
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
    if !valid_client(&client) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({"error": format!("client {client:?} must be lowercase letters, digits and _, starting with a letter")}),
            ),
        );
    }
    match control
        .request(&client, &req.mode, req.batch_id.as_deref())
        .await
    {
        Ok(v) => {
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
    use crate::{AppState, app};
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use muara_core::metrics::Metrics;
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
    }

    async fn post(seen: Arc<Seen>, path: &str, body: &str) -> (StatusCode, Value) {
        let mut state = AppState::new("local", Arc::new(Metrics::new()));
        state.batches = Some(seen);
        let res = app(state)
            .oneshot(
                Request::post(path)
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
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
