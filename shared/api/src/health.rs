use crate::{AppState, VERSION};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muara_core::health::Unhealthy;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// `GET /health`: every probe runs concurrently under a timeout; any failure answers `503`.
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let checks = state.probes.iter().map(|p| {
        let timeout = state.probe_timeout;
        async move {
            let t0 = Instant::now();
            let res = match tokio::time::timeout(timeout, p.check()).await {
                Ok(r) => r,
                Err(_) => Err(Unhealthy::TimedOut(timeout)),
            };
            (p.name().to_string(), res, t0.elapsed())
        }
    });
    let results = futures::future::join_all(checks).await;
    let mut components = Map::new();
    let mut healthy = true;
    for (name, res, took) in results {
        let latency_ms = took.as_secs_f64() * 1000.0;
        let entry = match res {
            Ok(detail) => json!({"status": "ok", "detail": detail, "latency_ms": latency_ms}),
            Err(reason) => {
                healthy = false;
                tracing::warn!(component = %name, %reason, "health check failed");
                json!({"status": "down", "error": reason.to_string(), "latency_ms": latency_ms})
            }
        };
        state.metrics.set(
            "muara_component_up",
            &[("component", &name)],
            if entry["status"] == "ok" { 1.0 } else { 0.0 },
        );
        components.insert(name, entry);
    }
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": VERSION,
        "host": state.host,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "components": components,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
