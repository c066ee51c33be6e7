//! Pipeline A Lambdas, one binary (`MUARA_HANDLER`): `indexer` is the recordings queue's SQS
//! event source, fed by S3 notifications for `recordings/*.json` (sidecars → the index) and
//! `reports/agent/*.json` (agent run reports → `recordings.agent_run` and the digest mail);
//! `api` serves `GET /recordings` behind API Gateway (the routes `muara up` serves);
//! `reconcile` (hourly) keeps the recordings ledger.
//!
//! Wiring only: AWS adapters → `muara_recordings::wire::wire` → the Lambda runtime.

use muara_lambda::{http, lambda::run};

muara_lambda::handler_roles! {
    /// What this function does (`MUARA_HANDLER`).
    Role { Api = "api", Indexer = "indexer", Reconcile = "reconcile" }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = muara_lambda::lambda::boot::<Role>().await?;
    let pool = aws.pool(4).await?;
    let recordings = muara_recordings::wire::wire(muara_recordings::wire::Ports {
        store: aws.store()?,
        pool: pool.clone(),
        notify: aws.notify(),
    });
    let audit = std::sync::Arc::new(muara_console::PgAudit::new(pool.clone()));
    match aws.role {
        Role::Api => http::serve(http::state(&pool, Some(audit)), recordings.routes()).await,
        Role::Indexer => run(|ev| async { Ok(recordings.on_sqs_event(ev).await) }).await,
        Role::Reconcile => run(|_| recordings.reconcile()).await,
    }
}
