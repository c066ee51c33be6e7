//! The platform's HTTP API as one axum [`Router`].
//!
//! The same router is served by axum on localhost under `muara up` and by `lambda_http` behind
//! API Gateway, so a route behaves the same on both hosts.
//!
//! - [`app`]: builds the router from an [`AppState`].
//! - `health`: `GET /health`, per-component status from [`Probe`]s, `503` when any fails.
//! - `metrics`: `GET /metrics` in the Prometheus text format, plus request counting.
//! - `batches`: `POST /clients/{client}/batches` (start, restart, reprocess, refresh) and
//!   `GET /clients/{client}/batches[/{batch_id}[/logs]]` through the [`BatchControl`] port.
//! - `events`: `POST /publish`, `GET /stats`, `GET /events` through the [`EventsApi`] port.
//! - `recordings`: `GET /recordings` through the [`RecordingsApi`] port.
//! - `funnel`: the webhook, `GET /funnel-report[.csv]`, `GET`/`PUT /keywords` through the
//!   [`FunnelApi`] port.
//! - [`client`]: a minimal HTTP/1.1 client (CLI → platform, tests → emulators).

mod batches;
pub mod client;
mod events;
mod funnel;
mod health;
mod metrics;
mod recordings;

pub use batches::{BatchControl, BatchQuery};
pub use events::{EventsApi, PUBLISH_BODY_LIMIT};
pub use funnel::{FUNNEL_BODY_LIMIT, FunnelApi};
pub use recordings::RecordingsApi;

use axum::Router;
use axum::routing::get;
use muara_core::health::Probe;
use muara_core::metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a route needs, shared by reference.
#[derive(Clone)]
pub struct AppState {
    pub probes: Vec<Arc<dyn Probe>>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    /// Where this process runs: `local` or `lambda`.
    pub host: &'static str,
    /// How long one probe may take before it is reported as failing.
    pub probe_timeout: Duration,
    /// Pipeline B's run requests, where this host serves them.
    pub batches: Option<Arc<dyn BatchControl>>,
    /// Pipeline C's publish, stats and events, where this host serves them.
    pub events: Option<Arc<dyn EventsApi>>,
    /// Pipeline A's recording search, where this host serves it.
    pub recordings: Option<Arc<dyn RecordingsApi>>,
    /// Pipeline D's webhook, report, export and keywords, where this host serves them.
    pub funnel: Option<Arc<dyn FunnelApi>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field(
                "probes",
                &self.probes.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(host: &'static str, metrics: Arc<Metrics>) -> Self {
        Self {
            probes: Vec::new(),
            metrics,
            started: Instant::now(),
            host,
            probe_timeout: Duration::from_secs(3),
            batches: None,
            events: None,
            recordings: None,
            funnel: None,
        }
    }

    pub fn with_probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probes.push(probe);
        self
    }
}

/// The version reported by `/health` and `muara --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    metrics::describe(&state.metrics);
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/clients/{client}/batches",
            axum::routing::post(batches::request_batch).get(batches::list_batches),
        )
        .route(
            "/clients/{client}/batches/{batch_id}",
            get(batches::show_batch),
        )
        .route(
            "/clients/{client}/batches/{batch_id}/logs",
            get(batches::batch_logs),
        )
        .route(
            "/publish",
            axum::routing::post(events::publish)
                .layer(axum::extract::DefaultBodyLimit::max(PUBLISH_BODY_LIMIT)),
        )
        .route("/stats", get(events::stats))
        .route("/events", get(events::list))
        .route("/recordings", get(recordings::search))
        .route(
            "/webhook/{channel}",
            axum::routing::post(funnel::webhook)
                .get(funnel::verify)
                .layer(axum::extract::DefaultBodyLimit::max(FUNNEL_BODY_LIMIT)),
        )
        .route("/funnel-report", get(funnel::report))
        .route("/funnel-report.csv", get(funnel::export))
        .route(
            "/keywords",
            get(funnel::keywords)
                .put(funnel::put_keywords)
                .layer(axum::extract::DefaultBodyLimit::max(FUNNEL_BODY_LIMIT)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
}
