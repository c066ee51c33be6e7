//! The audit log: every change made through the API or the CLI, with who made it.
//! PostgreSQL's `audit.change` serves it on both hosts.

use super::auth::Principal;
use async_trait::async_trait;
use serde_json::Value;

/// One change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: Principal,
    /// What was done: `batch.restart`, `keywords.replace`, `dead_letters.redrive`, …
    pub action: String,
    /// What it was done to: `client demo`, `queue funnel`, …
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Where changes are recorded.
#[async_trait]
pub trait AuditSink: Send + Sync {
    async fn record(&self, entry: AuditEntry) -> crate::Result<()>;
    /// The newest entries first, at most `limit`.
    async fn entries(&self, limit: i64) -> crate::Result<Value>;
}
