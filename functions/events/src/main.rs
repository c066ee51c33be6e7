//! Pipeline C Lambdas, one binary:
//!
//! - `MUARA_HANDLER=api`: `POST /publish`, `GET /stats`, `GET /events` (and `/health`) behind
//!   API Gateway — the same axum router `muara up` serves.
//! - `MUARA_HANDLER=worker`: the events queue's SQS event source; stores each message's events
//!   and reports the messages that failed (`ReportBatchItemFailures`), which come back.
//!
//! Wiring only: configuration → adapters → runtime. The logic is in `muara-events`.

use lambda_runtime::{LambdaEvent, service_fn};
use muara_aws::dynamo::DynamoLocks;
use muara_aws::sqs::SqsQueue;
use muara_core::config::required;
use muara_events::ingest::Ingest;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

muara_aws::handler_roles! {
    /// What this function does (`MUARA_HANDLER`).
    Role {
        /// `POST /publish`, `GET /stats`, `GET /events` behind API Gateway.
        Api = "api",
        /// The events queue's SQS event source.
        Worker = "worker",
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let muara_aws::lambda::Boot {
        role,
        sdk,
        database_url,
    } = muara_aws::lambda::boot::<Role>().await?;
    let pool = muara_db::connect(&database_url, 4, Duration::from_secs(20)).await?;
    match role {
        Role::Api => {
            let ingest = Ingest::new(
                Arc::new(DynamoLocks::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    required("MUARA_LOCKS_TABLE")?,
                )),
                Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(&sdk),
                    required("MUARA_EVENTS_QUEUE_URL")?,
                )),
                pool.clone(),
            );
            let state =
                muara_api::AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
                    .with_probe(Arc::new(muara_db::pool::DbProbe(pool)));
            let routes = muara_events::http::routes(Arc::new(muara_events::Service::new(ingest)));
            muara_aws::http::serve(state, routes).await
        }
        Role::Worker => {
            let pool = &pool;
            lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
                Ok::<_, lambda_runtime::Error>(
                    muara_events::worker::on_sqs_event(pool, ev.payload).await,
                )
            }))
            .await
        }
    }
}
