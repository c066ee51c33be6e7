//! The read side of the `tools` tables: what operators see through `muara batch status|logs`
//! and `GET /clients/{client}/batches[/{batch_id}[/logs]]`.

use crate::ledger::Ledger;
use crate::model::Mode;
use deadpool_postgres::Pool;
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::types::Json;

/// One run of one SQL step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// `transform`, `integrate` or `refresh`.
    pub family: String,
    pub name: String,
    /// RUNNING, SUCCESS, FAILED, SKIPPED or INTERRUPTED.
    pub status: String,
    pub rows_affected: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error_message: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    pub execution_name: Option<String>,
}

/// The batch's step runs (one execution's, or all), in the order they started.
pub async fn step_runs(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    execution: Option<&str>,
) -> Result<Vec<StepRun>> {
    let c = pool.get().await.map_err(pool_error)?;
    let rows = c
        .query(
            "SELECT family, name, status, rows_affected, duration_ms, error_message, started_at, execution_name FROM (
                 SELECT 'transform' AS family, procedure_name AS name, status, rows_affected, duration_ms, error_message,
                        started_at, execution_name, log_id
                 FROM tools.transformation_log WHERE client_id = $1 AND batch_id = $2
               UNION ALL
                 SELECT 'integrate', procedure_name, status, rows_affected, duration_ms, error_message, started_at,
                        execution_name, log_id
                 FROM tools.integration_log WHERE client_id = $1 AND batch_id = $2
               UNION ALL
                 SELECT 'refresh', mv_name, status, NULL::bigint, duration_ms, error_message, started_at,
                        execution_name, log_id
                 FROM tools.mv_refresh_log WHERE client_id = $1 AND batch_id = $2
             ) s
             WHERE $3::text IS NULL OR execution_name = $3
             ORDER BY started_at, log_id",
            &[&client_id, &batch, &execution],
        )
        .await
        .map_err(|e| pg_error("reading the step logs", e))?;
    Ok(rows
        .iter()
        .map(|r| StepRun {
            family: r.get(0),
            name: r.get(1),
            status: r.get(2),
            rows_affected: r.get(3),
            duration_ms: r.get(4),
            error_message: r.get(5),
            started_at: r.get(6),
            execution_name: r.get(7),
        })
        .collect())
}

/// The client's batches (`GET /clients/{client}/batches`, `muara batch status <client>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchList {
    pub client: String,
    /// Newest first.
    pub batches: Vec<BatchSummary>,
}

/// One batch of the list: its latest execution and its file counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub batch_id: String,
    /// How many executions the batch has had.
    pub executions: i64,
    /// The latest execution's mode.
    pub mode: Mode,
    /// The latest execution's status (RUNNING, SUCCESS, PARTIAL, FAILED, …).
    pub status: String,
    /// The latest execution's name.
    pub execution_name: Option<String>,
    /// When the first execution started.
    #[serde(with = "muara_core::timestamp")]
    pub first_started_at: OffsetDateTime,
    /// When the latest execution finished (`None` while it runs).
    #[serde(with = "muara_core::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The batch's files (audit rows).
    pub files: i64,
    /// Of those, the ones loaded.
    pub files_loaded: i64,
}

/// One batch (`GET /clients/{client}/batches/{batch_id}`, `muara batch status <client> <batch>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDetail {
    pub client: String,
    pub batch_id: String,
    /// In the order they started.
    pub executions: Vec<BatchExecution>,
    /// By source system, then file name.
    pub files: Vec<BatchFile>,
    pub steps: Vec<StepRun>,
    /// The failure mails, oldest first.
    pub mails: Vec<BatchMail>,
}

/// One execution of a batch (`tools.job_execution_log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchExecution {
    pub job_id: i64,
    pub mode: Mode,
    pub execution_name: Option<String>,
    pub status: String,
    pub error_message: Option<String>,
    #[serde(with = "muara_core::timestamp")]
    pub started_at: OffsetDateTime,
    #[serde(with = "muara_core::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Finished minus started, rounded to the millisecond (`None` while it runs).
    pub duration_ms: Option<i64>,
}

/// One file of a batch (`tools.file_audit_log`) with its latest run's row ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchFile {
    pub physical_file_name: String,
    pub source_system: Option<String>,
    pub logical_source_file: Option<String>,
    pub parquet_name: Option<String>,
    pub convert_status: Option<String>,
    pub mapping_validation_status: Option<String>,
    pub row_validation_status: Option<String>,
    pub load_status: Option<String>,
    pub total_rows: Option<i64>,
    pub error_message: Option<String>,
    #[serde(with = "muara_core::timestamp")]
    pub updated_at: OffsetDateTime,
    /// Whether the ledger's equation held at finalise (`None`: not checked, or no ledger).
    pub reconciliation: Option<Reconciliation>,
    pub ledger: Option<FileLedger>,
}

/// The row ledger's verdict at finalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconciliation {
    Balanced,
    Broken,
}

