//! The `tools` tables: client and file configuration, audit and validation logs.

use crate::ids::BatchId;
use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRow {
    pub client_id: i32,
    pub client_schema: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRow {
    pub config_id: i32,
    pub logical_source_file: String,
    pub source_system: String,
    pub source_type: crate::model::SourceType,
    pub target_schema: String,
    pub target_table: String,
    pub source_config: Option<Value>,
    pub row_validation_policy: crate::model::RowPolicy,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MappingRow {
    pub source_column: String,
    pub target_column: String,
    pub target_data_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequiredRow {
    pub column_name: String,
    pub is_key: bool,
}

/// The status columns of `tools.file_audit_log` a stage may set (a closed set: column names
/// are never taken from input).
#[derive(Debug, Clone, Copy)]
pub enum AuditColumn {
    Convert,
    MappingValidation,
    RowValidation,
    Load,
}

impl AuditColumn {
    fn column(self) -> &'static str {
        match self {
            AuditColumn::Convert => "convert_status",
            AuditColumn::MappingValidation => "mapping_validation_status",
            AuditColumn::RowValidation => "row_validation_status",
            AuditColumn::Load => "load_status",
        }
    }
}

async fn client(pool: &Pool) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(pool_error)
}

pub async fn find_client(pool: &Pool, client_schema: &str) -> Result<Option<ClientRow>> {
    let c = client(pool).await?;
    let row = c
        .query_opt(
            "SELECT client_id, client_schema FROM tools.client_reference WHERE client_schema = $1 AND is_active",
            &[&client_schema],
        )
        .await
        .map_err(|e| pg_error("reading tools.client_reference", e))?;
    Ok(row.map(|r| ClientRow {
        client_id: r.get(0),
        client_schema: r.get(1),
    }))
}

/// The next batch id of a client, allocated atomically (concurrent callers get distinct ids).
pub async fn allocate_batch(pool: &Pool, client_id: i32) -> Result<BatchId> {
    let c = client(pool).await?;
    let row = c
        .query_one(
            "UPDATE tools.client_reference SET last_batch_id = last_batch_id + 1, updated_at = now()
             WHERE client_id = $1 RETURNING last_batch_id",
            &[&client_id],
        )
        .await
        .map_err(|e| pg_error("allocating a batch id", e))?;
    let n: i32 = row.get(0);
    Ok(BatchId(
        u32::try_from(n).map_err(|_| Error::fatal("negative batch id"))?,
    ))
}

pub async fn last_batch(pool: &Pool, client_id: i32) -> Result<Option<BatchId>> {
    let c = client(pool).await?;
    let row = c
        .query_one(
            "SELECT last_batch_id FROM tools.client_reference WHERE client_id = $1",
            &[&client_id],
        )
        .await
        .map_err(|e| pg_error("reading the last batch id", e))?;
    let n: i32 = row.get(0);
    Ok((n > 0).then(|| BatchId(n.unsigned_abs())))
}

pub async fn configs(pool: &Pool, client_id: i32) -> Result<Vec<ConfigRow>> {
    let c = client(pool).await?;
    let rows = c
        .query(
            "SELECT config_id, logical_source_file, source_system, source_type, target_schema, target_table,
                    source_config, row_validation_policy
             FROM tools.client_config WHERE client_id = $1 AND is_active ORDER BY config_id",
            &[&client_id],
        )
        .await
        .map_err(|e| pg_error("reading tools.client_config", e))?;
    rows.iter()
        .map(|r| {
            Ok(ConfigRow {
                config_id: r.get(0),
                logical_source_file: r.get(1),
                source_system: r.get(2),
                source_type: r.get::<_, &str>(3).parse()?,
                target_schema: r.get(4),
                target_table: r.get(5),
                source_config: r.get(6),
                row_validation_policy: r.get::<_, &str>(7).parse()?,
            })
        })
        .collect()
}

/// `(transformation, integration, refresh)` names for the manifest, in execution order.
pub async fn procedures(
    pool: &Pool,
    client_id: i32,
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let c = client(pool).await?;
    let q = |sql: &'static str| {
        let c = &c;
        async move {
            c.query(sql, &[&client_id])
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| r.get::<_, String>(0))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| pg_error("reading procedure configuration", e))
        }
    };
    Ok((
        q("SELECT procedure_name FROM tools.transformation_config WHERE client_id = $1 AND is_active ORDER BY execution_order, transformation_id").await?,
        q("SELECT procedure_name FROM tools.integration_config WHERE client_id = $1 AND is_active ORDER BY execution_order, integration_id").await?,
        q("SELECT mv_name FROM tools.mv_refresh_config WHERE client_id = $1 AND is_active ORDER BY refresh_order, mv_id").await?,
    ))
}

