//! Answers at the edge: how a domain error or a refusal becomes a status code and a JSON body.
//! Domain code returns typed outcomes and [`muara_core::Error`]s; only this kit and the
//! pipelines' `http` modules pick status codes.

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muara_core::ErrorKind;
use muara_core::ports::{AuditEntry, AuditSink};
use serde_json::{Value, json};
use std::sync::Arc;

/// The status an error of this kind is answered with.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Retryable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Config | ErrorKind::Fatal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as an answer: its status, its whole chain and its type.
pub fn failed(e: muara_core::Error) -> (StatusCode, Json<Value>) {
    (
        status_of(e.kind()),
        Json(json!({"error": e.chain(), "error_type": e.kind().error_type()})),
    )
}

/// A domain error returned from a handler.
#[derive(Debug)]
pub struct Failure(pub muara_core::Error);

impl From<muara_core::Error> for Failure {
    fn from(e: muara_core::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        failed(self.0).into_response()
    }
}

/// A refusal with this status and message.
pub fn refuse(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": message.into()})))
}

/// A 422 naming what is wrong with the request.
pub fn unprocessable(message: impl Into<String>) -> (StatusCode, Json<Value>) {
    refuse(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// A JSON answer, or a refusal: what most handlers return.
pub type Reply = Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)>;

/// `200` with the value (anything `Serialize`), or the error's answer.
pub fn answer<T: serde::Serialize>(r: muara_core::Result<T>) -> Reply {
    r.and_then(to_json)
        .map(|v| (StatusCode::OK, Json(v)))
        .map_err(failed)
}

/// A typed answer as JSON (a value that cannot be serialised is a server fault).
fn to_json<T: serde::Serialize>(v: T) -> muara_core::Result<Value> {
    serde_json::to_value(v)
        .map_err(|e| muara_core::Error::fatal(format!("answer not serialisable: {e}")))
}

/// `201` with the value, or the error's answer.
pub fn created<T: serde::Serialize>(r: muara_core::Result<T>) -> Reply {
    r.and_then(to_json)
        .map(|v| (StatusCode::CREATED, Json(v)))
        .map_err(failed)
}

/// The request body, or a 422 naming what is wrong with it.
pub fn body<T>(
    b: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, (StatusCode, Json<Value>)> {
    b.map(|Json(v)| v).map_err(|e| unprocessable(e.body_text()))
}

/// The query parameters, or a 422.
pub fn query<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, (StatusCode, Json<Value>)> {
    q.map(|Query(v)| v)
        .map_err(|e| unprocessable(e.body_text()))
}

/// Where a guarded route records the changes it makes: put on every guarded request by the
/// guard, next to the caller's [`Principal`](muara_core::ports::Principal).
#[derive(Clone, Default)]
pub struct Audit(pub Option<Arc<dyn AuditSink>>);

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Audit").field(&self.0.is_some()).finish()
    }
}

impl Audit {
    /// Records a change. The change is done by then; a failure to record it is logged loudly
    /// rather than reported as a failed change.
    pub async fn record(&self, entry: AuditEntry) {
        let Some(sink) = self.0.clone() else {
            tracing::warn!(action = %entry.action, "no audit log on this host: change not recorded");
            return;
        };
        let action = entry.action.clone();
        if let Err(e) = sink.record(entry).await {
            tracing::error!(%action, error = %e.chain(), "the change could not be written to the audit log");
        }
    }
}