/// A file's row ledger for one run (`tools.file_ledger`), as the batch view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileLedger {
    /// The run the figures are from.
    pub execution_name: String,
    #[serde(flatten)]
    pub figures: Ledger,
    /// Why the equation did not hold.
    pub problem: Option<String>,
    #[serde(with = "muara_core::timestamp")]
    pub updated_at: OffsetDateTime,
}

/// A failure mail of a batch (`tools.batch_notification`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMail {
    pub notification_id: i64,
    pub execution_name: String,
    /// PENDING, SENT or FAILED.
    pub status: String,
    pub subject: String,
    pub recipients: Vec<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "muara_core::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "muara_core::timestamp::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// One batch's logs (`GET /clients/{client}/batches/{batch_id}/logs`, `muara batch logs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLogs {
    pub client: String,
    pub batch_id: String,
    pub mapping_validation: Vec<MappingLog>,
    pub row_validation: Vec<RowRuleLog>,
    pub load_errors: Vec<LoadErrorLog>,
    pub steps: Vec<StepRun>,
}

/// A file's header checked against its mapping (`tools.mapping_validation_log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingLog {
    pub log_id: i64,
    pub physical_file_name: String,
    pub status: String,
    pub missing_columns: Vec<String>,
    pub extra_columns: Vec<String>,
    pub message: Option<String>,
    #[serde(with = "muara_core::timestamp")]
    pub logged_at: OffsetDateTime,
}

/// A row rule's finding in a file (`tools.row_validation_log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowRuleLog {
    pub log_id: i64,
    pub physical_file_name: String,
    pub rule: String,
    pub column_name: Option<String>,
    pub failed_rows: i64,
    /// `fatal` or `warning`.
    pub severity: String,
    /// Some of the offending values, as row validation recorded them.
    pub sample: Option<Value>,
    #[serde(with = "muara_core::timestamp")]
    pub logged_at: OffsetDateTime,
}

/// A file's load failure (`tools.load_error_log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadErrorLog {
    pub log_id: i64,
    pub physical_file_name: String,
    pub target_table: Option<String>,
    pub error_message: String,
    #[serde(with = "muara_core::timestamp")]
    pub logged_at: OffsetDateTime,
}

/// A query that aggregates its rows into one JSON array: PostgreSQL writes each row (its
/// timestamps in the session's offset, as the API has always shown them), serde types it.
async fn json_rows<T: DeserializeOwned>(
    c: &tokio_postgres::Client,
    what: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<T>> {
    let row = c
        .query_one(sql, params)
        .await
        .map_err(|e| pg_error(what, e))?;
    row.try_get::<_, Json<Vec<T>>>(0)
        .map(|Json(rows)| rows)
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Fatal,
                format!("{what}: a row does not fit {}", std::any::type_name::<T>()),
                e,
            )
        })
}

/// The client's batches, newest first: each with its latest execution and file counts.
pub async fn batches(pool: &Pool, client: &str, limit: i64) -> Result<BatchList> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let batches = json_rows(
        &c,
        "reading tools.job_execution_log",
        "SELECT coalesce(json_agg(b ORDER BY b.batch_id DESC), '[]') FROM (
             SELECT j.batch_id,
                    count(*) AS executions,
                    (array_agg(j.mode ORDER BY j.job_id DESC))[1] AS mode,
                    (array_agg(j.status ORDER BY j.job_id DESC))[1] AS status,
                    (array_agg(j.execution_name ORDER BY j.job_id DESC))[1] AS execution_name,
                    min(j.started_at) AS first_started_at,
                    (array_agg(j.finished_at ORDER BY j.job_id DESC))[1] AS finished_at,
                    (SELECT count(*) FROM tools.file_audit_log f WHERE f.client_id = $1 AND f.batch_id = j.batch_id) AS files,
                    (SELECT count(*) FROM tools.file_audit_log f WHERE f.client_id = $1 AND f.batch_id = j.batch_id
                        AND f.load_status = 'SUCCESS') AS files_loaded
             FROM tools.job_execution_log j WHERE j.client_id = $1
             GROUP BY j.batch_id ORDER BY j.batch_id DESC LIMIT $2) b",
        &[&id, &limit],
    )
    .await?;
    Ok(BatchList {
        client: client.to_string(),
        batches,
    })
}