/// Copies the mapping and required columns of `config_ids` for one execution, all read in one
/// snapshot. A retried start keeps the first copy.
pub async fn snapshot_configs(pool: &Pool, execution: &str, config_ids: &[i32]) -> Result<()> {
    let mut c = client(pool).await?;
    let tx = c
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .map_err(|e| pg_error("snapshotting the configuration", e))?;
    tx.execute(
        "INSERT INTO tools.config_snapshot (execution_name, config_id, mapping, required)
         SELECT $1, k.config_id,
                coalesce((SELECT jsonb_agg(jsonb_build_object('source_column', m.source_column,
                                   'target_column', m.target_column, 'target_data_type', m.target_data_type)
                                   ORDER BY m.ordinal NULLS LAST, m.mapping_id)
                          FROM tools.column_mapping m WHERE m.config_id = k.config_id), '[]'),
                coalesce((SELECT jsonb_agg(jsonb_build_object('column_name', r.column_name, 'is_key', r.is_key)
                                   ORDER BY r.required_id)
                          FROM tools.required_columns r WHERE r.config_id = k.config_id), '[]')
         FROM unnest($2::int[]) AS k(config_id)
         ON CONFLICT (execution_name, config_id) DO NOTHING",
        &[&execution, &config_ids],
    )
    .await
    .map_err(|e| pg_error("snapshotting the configuration", e))?;
    tx.commit()
        .await
        .map_err(|e| pg_error("snapshotting the configuration", e))?;
    Ok(())
}

/// The run's copy of one configuration, if it took one.
async fn snapshot(pool: &Pool, execution: &str, config_id: i32) -> Result<Option<(Value, Value)>> {
    let c = client(pool).await?;
    let row = c
        .query_opt(
            "SELECT mapping, required FROM tools.config_snapshot WHERE execution_name = $1 AND config_id = $2",
            &[&execution, &config_id],
        )
        .await
        .map_err(|e| pg_error("reading tools.config_snapshot", e))?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

fn from_snapshot<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| Error::fatal(format!("tools.config_snapshot does not read back: {e}")))
}

/// The mapping a file is processed with: the execution's copy, or the table for an execution
/// that started before copies were taken.
pub async fn mapping_of(pool: &Pool, execution: &str, config_id: i32) -> Result<Vec<MappingRow>> {
    match snapshot(pool, execution, config_id).await? {
        Some((m, _)) => from_snapshot(m),
        None => mapping(pool, config_id).await,
    }
}

/// The mapping and required columns a file is checked against (one read of the copy), as
/// [`mapping_of`].
pub async fn config_of(
    pool: &Pool,
    execution: &str,
    config_id: i32,
) -> Result<(Vec<MappingRow>, Vec<RequiredRow>)> {
    match snapshot(pool, execution, config_id).await? {
        Some((m, r)) => Ok((from_snapshot(m)?, from_snapshot(r)?)),
        None => Ok((
            mapping(pool, config_id).await?,
            required(pool, config_id).await?,
        )),
    }
}

pub async fn mapping(pool: &Pool, config_id: i32) -> Result<Vec<MappingRow>> {
    let c = client(pool).await?;
    let rows = c
        .query(
            "SELECT source_column, target_column, target_data_type FROM tools.column_mapping
             WHERE config_id = $1 ORDER BY ordinal NULLS LAST, mapping_id",
            &[&config_id],
        )
        .await
        .map_err(|e| pg_error("reading tools.column_mapping", e))?;
    Ok(rows
        .iter()
        .map(|r| MappingRow {
            source_column: r.get(0),
            target_column: r.get(1),
            target_data_type: r.get(2),
        })
        .collect())
}

