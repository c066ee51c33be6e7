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
use muara_core::sqs::{BatchResponse, SqsEvent};
use muara_events::ingest::Ingest;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let muara_aws::lambda::Boot {
        role,
        sdk,
        database_url,
    } = muara_aws::lambda::boot().await?;
    let pool = muara_db::connect(&database_url, 4, Duration::from_secs(20)).await?;
    match role.as_str() {
        "api" => {
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
            let mut state =
                muara_api::AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
                    .with_probe(Arc::new(muara_db::pool::DbProbe(pool)));
            state.events = Some(Arc::new(muara_events::Service { ingest }));
            muara_aws::http::serve(state).await
        }
        "worker" => {
            let pool = &pool;
            lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
                Ok::<_, lambda_runtime::Error>(worker(pool, ev.payload).await)
            }))
            .await
        }
        other => Err(format!("MUARA_HANDLER={other:?} is not api or worker").into()),
    }
}

/// Applies the batch's messages (in one transaction when they all go through); a message that
/// fails (database down, a transient conflict) is
/// reported and redelivered by SQS; one that can never be applied ends in the dead-letter
/// queue after its receives.
async fn worker(pool: &muara_db::Pool, payload: Value) -> BatchResponse {
    let mut response = BatchResponse::default();
    let event: SqsEvent = match serde_json::from_value(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "worker invoked with something that is not an SQS event");
            return response;
        }
    };
    let bodies: Vec<&str> = event.records.iter().map(|m| m.body.as_str()).collect();
    let results = muara_events::worker::apply_all(pool, &bodies).await;
    for (m, r) in event.records.iter().zip(results) {
        match r {
            Ok(a) => {
                tracing::info!(message_id = %m.message_id, stored = a.stored, duplicates = a.duplicates, conflicts = a.conflicts, already_applied = a.already_applied, "events applied")
            }
            Err(e) => {
                tracing::error!(message_id = %m.message_id, error = %e.chain(), error_type = e.kind().error_type(), "events message failed");
                response.fail(&m.message_id);
            }
        }
    }
    response
}