/// One batch: its executions, files (audit rows, each with its row ledger), SQL step runs and
/// failure mails.
pub async fn batch(pool: &Pool, client: &str, batch: &str) -> Result<BatchDetail> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let what = "reading the batch";
    let executions: Vec<BatchExecution> = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(j ORDER BY j.job_id), '[]') FROM (
            SELECT job_id, mode, execution_name, status, error_message, started_at, finished_at,
                   round(extract(epoch FROM finished_at - started_at) * 1000)::bigint AS duration_ms
            FROM tools.job_execution_log WHERE client_id = $1 AND batch_id = $2) j",
        &[&id, &batch],
    )
    .await?;
    if executions.is_empty() {
        return Err(Error::not_found(format!(
            "client {client:?} has no batch {batch:?}"
        )));
    }
    // Each file with its latest run's row ledger; `reconciliation` is `balanced` only when the
    // ledger's equation held at finalise.
    let files = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(f ORDER BY f.source_system, f.physical_file_name), '[]') FROM (
            SELECT a.physical_file_name, a.source_system, a.logical_source_file, a.parquet_name, a.convert_status,
                   a.mapping_validation_status, a.row_validation_status, a.load_status, a.total_rows, a.error_message,
                   a.updated_at,
                   CASE l.balanced WHEN true THEN 'balanced' WHEN false THEN 'broken' END AS reconciliation,
                   l.ledger
            FROM tools.file_audit_log a
            LEFT JOIN LATERAL (
                SELECT x.balanced,
                       to_jsonb(x) - 'client_id' - 'batch_id' - 'physical_file_name' - 'balanced' AS ledger
                FROM tools.file_ledger x
                WHERE x.client_id = a.client_id AND x.batch_id = a.batch_id
                  AND x.physical_file_name = a.physical_file_name
                ORDER BY x.updated_at DESC LIMIT 1) l ON true
            WHERE a.client_id = $1 AND a.batch_id = $2) f",
        &[&id, &batch],
    )
    .await?;
    let mails = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(n ORDER BY n.notification_id), '[]') FROM (
            SELECT notification_id, execution_name, status, subject, recipients, attempts, last_error, created_at, sent_at
            FROM tools.batch_notification WHERE client_id = $1 AND batch_id = $2) n",
        &[&id, &batch],
    )
    .await?;
    let steps = step_runs(pool, id, batch, None).await?;
    Ok(BatchDetail {
        client: client.to_string(),
        batch_id: batch.to_string(),
        executions,
        files,
        steps,
        mails,
    })
}

/// One batch's validation, load and step logs.
pub async fn logs(pool: &Pool, client: &str, batch: &str) -> Result<BatchLogs> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let what = "reading the batch";
    let known: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tools.job_execution_log WHERE client_id = $1 AND batch_id = $2)",
            &[&id, &batch],
        )
        .await
        .map_err(|e| pg_error(what, e))?
        .get(0);
    if !known {
        return Err(Error::not_found(format!(
            "client {client:?} has no batch {batch:?}"
        )));
    }
    let mapping_validation = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, status, missing_columns, extra_columns, message, logged_at
            FROM tools.mapping_validation_log WHERE client_id = $1 AND batch_id = $2) l",
        &[&id, &batch],
    )
    .await?;
    let row_validation = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, rule, column_name, failed_rows, severity, sample, logged_at
            FROM tools.row_validation_log WHERE client_id = $1 AND batch_id = $2) l",
        &[&id, &batch],
    )
    .await?;
    let load_errors = json_rows(
        &c,
        what,
        "SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, target_table, error_message, logged_at
            FROM tools.load_error_log WHERE client_id = $1 AND batch_id = $2) l",
        &[&id, &batch],
    )
    .await?;
    let steps = step_runs(pool, id, batch, None).await?;
    Ok(BatchLogs {
        client: client.to_string(),
        batch_id: batch.to_string(),
        mapping_validation,
        row_validation,
        load_errors,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_row_reads_and_writes_the_same_json() {
        let row = serde_json::json!({
            "physical_file_name": "a_BATCH000001.csv", "source_system": "crm",
            "logical_source_file": "a", "parquet_name": null, "convert_status": "SUCCESS",
            "mapping_validation_status": null, "row_validation_status": null,
            "load_status": "FAILED", "total_rows": 3, "error_message": "boom",
            "updated_at": "2024-06-01T10:11:12.5+07:00", "reconciliation": "broken",
            "ledger": {
                "execution_name": "demo-BATCH000001-start", "raw_bytes": 10, "raw_sha256": "ab",
                "rows_read": 3, "rows_blank": 0, "rows_parquet": 3, "rows_checked": 3,
                "rows_as_is": 3, "rows_nulled": 0, "rows_flagged": 0, "rows_refused": 0,
                "rows_copied": 3, "rows_in_bronze": 2, "rows_at_finalise": null,
                "problem": "copied 3 but 2 in bronze", "updated_at": "2024-06-01T10:11:13+07:00"
            }
        });
        let file: BatchFile = serde_json::from_value(row.clone()).unwrap();
        assert_eq!(file.reconciliation, Some(Reconciliation::Broken));
        assert_eq!(
            file.ledger.as_ref().and_then(|l| l.figures.rows_in_bronze),
            Some(2)
        );
        assert_eq!(serde_json::to_value(&file).unwrap(), row);
        let bare = serde_json::json!({
            "physical_file_name": "b.csv", "source_system": null, "logical_source_file": null,
            "parquet_name": null, "convert_status": null, "mapping_validation_status": null,
            "row_validation_status": null, "load_status": null, "total_rows": null,
            "error_message": null, "updated_at": "2024-06-01T10:11:12+00:00",
            "reconciliation": null, "ledger": null
        });
        let file: BatchFile = serde_json::from_value(bare.clone()).unwrap();
        assert_eq!(serde_json::to_value(&file).unwrap(), bare);
    }
}