pub async fn required(pool: &Pool, config_id: i32) -> Result<Vec<RequiredRow>> {
    let c = client(pool).await?;
    let rows = c
        .query(
            "SELECT column_name, is_key FROM tools.required_columns WHERE config_id = $1 ORDER BY required_id",
            &[&config_id],
        )
        .await
        .map_err(|e| pg_error("reading tools.required_columns", e))?;
    Ok(rows
        .iter()
        .map(|r| RequiredRow {
            column_name: r.get(0),
            is_key: r.get(1),
        })
        .collect())
}

/// Creates or resets a file's audit row for this batch (a restart resets the same row).
pub async fn audit_begin(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    logical: Option<&str>,
    source: &str,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.file_audit_log (client_id, batch_id, physical_file_name, logical_source_file, source_system,
                                           convert_status)
         VALUES ($1, $2, $3, $4, $5, 'PENDING')
         ON CONFLICT (client_id, batch_id, physical_file_name) DO UPDATE
           SET convert_status = 'PENDING', mapping_validation_status = NULL, row_validation_status = NULL,
               load_status = NULL, error_message = NULL, updated_at = now()",
        &[&client_id, &batch, &physical, &logical, &source],
    )
    .await
    .map_err(|e| pg_error("writing tools.file_audit_log", e))?;
    Ok(())
}

/// Sets one stage's status on a file's audit row (plus optional facts).
pub async fn audit_set(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    column: AuditColumn,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    let c = client(pool).await?;
    let sql = format!(
        "UPDATE tools.file_audit_log SET {} = $4, error_message = COALESCE($5, error_message), updated_at = now()
         WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3",
        column.column()
    );
    c.execute(&sql, &[&client_id, &batch, &physical, &status, &error])
        .await
        .map_err(|e| pg_error("updating tools.file_audit_log", e))?;
    Ok(())
}

pub async fn audit_facts(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    parquet_name: Option<&str>,
    total_rows: Option<i64>,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "UPDATE tools.file_audit_log SET parquet_name = COALESCE($4, parquet_name), total_rows = COALESCE($5, total_rows),
                updated_at = now()
         WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3",
        &[&client_id, &batch, &physical, &parquet_name, &total_rows],
    )
    .await
    .map_err(|e| pg_error("updating tools.file_audit_log", e))?;
    Ok(())
}

/// Whether `physical` is the only file of the batch whose configuration targets
/// `schema.table` (rows of the batch with no file name can then only be this file's).
pub async fn sole_file_for_table(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    schema: &str,
    table: &str,
) -> Result<bool> {
    let c = client(pool).await?;
    let others: i64 = c
        .query_one(
            "SELECT count(*) FROM tools.file_audit_log a
             JOIN tools.client_config cc ON cc.client_id = a.client_id
              AND cc.logical_source_file = a.logical_source_file AND cc.source_system = a.source_system
             WHERE a.client_id = $1 AND a.batch_id = $2 AND a.physical_file_name <> $3
               AND cc.target_schema = $4 AND cc.target_table = $5",
            &[&client_id, &batch, &physical, &schema, &table],
        )
        .await
        .map_err(|e| pg_error("reading tools.file_audit_log", e))?
        .get(0);
    Ok(others == 0)
}

/// Records a file set aside (failed) with its reason, creating the audit row if needed.
pub async fn audit_failed(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    source: &str,
    reason: &str,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.file_audit_log (client_id, batch_id, physical_file_name, source_system, convert_status, error_message)
         VALUES ($1, $2, $3, $4, 'FAILED', $5)
         ON CONFLICT (client_id, batch_id, physical_file_name) DO UPDATE
           SET error_message = $5, updated_at = now(),
               convert_status = CASE WHEN tools.file_audit_log.convert_status IN ('PENDING', 'RUNNING') THEN 'FAILED' ELSE tools.file_audit_log.convert_status END,
               load_status = CASE WHEN tools.file_audit_log.load_status = 'SUCCESS' THEN 'SUCCESS' ELSE 'FAILED' END",
        &[&client_id, &batch, &physical, &source, &reason],
    )
    .await
    .map_err(|e| pg_error("writing tools.file_audit_log", e))?;
    Ok(())
}

