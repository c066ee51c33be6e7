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

pub mod counters;
pub mod ingest;
pub mod message;
pub mod model;
pub mod read;
pub mod worker;
