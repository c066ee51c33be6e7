//! The audit log: every change made through the API or the CLI, with who made it.
//! PostgreSQL's `audit.change` serves it on both hosts.

use super::auth::{Principal, Role};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

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

/// One recorded change, as the log gives it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    /// When it was recorded (written with the offset the log gave it).
    #[serde(with = "crate::timestamp")]
    pub at: OffsetDateTime,
    /// Who: the principal's subject.
    pub actor: String,
    pub role: Role,
    /// `token`, `jwt`, or what a system actor named (`cli`, `local`, …).
    pub via: String,
    pub action: String,
    pub target: String,
    /// What the change replaced and what it made, as recorded: snapshots of whatever was
    /// changed (a configuration row, a token, a sweep's request and outcome), so free-form.
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// `GET /audit`: the newest entries first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditLog {
    pub entries: Vec<AuditRow>,
}

/// Where changes are recorded.
#[async_trait]
pub trait AuditSink: Send + Sync {
    async fn record(&self, entry: AuditEntry) -> crate::Result<()>;
    /// The newest entries first, at most `limit`.
    async fn entries(&self, limit: i64) -> crate::Result<AuditLog>;
}
