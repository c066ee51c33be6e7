//! Dead-letter queues: what an operator inspects, redrives or discards. The PostgreSQL queue
//! serves them locally, SQS in AWS.

use async_trait::async_trait;
use serde::Serialize;

/// One dead-letter queue and the queue its messages came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterQueue {
    /// The name used in the routes: the source queue's short name (`funnel`, `events`, …).
    pub name: String,
    /// The queue redriven messages go back to.
    pub source: String,
    /// The dead-letter queue itself (name or URL).
    pub dead_letter_queue: String,
    pub count: u64,
}

/// A message waiting in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub receives: u32,
    pub sent_at: Option<String>,
}

/// What a redrive or discard did: the messages it acted on (with their bodies), and why it
/// stopped before the end, if it did (a deadline, an outage). What is done stays done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub done: Vec<DeadLetter>,
    pub stopped: Option<String>,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn queues(&self) -> crate::Result<Vec<DeadLetterQueue>>;
    /// Up to `limit` messages, left where they are.
    async fn peek(&self, queue: &str, limit: usize) -> crate::Result<Vec<DeadLetter>>;
    /// Moves the messages with these ids (all when `None`) back to the source queue.
    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> crate::Result<Swept>;
    /// Deletes the messages with these ids.
    async fn discard(&self, queue: &str, ids: &[String]) -> crate::Result<Swept>;
}
