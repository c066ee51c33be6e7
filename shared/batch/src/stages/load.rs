//! Load bronze: one transaction per file — delete the batch's rows, `COPY` the file's rows
//! with `dwh_batch_id` and `dwh_load_ts` — then archive the raw file and the Parquet.
//! Re-running it leaves the same rows.

use super::util::{blocking, convert_error, fetch, move_if_present, staging};
use crate::cast::castable;
use crate::ident::{qualified, quote};
use crate::layout::LakeKey;
use crate::model::{Deps, FileInput, FileResult, FileStatus};
use crate::repo::{self, AuditColumn};
use bytes::Bytes;
use futures::SinkExt as _;
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;

/// One CSV field as PostgreSQL's CSV `COPY` reads it: unquoted empty is NULL, anything else is
/// quoted with quotes doubled.
fn csv_field(out: &mut String, v: Option<&str>) {
    if let Some(v) = v {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

pub async fn load_bronze(deps: &Deps, input: FileInput) -> Result<FileResult> {
    let (b, f) = (&input.batch, &input.file);
    let table = qualified(&f.target_schema, &f.target_table)?;
    let mapping = repo::mapping(&deps.pool, f.config_id).await?;
    if mapping.is_empty() {
        return Err(Error::invalid(format!(
            "load {}: no column_mapping configured",
            f.physical_file_name
        )));
    }
    let mut target_cols = Vec::with_capacity(mapping.len() + 2);
    for m in &mapping {
        target_cols.push(quote(&m.target_column)?);
    }
    target_cols.push("\"dwh_batch_id\"".into());
    target_cols.push("\"dwh_load_ts\"".into());
    let copy_sql = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT csv)",
        target_cols.join(", ")
    );
    let delete_sql = format!("DELETE FROM {table} WHERE dwh_batch_id = $1");

    let dir = staging(deps)?;
    let parquet = fetch(deps, &f.parquet_key, &dir, "in.parquet").await?;
    let warning_policy = f.row_validation_policy != "fatal";
    let load_ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::with_source(ErrorKind::Fatal, "formatting the load time", e))?;

    // Rows are encoded on a blocking thread and streamed through a small channel: memory
    // stays at a few batches whatever the file size.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(4);
    let sources: Vec<(String, Option<String>)> = mapping
        .iter()
        .map(|m| (m.source_column.clone(), m.target_data_type.clone()))
        .collect();
    let batch_id = b.batch_id.clone();
    let producer = blocking(move || {
        let batches = muara_convert::read_string_batches(&parquet, 8192)
            .map_err(|e| convert_error("reading the Parquet", e))?;
        let mut rows = 0u64;
        for batch in batches {
            let batch = batch.map_err(|e| convert_error("reading the Parquet", e))?;
            let idx: Vec<Option<usize>> = sources
                .iter()
                .map(|(s, _)| batch.columns.iter().position(|c| c == s))
                .collect();
            let mut buf = String::with_capacity(batch.rows * 64);
            for r in 0..batch.rows {
                for (j, (_, ty)) in sources.iter().enumerate() {
                    let mut v = idx[j].and_then(|i| batch.values[i][r].as_deref());
                    // Under the warning policy a value that cannot be cast was reported by
                    // row validation and is loaded as NULL rather than failing the file.
                    if let (Some(val), Some(ty)) = (v, ty.as_deref())
                        && (val.trim().is_empty() || (warning_policy && !castable(val, ty)))
                    {
                        v = None;
                    }
                    csv_field(&mut buf, v);
                    buf.push(',');
                }
                csv_field(&mut buf, Some(&batch_id));
                buf.push(',');
                csv_field(&mut buf, Some(&load_ts));
                buf.push('\n');
                rows += 1;
            }
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                break; // the loader stopped (it reports why)
            }
        }
        Ok(rows)
    });

    let load = async {
        let mut client = deps.pool.get().await.map_err(pool_error)?;
        let tx_db = client
            .transaction()
            .await
            .map_err(|e| pg_error("load: begin", e))?;
        tx_db
            .execute(&delete_sql, &[&b.batch_id])
            .await
            .map_err(|e| {
                pg_error(
                    &format!("load: deleting batch {} from {table}", b.batch_id),
                    e,
                )
            })?;
        let sink = tx_db
            .copy_in::<_, Bytes>(&copy_sql)
            .await
            .map_err(|e| pg_error(&format!("load: COPY into {table}"), e))?;
        futures::pin_mut!(sink);
        while let Some(chunk) = rx.recv().await {
            sink.send(chunk?)
                .await
                .map_err(|e| pg_error(&format!("load: COPY into {table}"), e))?;
        }
        let copied = sink
            .finish()
            .await
            .map_err(|e| pg_error(&format!("load: COPY into {table}"), e))?;
        tx_db
            .commit()
            .await
            .map_err(|e| pg_error("load: commit", e))?;
        Ok::<u64, Error>(copied)
    };
    let (produced, loaded) = tokio::join!(producer, load);
    let outcome = match (produced, loaded) {
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e),
        (Ok(_), Ok(n)) => Ok(n),
    };
    let rows = match outcome {
        Ok(n) => n,
        Err(e) => {
            if !e.is_retryable() {
                repo::log_load_error(
                    &deps.pool,
                    b.client_id,
                    &b.batch_id,
                    &f.physical_file_name,
                    &table,
                    &e.chain(),
                )
                .await?;
                repo::audit_set(
                    &deps.pool,
                    b.client_id,
                    &b.batch_id,
                    &f.physical_file_name,
                    AuditColumn::Load,
                    "FAILED",
                    Some(e.message()),
                )
                .await?;
            }
            return Err(e);
        }
    };

    // Archive only after the commit: a crash before this point re-runs the whole load.
    if let Some(k) = LakeKey::parse(&f.raw_key).filter(|k| k.area == "incoming") {
        move_if_present(deps, &f.raw_key, &k.in_area("archive").key()).await?;
    }
    if let Some(k) = LakeKey::parse(&f.parquet_key) {
        move_if_present(deps, &f.parquet_key, &k.in_area("archive").key()).await?;
    }
    repo::audit_facts(
        &deps.pool,
        b.client_id,
        &b.batch_id,
        &f.physical_file_name,
        None,
        Some(i64::try_from(rows).unwrap_or(i64::MAX)),
    )
    .await?;
    repo::audit_set(
        &deps.pool,
        b.client_id,
        &b.batch_id,
        &f.physical_file_name,
        AuditColumn::Load,
        "SUCCESS",
        None,
    )
    .await?;
    tracing::info!(file = %f.physical_file_name, rows, %table, "loaded into bronze");
    Ok(FileResult {
        physical_file_name: f.physical_file_name.clone(),
        source_system: f.source_system.clone(),
        status: FileStatus::Loaded,
        rows: Some(rows),
        parquet_name: Some(crate::ids::parquet_name(&f.physical_file_name)),
        error: None,
    })
}
