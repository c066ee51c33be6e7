//! The read side of the `tools` tables: what operators see through `muara batch status|logs`
//! and `GET /clients/{client}/batches[/{batch_id}[/logs]]`.

use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// One run of one SQL step.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// The client's batches, newest first: each with its latest execution and file counts.
pub async fn batches(pool: &Pool, client: &str, limit: i64) -> Result<Value> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let row = c
        .query_one(
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
        .await
        .map_err(|e| pg_error("reading tools.job_execution_log", e))?;
    Ok(json!({"client": client, "batches": row.get::<_, Value>(0)}))
}

/// A query that returns one JSON value for a client's batch (`$1` client id, `$2` batch).
async fn json_of(
    c: &deadpool_postgres::Object,
    sql: &'static str,
    client_id: i32,
    batch: &str,
) -> Result<Value> {
    c.query_one(sql, &[&client_id, &batch])
        .await
        .map(|r| r.get::<_, Value>(0))
        .map_err(|e| pg_error("reading the batch", e))
}

/// One batch: its executions, files (audit rows), SQL step runs and failure mails.
pub async fn batch(pool: &Pool, client: &str, batch: &str) -> Result<Value> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let q = |sql: &'static str| json_of(&c, sql, id, batch);
    let executions = q("SELECT coalesce(json_agg(j ORDER BY j.job_id), '[]') FROM (
            SELECT job_id, mode, execution_name, status, error_message, started_at, finished_at,
                   round(extract(epoch FROM finished_at - started_at) * 1000)::bigint AS duration_ms
            FROM tools.job_execution_log WHERE client_id = $1 AND batch_id = $2) j")
    .await?;
    if executions.as_array().is_none_or(Vec::is_empty) {
        return Err(Error::not_found(format!(
            "client {client:?} has no batch {batch:?}"
        )));
    }
    // Each file with its latest run's row ledger; `reconciliation` is `balanced` only when the
    // ledger's equation held at finalise.
    let files = q("SELECT coalesce(json_agg(f ORDER BY f.source_system, f.physical_file_name), '[]') FROM (
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
            WHERE a.client_id = $1 AND a.batch_id = $2) f")
    .await?;
    let mails = q("SELECT coalesce(json_agg(n ORDER BY n.notification_id), '[]') FROM (
            SELECT notification_id, execution_name, status, subject, recipients, attempts, last_error, created_at, sent_at
            FROM tools.batch_notification WHERE client_id = $1 AND batch_id = $2) n")
    .await?;
    let steps = step_runs(pool, id, batch, None).await?;
    Ok(json!({
        "client": client,
        "batch_id": batch,
        "executions": executions,
        "files": files,
        "steps": steps,
        "mails": mails,
    }))
}

/// One batch's validation, load and step logs.
pub async fn logs(pool: &Pool, client: &str, batch: &str) -> Result<Value> {
    let c = pool.get().await.map_err(pool_error)?;
    let id = muara_db::tools::client_id(&**c, client).await?;
    let q = |sql: &'static str| json_of(&c, sql, id, batch);
    let known = q("SELECT to_json(EXISTS (SELECT 1 FROM tools.job_execution_log WHERE client_id = $1 AND batch_id = $2))")
        .await?;
    if known != Value::Bool(true) {
        return Err(Error::not_found(format!(
            "client {client:?} has no batch {batch:?}"
        )));
    }
    let mapping = q("SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, status, missing_columns, extra_columns, message, logged_at
            FROM tools.mapping_validation_log WHERE client_id = $1 AND batch_id = $2) l")
    .await?;
    let rows = q("SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, rule, column_name, failed_rows, severity, sample, logged_at
            FROM tools.row_validation_log WHERE client_id = $1 AND batch_id = $2) l")
    .await?;
    let load = q("SELECT coalesce(json_agg(l ORDER BY l.log_id), '[]') FROM (
            SELECT log_id, physical_file_name, target_table, error_message, logged_at
            FROM tools.load_error_log WHERE client_id = $1 AND batch_id = $2) l")
    .await?;
    let steps = step_runs(pool, id, batch, None).await?;
    Ok(json!({
        "client": client,
        "batch_id": batch,
        "mapping_validation": mapping,
        "row_validation": rows,
        "load_errors": load,
        "steps": steps,
    }))
}
