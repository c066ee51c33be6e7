//! Pipeline D Lambdas, one binary:
//!
//! - `MUARA_HANDLER=api`: `POST`/`GET /webhook/{channel}`, `GET /funnel-report[.csv]`,
//!   `GET`/`PUT /keywords` behind API Gateway — the same axum router `muara up` serves.
//! - `MUARA_HANDLER=worker`: the funnel queue's SQS event source; failed messages are reported
//!   (`ReportBatchItemFailures`) and come back.
//! - `MUARA_HANDLER=sync`: on a schedule, the published keyword sheet replaces the keywords.
//! - `MUARA_HANDLER=reconcile`: hourly, the funnel ledger (every kept message stored or
//!   refused; the unaccounted queued again).
//!
//! Wiring only: configuration → adapters → runtime. The logic is in `muara-funnel`.

use lambda_runtime::{LambdaEvent, service_fn};
use muara_aws::dynamo::DynamoLocks;
use muara_aws::s3::S3Store;
use muara_aws::sqs::SqsQueue;
use muara_core::config::{optional, required};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

muara_aws::handler_roles! {
    /// What this function does (`MUARA_HANDLER`).
    Role {
        /// The webhook, report, export and keyword routes behind API Gateway.
        Api = "api",
        /// The funnel queue's SQS event source.
        Worker = "worker",
        /// Scheduled: the published keyword sheet.
        Sync = "sync",
        /// Scheduled: the funnel ledger.
        Reconcile = "reconcile",
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
    let store = Arc::new(S3Store::new(
        muara_aws::s3_client(&sdk),
        required("MUARA_LAKE_BUCKET")?,
    ));
    let settings = |secret, verify_token| -> Result<_, lambda_runtime::Error> {
        Ok(muara_funnel::wire::Settings {
            secret,
            verify_token,
            timezone: optional("MUARA_FUNNEL_TIMEZONE")
                .unwrap_or_else(|| muara_funnel::report::DEFAULT_TIMEZONE.into()),
            keywords_ttl: muara_core::config::seconds_or(
                "MUARA_KEYWORDS_TTL_SECS",
                Duration::from_secs(30),
            )?,
            observe: muara_funnel::observe::Observe::lambda(),
        })
    };
    match role {
        Role::Api => {
            let settings = settings(
                muara_aws::secrets::secret_from_env(&sdk, "MUARA_WEBHOOK_SECRET")
                    .await?
                    .map(String::into_bytes),
                muara_aws::secrets::secret_from_env(&sdk, "MUARA_WEBHOOK_VERIFY_TOKEN").await?,
            )?;
            let service = muara_funnel::wire::service(
                muara_funnel::wire::IngestPorts {
                    store,
                    queue: Arc::new(SqsQueue::new(
                        aws_sdk_sqs::Client::new(&sdk),
                        required("MUARA_FUNNEL_QUEUE_URL")?,
                    )),
                    idempotency: Arc::new(DynamoLocks::new(
                        aws_sdk_dynamodb::Client::new(&sdk),
                        required("MUARA_LOCKS_TABLE")?,
                    )),
                    pool: pool.clone(),
                },
                &settings,
            );
            let mut state =
                muara_api::AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
                    .with_probe(Arc::new(muara_db::pool::DbProbe(pool.clone())));
            state.audit = Some(Arc::new(muara_console::PgAudit::new(pool)));
            let routes = muara_funnel::http::routes(Arc::new(service));
            muara_aws::http::serve(state, routes).await
        }
        Role::Worker => {
            let worker = muara_funnel::wire::worker(
                muara_funnel::wire::WorkerPorts {
                    store,
                    pool: pool.clone(),
                },
                &settings(None, None)?,
            );
            let worker = &worker;
            lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
                Ok::<_, lambda_runtime::Error>(
                    muara_funnel::worker::on_sqs_event(worker, ev.payload).await,
                )
            }))
            .await
        }
        Role::Sync => {
            // Scheduled: the published keyword sheet replaces the keyword set (or, when it
            // cannot be read or checked, the attempt is recorded and the set stays).
            let url = required("MUARA_KEYWORDS_SHEET_URL")?;
            let (pool, url) = (&pool, &url);
            lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
                let n = muara_funnel::sheet::sync(pool, url)
                    .await
                    .map_err(|e| lambda_runtime::Error::from(e.chain()))?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({"keywords": n}))
            }))
            .await
        }
        Role::Reconcile => {
            // Scheduled: every message body kept in the last two days is stored or refused
            // with a reason; one that is neither is queued again (and logged as an error,
            // which FunnelUnaccountedAlarm counts).
            let queue = SqsQueue::new(
                aws_sdk_sqs::Client::new(&sdk),
                required("MUARA_FUNNEL_QUEUE_URL")?,
            );
            let (store, pool, queue) = (&store, &pool, &queue);
            lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
                let ledger = muara_funnel::ledger::reconcile(
                    store.as_ref(),
                    pool,
                    Some(queue),
                    Some(since),
                    muara_funnel::ledger::SETTLE,
                )
                .await
                .map_err(|e| lambda_runtime::Error::from(e.chain()))?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(&ledger)?)
            }))
            .await
        }
    }
}
