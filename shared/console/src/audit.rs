//! `audit.change`: who changed what through the API, when, with the before and after.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_core::ports::AuditEntry;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::{Value, json};

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

    async fn entries(&self, limit: i64) -> Result<Value> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let row = c
            .query_one(
                "SELECT coalesce(json_agg(a ORDER BY a.id DESC), '[]') FROM (
                     SELECT change_id AS id, at, actor, role, via, action, target, before, after
                     FROM audit.change ORDER BY change_id DESC LIMIT $1) a",
                &[&limit],
            )
            .await
            .map_err(|e| pg_error("reading audit.change", e))?;
        Ok(json!({"entries": row.get::<_, Value>(0)}))
    }
}
