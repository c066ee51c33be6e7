//! Pipeline C's one wiring: the aggregator built from its ports, the same way by every host
//! (the events Lambdas, `muara up`, the tests), and the entry points those hosts serve.

use crate::counters::PgCounters;
use crate::ingest::Ingest;
use crate::{Service, http, worker};
use deadpool_postgres::Pool;
use muara_core::ports::{IdempotencyStore, Queue};
use std::sync::Arc;
use std::time::Duration;

/// What the aggregator needs.
#[derive(Clone)]
pub struct Ports {
    /// Claims on `(topic, event_id)`: a publish queues only what it claimed first.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The events queue between ingestion and the worker.
    pub queue: Arc<dyn Queue>,
    pub pool: Pool,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// The wired aggregator: its routes, and its worker as each host runs it.
#[derive(Clone)]
pub struct Events {
    service: Arc<Service>,
    queue: Arc<dyn Queue>,
    pool: Pool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

/// The aggregator from its ports.
pub fn wire(ports: Ports) -> Events {
    let counters = Arc::new(PgCounters::new(ports.pool.clone()));
    let ingest = Ingest::new(ports.idempotency, ports.queue.clone(), counters);
    Events {
        service: Arc::new(Service::new(ingest, ports.pool.clone())),
        queue: ports.queue,
        pool: ports.pool,
    }
}

impl Events {
    /// `POST /publish`, `GET /stats`, `GET /events`.
    pub fn routes(&self) -> Vec<muara_api::Route> {
        http::routes(self.service.clone())
    }

    /// The worker as the queue's Lambda event source runs it.
    pub async fn on_sqs_event(&self, payload: serde_json::Value) -> muara_core::sqs::BatchResponse {
        worker::on_sqs_event(&self.pool, payload).await
    }

    /// One round of the worker as a local host runs it: receive, apply, delete.
    pub async fn round(&self, wait: Duration) -> muara_core::Result<usize> {
        worker::round(&self.pool, self.queue.as_ref(), wait).await
    }
}
