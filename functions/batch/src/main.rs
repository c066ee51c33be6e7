//! Pipeline B Lambdas, one binary for thirteen functions (`MUARA_HANDLER`, each sized and
//! allowed in the template): `trigger` (the S3 trigger's SQS events → `start` runs), each Task
//! of `batch-lifecycle.asl.json` (`convert`, `load-bronze`, …), `housekeeping` (scheduled) and
//! `console` (the console's HTTP API behind API Gateway's JWT authorizer).
//!
//! Wiring only: AWS adapters → `muara_batch::wire::wire` → the Lambda runtime.

use muara_batch::wire::{self, Entry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = muara_lambda::lambda::boot::<Entry>().await?;
    let settings = muara_batch::model::Settings::from_env()?;
    // One connection per concurrent SQL step plus two for their log rows.
    let pool = aws.pool(settings.step_concurrency + 2).await?;
    let ports = wire::Ports {
        store: aws.store()?,
        pool: pool.clone(),
        locks: aws.locks()?,
        orchestrator: aws
            .state_machine(muara_batch::model::MACHINE, "MUARA_BATCH_STATE_MACHINE_ARN")?,
        mailer: aws.mailer(),
    };
    let batch = wire::wire(ports, &settings, std::env::temp_dir().join("muara"));
    if aws.role != Entry::Console {
        return muara_lambda::lambda::run(|payload| batch.handle(aws.role, payload)).await;
    }
    let login = muara_lambda::http::login_settings();
    let console = muara_console::http::ConsoleRoutes::without_tokens(
        pool.clone(),
        login,
        aws.dead_letters()?,
    );
    let state = muara_lambda::http::state(&pool, Some(console.audit.clone()));
    let mut routes = batch.routes();
    routes.extend(muara_console::http::routes(console));
    muara_lambda::http::serve(state, routes).await
}
