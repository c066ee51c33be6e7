//! Pipeline B Lambdas. One binary serves the S3 trigger (`MUARA_HANDLER=trigger`, SQS event)
//! each Task of `batch-lifecycle.asl.json` (`MUARA_HANDLER=<stage>`) and housekeeping
//! (`MUARA_HANDLER=housekeeping`, on a schedule): one build for twelve functions, each with
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
    let (role, cfg) = (&role, &cfg);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handler::handle(cfg, role, ev.payload).await
    }))
    .await
}
