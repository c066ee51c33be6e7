//! `audit.change`: who changed what through the API, when, with the before and after.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{AuditEntry, AuditLog, AuditRow};
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use serde_json::Value;

/// A typed value as the log records it (a change's before or after).
pub(crate) fn snapshot<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::with_source(
            ErrorKind::Fatal,
            format!(
                "recording a {} in the audit log",
                std::any::type_name::<T>()
            ),
            e,
        )
    })
}

/// Writes one entry with the given client (inside the change's own transaction when it has one).
pub async fn record_in(c: &impl tokio_postgres::GenericClient, e: &AuditEntry) -> Result<()> {
    c.execute(
        "INSERT INTO audit.change (actor, role, via, action, target, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &e.actor.subject,
            &e.actor.role.as_str(),
            &e.actor.via,
            &e.action,
            &e.target,
            &e.before,
            &e.after,
        ],
    )
    .await
    .map_err(|err| pg_error("writing audit.change", err))?;
    tracing::info!(actor = %e.actor.subject, role = %e.actor.role, action = %e.action,
        target = %e.target, "change recorded");
    Ok(())
}

#[derive(Debug, Clone)]
pub struct PgAudit {
    pool: Pool,
}

impl PgAudit {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl muara_core::ports::AuditSink for PgAudit {
    async fn record(&self, entry: AuditEntry) -> Result<()> {
        let c = self.pool.get().await.map_err(pool_error)?;
        record_in(&**c, &entry).await
    }

    async fn entries(&self, limit: i64) -> Result<AuditLog> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let rows = c
            .query(
                "SELECT change_id, to_json(at) #>> '{}' AS at, actor, role, via, action, target,
                        before, after
                 FROM audit.change ORDER BY change_id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(|e| pg_error("reading audit.change", e))?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.get("change_id"),
                    at: crate::column::time(r, "at")?,
                    actor: r.get("actor"),
                    role: crate::column::role(r, "role")?,
                    via: r.get("via"),
                    action: r.get("action"),
                    target: r.get("target"),
                    before: r.get("before"),
                    after: r.get("after"),
                })
            })
            .collect::<Result<_>>()?;
        Ok(AuditLog { entries })
    }
}
