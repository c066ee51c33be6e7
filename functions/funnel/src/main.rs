//! Pipeline D Lambdas, one binary (`MUARA_HANDLER`): `api` serves the webhook, report, export
//! and keyword routes behind API Gateway (the routes `muara up` serves); `worker` is the funnel
//! queue's SQS event source; `sync` (scheduled) replaces the keywords from the published sheet;
//! `reconcile` (hourly) keeps the funnel ledger.
//!
//! Wiring only: AWS adapters → `muara_funnel::wire::wire` → the Lambda runtime.

use muara_funnel::{observe::Observe, wire};
use muara_lambda::{http, lambda::run};

muara_lambda::handler_roles! {
    /// What this function does (`MUARA_HANDLER`).
    Role { Api = "api", Worker = "worker", Sync = "sync", Reconcile = "reconcile" }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = muara_lambda::lambda::boot::<Role>().await?;
    let pool = aws.pool(4).await?;
    let secret = aws.secret("MUARA_WEBHOOK_SECRET").await?;
    let verify_token = aws.secret("MUARA_WEBHOOK_VERIFY_TOKEN").await?;
    let settings = wire::Settings::from_env(secret, verify_token, Observe::lambda())?;
    let ports = wire::Ports {
        store: aws.store()?,
        queue: aws.queue("MUARA_FUNNEL_QUEUE_URL")?,
        idempotency: aws.locks()?,
        pool: pool.clone(),
    };
    let funnel = wire::wire(ports, &settings);
    let audit = std::sync::Arc::new(muara_console::PgAudit::new(pool.clone()));
    match aws.role {
        Role::Api => http::serve(http::state(&pool, Some(audit)), funnel.routes()).await,
        Role::Worker => run(|ev| async { Ok(funnel.on_sqs_event(ev).await) }).await,
        Role::Sync => run(|_| funnel.sync_sheet()).await,
        Role::Reconcile => run(|_| funnel.reconcile()).await,
    }
}
