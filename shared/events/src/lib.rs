//! Pipeline C, the idempotent event aggregator, behind ports: the same code serves API Gateway
//! + Lambda + SQS + DynamoDB in AWS and `muara up` locally.
//!
//! - [`model`]: the event and its rules (pure).
//! - [`ingest`]: `POST /publish` — validate, claim ids in the idempotency store, queue new
//!   events, answer per event.
//! - [`worker`]: applies queue messages to PostgreSQL, once each.
//! - [`counters`]: sharded counters behind `GET /stats`.
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
#[derive(Debug, Clone)]
pub struct Service {
    pub ingest: ingest::Ingest,
    /// When this host started serving (`GET /stats` reports the uptime).
    pub started: Instant,
}

impl Service {
    pub fn new(ingest: ingest::Ingest) -> Self {
        Self {
            ingest,
            started: Instant::now(),
        }
    }
}
