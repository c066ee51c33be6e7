//! Pipeline C, the idempotent event aggregator, behind ports: the same code serves API Gateway
//! + Lambda + SQS + DynamoDB in AWS and `muara up` locally.
//!
//! - [`model`]: the event and its rules (pure).
//! - [`ingest`]: `POST /publish` — validate, claim ids in the idempotency store, queue new
//!   events, answer per event.
//! - [`worker`]: applies queue messages to PostgreSQL, once each.
//! - [`counters`]: sharded counters behind `GET /stats`.
//! - [`read`]: `GET /stats`, `GET /events`.
//! - [`message`]: what travels on the queue.
//! - [`sim`]: `muara publish-sim`, a load generator that checks the stats after.

pub mod counters;
pub mod ingest;
pub mod message;
pub mod model;
pub mod read;
pub mod sim;
pub mod worker;

use async_trait::async_trait;
use serde_json::Value;

/// The aggregator as the HTTP API serves it.
#[derive(Debug, Clone)]
pub struct Service {
    pub ingest: ingest::Ingest,
}

#[async_trait]
impl muara_api::EventsApi for Service {
    async fn publish(&self, body: &[u8]) -> (u16, Value) {
        let r = self.ingest.publish(body).await;
        (r.status, r.body)
    }

    async fn stats(&self, uptime_seconds: u64) -> muara_core::Result<Value> {
        read::stats(&self.ingest.pool, uptime_seconds).await
    }

    async fn events(
        &self,
        topic: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> muara_core::Result<Value> {
        read::events(&self.ingest.pool, topic, limit, cursor).await
    }
}
