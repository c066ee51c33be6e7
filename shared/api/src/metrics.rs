use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use muara_core::metrics::Metrics;

pub(crate) fn describe(m: &Metrics) {
    m.describe(
        "muara_http_requests_total",
        "counter",
        "HTTP requests served, by route and status",
    );
    m.describe(
        "muara_component_up",
        "gauge",
        "1 when the component's last health check passed",
    );
    m.describe(
        "muara_uptime_seconds",
        "gauge",
        "Seconds since this process started",
    );
}

/// `GET /metrics`: the Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.set(
        "muara_uptime_seconds",
        &[],
        state.started.elapsed().as_secs_f64(),
    );
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts every request by its route template (never the raw path, which would let callers
/// create unbounded series) and status.
pub(crate) async fn count_requests(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    state.metrics.inc(
        "muara_http_requests_total",
        &[("route", &route), ("status", &status)],
    );
    res
}

#[cfg(test)]
mod tests {
    use crate::{AppState, app};
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use muara_core::Error;
    use muara_core::health::{Probe, Unhealthy};
    use muara_core::metrics::Metrics;
    use std::sync::Arc;
    use tower::ServiceExt;

    /// A probe with a fixed answer: `Up(detail)` or `Down(reason)`.
    enum Answer {
        Up(&'static str),
        Down(&'static str),
    }

    struct Fixed(&'static str, Answer);

    #[async_trait]
    impl Probe for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn check(&self) -> Result<String, Unhealthy> {
            match self.1 {
                Answer::Up(detail) => Ok(detail.to_string()),
                Answer::Down(reason) => Err(Error::retryable(reason).into()),
            }
        }
    }

    async fn get(router: axum::Router, path: &str) -> (StatusCode, String) {
        let res = router
            .oneshot(
                Request::get(path)
                    .header("authorization", "Bearer viewer")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn given_healthy_components_when_health_then_200_with_each_component() {
        let state = crate::testing::state()
            .with_probe(Arc::new(Fixed("database", Answer::Up("PostgreSQL 15"))));
        let (status, body) = get(app(state, vec![]), "/health").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["components"]["database"]["status"], "ok");
    }

    #[tokio::test]
    async fn given_a_failing_component_when_health_then_503_names_it() {
        let state = crate::testing::state()
            .with_probe(Arc::new(Fixed("database", Answer::Up("up"))))
            .with_probe(Arc::new(Fixed("queue", Answer::Down("connection refused"))));
        let (status, body) = get(app(state, vec![]), "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["components"]["queue"]["error"],
            "Retryable: connection refused"
        );
    }

    #[tokio::test]
    async fn metrics_count_requests_by_route_template() {
        let metrics = Arc::new(Metrics::new());
        let mut state = AppState::new("local", metrics.clone());
        state.auth = crate::testing::state().auth;
        let router = app(state, vec![]);
        let _ = get(router.clone(), "/health").await;
        let _ = get(router.clone(), "/no/such/route").await;
        let (status, body) = get(router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("muara_http_requests_total{route=\"/health\",status=\"200\"} 1"));
        assert!(body.contains("route=\"unmatched\",status=\"404\""));
        assert!(body.contains("muara_uptime_seconds"));
    }
}
