//! Pipeline A Lambdas, one binary:
//!
//! - `MUARA_HANDLER=indexer`: the recordings queue's SQS event source, fed by S3 notifications
//!   for `recordings/*.json` (sidecars → the index) and `reports/agent/*.json` (agent run
//!   reports → `recordings.agent_run` and the digest mail). Failed messages are reported
//!   (`ReportBatchItemFailures`) and come back; after their receives they go to the DLQ.
//! - `MUARA_HANDLER=api`: `GET /recordings` (and `/health`) behind API Gateway — the same axum
//!   router `muara up` serves.
//! - `MUARA_HANDLER=reconcile`: hourly, the recordings ledger (every sidecar indexed or
//!   refused; the unaccounted indexed now).
//!
//! Wiring only: configuration → adapters → runtime. The logic is in `muara-recordings`.

use lambda_runtime::{LambdaEvent, service_fn};
use muara_aws::s3::S3Store;
use muara_aws::ses::SesMailer;
use muara_core::config::{optional, required};
use muara_core::ports::Notify;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

muara_aws::handler_roles! {
    /// What this function does (`MUARA_HANDLER`).
    Role {
        /// The recordings routes behind API Gateway.
        Api = "api",
        /// The recordings queue's SQS event source.
        Indexer = "indexer",
        /// Scheduled: the recordings ledger.
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
    match role {
        Role::Api => {
            let mut state =
                muara_api::AppState::new("lambda", Arc::new(muara_core::metrics::Metrics::new()))
                    .with_probe(Arc::new(muara_db::pool::DbProbe(pool.clone())));
            state.audit = Some(Arc::new(muara_console::PgAudit::new(pool.clone())));
            let routes =
                muara_recordings::http::routes(Arc::new(muara_recordings::search::Service {
                    pool,
                }));
            muara_aws::http::serve(state, routes).await
        }
        Role::Indexer => {
            let deps = deps(&sdk, pool)?;
            let deps = &deps;
            lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
                Ok::<_, lambda_runtime::Error>(
                    muara_recordings::on_sqs_event(deps, ev.payload).await,
                )
            }))
            .await
        }
        Role::Reconcile => {
            // Scheduled: every sidecar written in the last two days is indexed, refused with a
            // reason or a duplicate; one that is none of these is indexed now (and logged as
            // an error, which RecordingsUnaccountedAlarm counts).
            let deps = deps(&sdk, pool)?;
            let deps = &deps;
            lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
                let ledger = muara_recordings::ledger::reconcile(
                    deps,
                    muara_recordings::key::PREFIX,
                    Some(since),
                    muara_recordings::ledger::SETTLE,
                    true,
                )
                .await
                .map_err(|e| lambda_runtime::Error::from(e.chain()))?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(&ledger)?)
            }))
            .await
        }
    }
}

/// The indexer's dependencies: the lake bucket, the database, mail through SES.
fn deps(
    sdk: &muara_aws::SdkConfig,
    pool: muara_db::Pool,
) -> Result<muara_recordings::Deps, lambda_runtime::Error> {
    Ok(muara_recordings::Deps {
        store: Arc::new(S3Store::new(
            muara_aws::s3_client(sdk),
            required("MUARA_LAKE_BUCKET")?,
        )),
        pool,
        notify: Notify {
            mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(sdk))),
            from: optional("MUARA_MAIL_FROM").unwrap_or_default(),
            to: muara_core::config::list("MUARA_MAIL_TO"),
        },
    })
}
