//! The HTTP kit at the platform's edge: pipelines declare their routes with it, hosts merge the
//! route sets they link into one axum [`Router`].
//!
//! The same router is served by axum on localhost under `muara up` and by `lambda_http` behind
//! API Gateway, so a route behaves the same on both hosts. The kit knows no pipeline: each
//! pipeline crate's `http` module exposes its routes (`muara_events::http::routes`, …).
//!
//! - [`Route`]: method, path, the access it needs, and its handler bound to its own state.
//! - [`app`]: builds the router from an [`AppState`] and the routes; [`route_table`] lists them.
//! - [`answer`]: how errors and refusals become status codes; the [`answer::Audit`] handle.
//! - `health`: `GET /health`, per-component status from [`Probe`]s, `503` when any fails.
//! - `metrics`: `GET /metrics` in the Prometheus text format, plus request counting.
//! - [`auth`]: the guard every route passes, the gateway's JWT claims.
//! - [`client`]: a minimal HTTP/1.1 client (CLI → platform, tests → emulators).

pub mod answer;
pub mod auth;
pub mod client;
mod health;
mod metrics;

pub use auth::{Access, Authenticator, Principal, Role};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use muara_core::health::Probe;
use muara_core::metrics::Metrics;
use muara_core::ports::AuditSink;
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
    /// Who is calling: local tokens, or API Gateway's verified JWT claims. Without one every
    /// route but the public ones answers 401.
    pub auth: Option<Arc<dyn Authenticator>>,
    /// Where changes made through the API are recorded.
    pub audit: Option<Arc<dyn AuditSink>>,
    /// Origins besides the API's own from which state-changing requests are accepted.
    pub allowed_origins: Vec<String>,
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
            auth: None,
            audit: None,
            allowed_origins: Vec::new(),
        }
    }

    pub fn with_probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probes.push(probe);
        self
    }
}

/// The version reported by `/health` and `muara --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One route: its method, path and the access it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// Who may call what: the access levels routes are declared with.
pub const VIEWER: Access = Access::Role(Role::Viewer);
pub const OPERATOR: Access = Access::Role(Role::Operator);
pub const ADMIN: Access = Access::Role(Role::Admin);

/// One route: what it answers, who may call it, and its handler bound to the state it needs.
/// A pipeline exposes its routes as a `Vec<Route>`; a host merges the sets it links.
pub struct Route {
    pub endpoint: Endpoint,
    handler: MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.endpoint.fmt(f)
    }
}

impl Route {
    /// A route whose handler takes `State<S>`, bound here to `state`.
    pub fn new<H, T, S>(
        method: Method,
        path: &'static str,
        access: Access,
        state: S,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
        S: Clone + Send + Sync + 'static,
    {
        // The table names only the methods axum routes; another one is a programming error.
        #[allow(clippy::expect_used)]
        let filter = MethodFilter::try_from(method.clone()).expect("a routable HTTP method");
        Self {
            endpoint: Endpoint {
                method,
                path,
                access,
            },
            handler: on(filter, handler).with_state(state),
        }
    }

    /// Bodies larger than this are answered `413` before they are read whole.
    pub fn body_limit(self, bytes: usize) -> Self {
        Self {
            handler: self.handler.layer(DefaultBodyLimit::max(bytes)),
            ..self
        }
    }
}

/// The kit's own routes (health, metrics) with the given ones: every route a host serves. The router is built from this list alone, so a route cannot be
/// added without declaring who may call it.
pub fn all_routes(state: &AppState, routes: Vec<Route>) -> Vec<Route> {
    let mut all = builtin(state);
    all.extend(routes);
    all
}

fn builtin(state: &AppState) -> Vec<Route> {
    use Access::Public;
    use Method as M;
    macro_rules! ep {
        ($m:expr, $p:expr, $a:expr, $h:expr $(,)?) => {
            Route::new($m, $p, $a, state.clone(), $h)
        };
    }
    vec![
        ep!(M::GET, "/health", Public, health::health),
        ep!(M::GET, "/metrics", VIEWER, metrics::metrics),
    ]
}

/// The routes' endpoints: what the role test and the docs check the router against.
pub fn route_table(routes: &[Route]) -> Vec<Endpoint> {
    routes.iter().map(|r| r.endpoint.clone()).collect()
}

/// The HTTP API of a host: the kit's own routes and the given ones, each behind the guard.
pub fn app(state: AppState, routes: Vec<Route>) -> Router {
    metrics::describe(&state.metrics);
    let mut router = Router::new();
    for route in all_routes(&state, routes) {
        let guarded = route
            .handler
            .route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), route.endpoint.access),
                auth::guard,
            ));
        router = router.route(route.endpoint.path, guarded);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
}

#[cfg(any(test, feature = "testing"))]
pub mod testing;
