//! The Lambda path: a real API Gateway HTTP API event, parsed by lambda_http, answered by the
//! same router `muara up` serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use muara_api::{AppState, app};
use muara_core::metrics::Metrics;
use std::sync::Arc;
use tower::ServiceExt;

#[tokio::test]
async fn an_api_gateway_get_health_event_is_answered_200_with_json() {
    let event = include_str!("data/apigw-http-get-health.json");
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let response = app(AppState::new("lambda", Arc::new(Metrics::new())), vec![])
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["host"], "lambda");
}
