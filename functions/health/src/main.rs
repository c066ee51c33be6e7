//! Health Lambda: serves the API's `GET /health` and `GET /metrics` behind API Gateway.
//!
//! Wiring only: tracing, state, `muara_lambda::http::serve`. The routes live in `muara-api`.

use muara_api::AppState;
use muara_core::metrics::Metrics;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    muara_core::logging::init_lambda();
    muara_lambda::http::serve(AppState::new("lambda", Arc::new(Metrics::new())), vec![]).await
}
