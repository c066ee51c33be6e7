use crate::Result;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// Delay before the message becomes visible.
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }
}

/// A received message: invisible to other consumers until its visibility timeout runs out or
/// it is deleted by `receipt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub id: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// Handle for delete / change-visibility; valid for this delivery only.
    pub receipt: String,
    /// How many times this message has been received, this delivery included.
    pub receive_count: u32,
}

/// One queue with at-least-once delivery, a visibility timeout, and a dead-letter queue that
/// takes a message after the configured number of receives.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends every message (in batches the service accepts); returns the message ids in order.
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<Vec<String>>;
    /// Up to `max` visible messages, waiting up to `wait` for at least one.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>>;
    /// Acknowledges processed messages; unknown or stale receipts are ignored.
    async fn delete_batch(&self, receipts: &[String]) -> Result<()>;
    /// Makes a received message visible again after `timeout` (zero: at once).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()>;
    /// Messages waiting (visible or in flight), approximately, as SQS reports them.
    async fn depth(&self) -> Result<u64>;
}
