//! Pipeline C, the idempotent event aggregator, behind ports: the same code serves API Gateway
//! + Lambda + SQS + DynamoDB in AWS and `muara up` locally.
//!
//! - [`model`]: the event and its rules (pure).
//! - [`ingest`]: `POST /publish` — validate, claim ids in the idempotency store, queue new
//!   events, answer per event.
//! - [`worker`]: applies queue messages to PostgreSQL, once each.
//! - [`counters`]: sharded counters behind `GET /stats`; the publish path adds through the
//!   [`counters::Counters`] port.
//! - [`read`]: `GET /stats`, `GET /events`.
//! - [`http`]: the routes, and how a publish's outcome is answered.
//! - [`message`]: what travels on the queue.
//! - [`wire`]: the aggregator from its ports, as every host builds it.

pub mod counters;
pub mod http;
pub mod ingest;
pub mod message;
pub mod model;
pub mod read;
pub mod wire;
pub mod worker;

use std::time::Instant;

/// The aggregator as its routes serve it.
#[derive(Clone)]
pub struct Service {
    pub ingest: ingest::Ingest,
    /// What `GET /stats` and `GET /events` read.
    pub pool: deadpool_postgres::Pool,
    /// When this host started serving (`GET /stats` reports the uptime).
    pub started: Instant,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("ingest", &self.ingest)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(ingest: ingest::Ingest, pool: deadpool_postgres::Pool) -> Self {
        Self {
            ingest,
            pool,
            started: Instant::now(),
        }
    }
}
