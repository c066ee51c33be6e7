//! Health Lambda: serves the API's `GET /health` and `GET /metrics` behind API Gateway.
//!
//! Wiring only: tracing, state, `lambda_http::run(router)`. The routes live in `muara-api`.

use muara_api::{AppState, app};
use muara_core::metrics::Metrics;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    muara_core::logging::init_lambda();
    let state = AppState::new("lambda", Arc::new(Metrics::new()));
    lambda_http::run(app(state)).await
}