/// One row per execution; a retried start does not add a second.
pub async fn job_begin(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    mode: &str,
    execution: &str,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.job_execution_log (client_id, batch_id, mode, execution_name, status)
         SELECT $1, $2, $3, $4, 'RUNNING'
         WHERE NOT EXISTS (SELECT 1 FROM tools.job_execution_log WHERE execution_name = $4)",
        &[&client_id, &batch, &mode, &execution],
    )
    .await
    .map_err(|e| pg_error("writing tools.job_execution_log", e))?;
    Ok(())
}

pub async fn job_end(
    pool: &Pool,
    execution: &str,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "UPDATE tools.job_execution_log SET status = $2, error_message = $3, finished_at = now() WHERE execution_name = $1",
        &[&execution, &status, &error],
    )
    .await
    .map_err(|e| pg_error("updating tools.job_execution_log", e))?;
    Ok(())
}

/// How many executions of `mode` this batch has had (names repeated restarts uniquely).
pub async fn executions_of(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    mode: Option<&str>,
) -> Result<i64> {
    let c = client(pool).await?;
    let row = c
        .query_one(
            "SELECT count(*) FROM tools.job_execution_log
             WHERE client_id = $1 AND batch_id = $2 AND ($3::text IS NULL OR mode = $3)",
            &[&client_id, &batch, &mode],
        )
        .await
        .map_err(|e| pg_error("reading tools.job_execution_log", e))?;
    Ok(row.get(0))
}

#[allow(clippy::too_many_arguments)]
pub async fn log_mapping(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    status: &str,
    missing: &[String],
    extra: &[String],
    message: &str,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.mapping_validation_log (client_id, batch_id, physical_file_name, status, missing_columns, extra_columns, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&client_id, &batch, &physical, &status, &missing, &extra, &message],
    )
    .await
    .map_err(|e| pg_error("writing tools.mapping_validation_log", e))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn log_row_rule(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    rule: &str,
    column: Option<&str>,
    failed_rows: i64,
    severity: &str,
    sample: &Value,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.row_validation_log (client_id, batch_id, physical_file_name, rule, column_name, failed_rows, severity, sample)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&client_id, &batch, &physical, &rule, &column, &failed_rows, &severity, sample],
    )
    .await
    .map_err(|e| pg_error("writing tools.row_validation_log", e))?;
    Ok(())
}

pub async fn log_load_error(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    table: &str,
    message: &str,
) -> Result<()> {
    let c = client(pool).await?;
    c.execute(
        "INSERT INTO tools.load_error_log (client_id, batch_id, physical_file_name, target_table, error_message)
         VALUES ($1, $2, $3, $4, $5)",
        &[&client_id, &batch, &physical, &table, &message],
    )
    .await
    .map_err(|e| pg_error("writing tools.load_error_log", e))?;
    Ok(())
}

/// Clears this batch's validation logs for a file before a stage re-runs, so a re-run leaves
/// the same rows as a first run.
pub async fn clear_validation(
    pool: &Pool,
    client_id: i32,
    batch: &str,
    physical: &str,
    table: &'static str,
) -> Result<()> {
    let table = match table {
        "mapping" => "tools.mapping_validation_log",
        "rows" => "tools.row_validation_log",
        _ => return Err(Error::fatal("unknown validation log")),
    };
    let c = client(pool).await?;
    c.execute(
        &format!(
            "DELETE FROM {table} WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3"
        ),
        &[&client_id, &batch, &physical],
    )
    .await
    .map_err(|e| pg_error("clearing a validation log", e))?;
    Ok(())
}
