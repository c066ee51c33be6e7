//! Pipeline B Lambdas. One binary serves the S3 trigger (`MUARA_HANDLER=trigger`, SQS event),
//! the console's HTTP API (`MUARA_HANDLER=console`, API Gateway),
//! each Task of `batch-lifecycle.asl.json` (`MUARA_HANDLER=<stage>`) and housekeeping
//! (`MUARA_HANDLER=housekeeping`, on a schedule): one build for thirteen functions, each with
//! its own memory size and policy in the template.
//!
//! Wiring only: configuration → adapters → `lambda_runtime::run`. The logic is in
//! `muara-batch`; `handler` maps events and errors.

mod config;
mod handler;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    muara_core::logging::init_lambda();
    let (role, cfg) = config::from_env().await?;
    if role == config::Role::Console {
        return console(cfg).await;
    }
    let cfg = &cfg;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handler::handle(cfg, role, ev.payload).await
    }))
    .await
}

/// The console's HTTP API: batches, configuration, KPIs, the audit log and dead-letter queues,
/// behind API Gateway's JWT authorizer.
async fn console(cfg: config::Config) -> Result<(), lambda_runtime::Error> {
    use std::sync::Arc;
    let pool = cfg.deps.pool.clone();
    let sdk = cfg.sdk.clone();
    let mut state =
        muara_api::AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
            .with_probe(Arc::new(muara_db::pool::DbProbe(pool.clone())));
    let audit = Arc::new(muara_console::PgAudit::new(pool.clone()));
    state.audit = Some(audit.clone());
    let mut routes =
        muara_batch::http::routes(Arc::new(muara_batch::control::BatchControl(cfg.deps)));
    routes.extend(muara_console::http::routes(
        muara_console::http::ConsoleRoutes {
            login: muara_aws::http::login_settings(),
            console: Arc::new(muara_console::PgConsole::new(pool)),
            audit,
            tokens: None,
            dead_letters: Arc::new(muara_aws::deadletters::SqsDeadLetters::from_env(
                aws_sdk_sqs::Client::new(&sdk),
            )?),
        },
    ));
    muara_aws::http::serve(state, routes).await
}
