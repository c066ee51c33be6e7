//! Housekeeping, on a schedule (an EventBridge rule in AWS, a timer under `muara up`): sends
//! failure mail still pending, removes log rows older than the retention age, and — where no
//! S3 lifecycle rule does it (the local lake) — archived files older than that age. Reports
//! what it removed.

use crate::layout::LakeKey;
use crate::model::Deps;
use crate::notify::{self, Delivery};
use muara_core::Result;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// The default retention age.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Retention {
    pub max_age: Duration,
    /// Delete files in `archive/` folders older than `max_age` (the local lake; in S3 the
    /// bucket's lifecycle rule expires the tagged archive copies).
    pub purge_archives: bool,
}

/// `(table, timestamp column, extra condition)`: the rows housekeeping may remove.
const LOGS: &[(&str, &str, &str)] = &[
    ("tools.mapping_validation_log", "logged_at", ""),
    ("tools.row_validation_log", "logged_at", ""),
    ("tools.load_error_log", "logged_at", ""),
    ("tools.transformation_log", "started_at", ""),
    ("tools.integration_log", "started_at", ""),
    ("tools.mv_refresh_log", "started_at", ""),
    ("tools.file_audit_log", "updated_at", ""),
    ("tools.file_ledger", "updated_at", ""),
    ("tools.config_snapshot", "taken_at", ""),
    (
        "tools.job_execution_log",
        "started_at",
        " AND finished_at IS NOT NULL",
    ),
    (
        "tools.batch_notification",
        "created_at",
        " AND status IN ('SENT', 'FAILED')",
    ),
];

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(with = "time::serde::rfc3339")]
    pub cutoff: OffsetDateTime,
    /// Rows removed per table.
    pub rows: BTreeMap<String, u64>,
    /// Archived files removed (local lake only).
    pub archived_files: Vec<String>,
    pub mail: Delivery,
}

pub async fn run(deps: &Deps, retention: &Retention) -> Result<Report> {
    let mail = notify::deliver_pending(deps, None).await?;
    let cutoff = OffsetDateTime::now_utc()
        - time::Duration::try_from(retention.max_age).unwrap_or(time::Duration::days(90));
    let mut rows = BTreeMap::new();
    {
        let c = deps.pool.get().await.map_err(pool_error)?;
        for (table, column, extra) in LOGS {
            let n = c
                .execute(
                    &format!("DELETE FROM {table} WHERE {column} < $1{extra}"),
                    &[&cutoff],
                )
                .await
                .map_err(|e| pg_error(&format!("purging {table}"), e))?;
            rows.insert(table.to_string(), n);
        }
    }
    let mut archived_files = Vec::new();
    if retention.purge_archives {
        for zone in ["raw/", "data/"] {
            for obj in deps.store.list(zone).await? {
                let archived = LakeKey::parse(&obj.key).is_some_and(|k| k.area == "archive");
                if archived && obj.last_modified.is_some_and(|t| t < cutoff) {
                    deps.store.delete(&obj.key).await?;
                    archived_files.push(obj.key);
                }
            }
        }
    }
    let removed: u64 = rows.values().sum();
    tracing::info!(%cutoff, rows = removed, archived_files = archived_files.len(), mail_sent = mail.sent, mail_failed = mail.failed, "housekeeping done");
    Ok(Report {
        cutoff,
        rows,
        archived_files,
        mail,
    })
}
