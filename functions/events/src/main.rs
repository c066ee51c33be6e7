//! Pipeline C Lambdas, one binary (`MUARA_HANDLER`): `api` serves `POST /publish`,
//! `GET /stats`, `GET /events` behind API Gateway (the routes `muara up` serves); `worker` is
//! the events queue's SQS event source (failed messages reported, and they come back).
//!
//! Wiring only: AWS adapters → `muara_events::wire::wire` → the Lambda runtime.

use muara_lambda::{http, lambda::run};

muara_lambda::handler_roles! {
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
    let aws = muara_lambda::lambda::boot::<Role>().await?;
    let pool = aws.pool(4).await?;
    let events = muara_events::wire::wire(muara_events::wire::Ports {
        idempotency: aws.locks()?,
        queue: aws.queue("MUARA_EVENTS_QUEUE_URL")?,
        pool: pool.clone(),
    });
    match aws.role {
        Role::Api => http::serve(http::state(&pool, None), events.routes()).await,
        Role::Worker => run(|ev| async { Ok(events.on_sqs_event(ev).await) }).await,
    }
}
