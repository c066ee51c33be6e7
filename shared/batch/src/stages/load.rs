//! Load bronze: one transaction per file — delete the rows *this file* loaded in this batch
//! before, `COPY` the file's rows with `dwh_batch_id`, `dwh_source_file` and `dwh_load_ts` —
//! then archive the raw file and the Parquet. Re-running it leaves the same rows, and it never
//! removes rows another file wrote (files of one batch may share a table).

use super::util::{audit, blocking, convert_error, fetch, move_if_present, staging};
use crate::cast::castable;
use crate::ident::{qualified, quote};
use crate::layout::LakeKey;
use crate::model::{Deps, FileInput, FileResult, FileStatus};
use crate::pgvalue::Kind;
use crate::repo::{self, AuditColumn};
use bytes::{BufMut, Bytes, BytesMut};
use futures::SinkExt as _;
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;

/// How long one chunk of a COPY may wait for the server before the load is retried.
const COPY_STALL: std::time::Duration = std::time::Duration::from_secs(120);

/// How rows go over the wire.
enum Encoder {
    /// PostgreSQL's binary COPY format, one [`Kind`] per mapped column.
    Binary(Vec<Kind>),
    Csv,
}

/// The types of the target columns, as binary kinds (`None` where binary is not supported).
async fn column_kinds(deps: &Deps, table: &str, cols: &[String]) -> Result<Vec<Option<Kind>>> {
    let client = deps.pool.get().await.map_err(pool_error)?;
    let stmt = client
        .prepare(&format!("SELECT {} FROM {table} LIMIT 0", cols.join(", ")))
        .await
        .map_err(|e| pg_error(&format!("load: reading the columns of {table}"), e))?;
    Ok(stmt.columns().iter().map(|c| Kind::of(c.type_())).collect())
}

/// The column every bronze row carries with the name of the file it came from (next to
/// `dwh_batch_id`): the scope of a load's replace. Added to a table that lacks it on its first
/// load; rows loaded before that keep NULL.
pub const FILE_COLUMN: &str = "dwh_source_file";

/// What the loader adds to every row, after the mapped columns: `dwh_batch_id`,
/// `dwh_load_ts`, `dwh_source_file`, in that order.
struct Stamp {
    batch_id: String,
    file: String,
    load_ts: String,
    load_at: time::OffsetDateTime,
}

/// Reads the Parquet and sends encoded chunks; returns the number of rows.
fn encode_rows(
    parquet: &std::path::Path,
    sources: &[(String, Option<String>)],
    encoder: &Encoder,
    warning_policy: bool,
    stamp: &Stamp,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes>>,
) -> Result<u64> {
    let batches = muara_convert::read_string_batches(parquet, 8192)
        .map_err(|e| convert_error("reading the Parquet", e))?;
    let mut rows = 0u64;
    let mut first = true;
    for batch in batches {
        let batch = batch.map_err(|e| convert_error("reading the Parquet", e))?;
        let idx: Vec<Option<usize>> = sources
            .iter()
            .map(|(s, _)| batch.columns.iter().position(|c| c == s))
            .collect();
        let chunk = match encoder {
            Encoder::Csv => {
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
                    csv_field(&mut buf, Some(&stamp.batch_id));
                    buf.push(',');
                    csv_field(&mut buf, Some(&stamp.load_ts));
                    buf.push(',');
                    csv_field(&mut buf, Some(&stamp.file));
                    buf.push('\n');
                }
                Bytes::from(buf)
            }
            Encoder::Binary(kinds) => {
                let mut buf = BytesMut::with_capacity(batch.rows * 96 + 19);
                if first {
                    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
                    buf.put_i32(0); // flags
                    buf.put_i32(0); // header extension length
                }
                let fields =
                    i16::try_from(kinds.len()).map_err(|_| Error::invalid("too many columns"))?;
                for r in 0..batch.rows {
                    buf.put_i16(fields);
                    for (j, kind) in kinds.iter().enumerate() {
                        let value = match j.checked_sub(sources.len()) {
                            None => idx[j].and_then(|i| batch.values[i][r].as_deref()),
                            Some(0) => Some(stamp.batch_id.as_str()),
                            Some(1) => {
                                buf.put_i32(8);
                                buf.put_i64(pg_micros(stamp.load_at));
                                continue;
                            }
                            Some(_) => Some(stamp.file.as_str()),
                        };
                        let Some(v) = value.filter(|v| *kind == Kind::Text || !v.trim().is_empty())
                        else {
                            buf.put_i32(-1);
                            continue;
                        };
                        let at = buf.len();
                        buf.put_i32(0);
                        if kind.encode(v, &mut buf).is_some() {
                            let len = i32::try_from(buf.len() - at - 4)
                                .map_err(|_| Error::invalid("value too large"))?;
                            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
                        } else if warning_policy {
                            buf.truncate(at);
                            buf.put_i32(-1);
                        } else {
                            return Err(Error::invalid(format!(
                                "row {}: column {:?} value {v:?} is not a valid {kind:?}",
                                rows + r as u64 + 1,
                                sources[j].0
                            )));
                        }
                    }
                }
                Bytes::from(buf)
            }
        };
        first = false;
        rows += batch.rows as u64;
        if tx.blocking_send(Ok(chunk)).is_err() {
            break; // the loader stopped (it reports why)
        }
    }
    if let Encoder::Binary(_) = encoder {
        let mut trailer = BytesMut::new();
        if first {
            trailer.put_slice(b"PGCOPY\n\xff\r\n\0");
            trailer.put_i32(0);
            trailer.put_i32(0);
        }
        trailer.put_i16(-1);
        let _ = tx.blocking_send(Ok(trailer.freeze()));
    }
    Ok(rows)
}

/// The rows of `file` in `batch` that `table` (qualified, quoted) holds.
pub(crate) async fn file_rows(deps: &Deps, table: &str, batch: &str, file: &str) -> Result<i64> {
    let client = deps.pool.get().await.map_err(pool_error)?;
    Ok(client
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE dwh_batch_id = $1 AND {FILE_COLUMN} = $2"),
            &[&batch, &file],
        )
        .await
        .map_err(|e| pg_error(&format!("counting the rows of {file} in {table}"), e))?
        .get(0))
}

/// Adds [`FILE_COLUMN`] to a bronze table that does not have it yet (tables made before loads
/// were scoped by file). Checked first, so a load takes no exclusive lock on a table that has it.
async fn ensure_file_column(deps: &Deps, table: &str) -> Result<()> {
    let client = deps.pool.get().await.map_err(pool_error)?;
    let has: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute
                            WHERE attrelid = $1::text::regclass AND attname = $2 AND NOT attisdropped)",
            &[&table, &FILE_COLUMN],
        )
        .await
        .map_err(|e| pg_error(&format!("load: reading the columns of {table}"), e))?
        .get(0);
    if !has {
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {FILE_COLUMN} text"
            ))
            .await
            .map_err(|e| pg_error(&format!("load: adding {FILE_COLUMN} to {table}"), e))?;
        tracing::info!(%table, "bronze table given its {FILE_COLUMN} column");
    }
    Ok(())
}

fn pg_micros(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX) - 946_684_800_000_000
}

/// One CSV field as PostgreSQL's CSV `COPY` reads it: unquoted empty is NULL, anything else is
/// quoted with quotes doubled.
fn csv_field(out: &mut String, v: Option<&str>) {
    if let Some(v) = v {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

/// Complete files only: the raw file about to be archived must be the one converted. A file
/// still being written when its batch took it (an uploader that did not write to a temporary
/// name first) has grown or changed since: it fails with that reason instead of loading a part.
/// Reprocessing (no raw file in `incoming/`) and runs whose convert recorded nothing skip it.
async fn unchanged_since_convert(
    deps: &Deps,
    input: &FileInput,
    dir: &tempfile::TempDir,
) -> Result<()> {
    let (b, f) = (&input.batch, &input.file);
    if LakeKey::parse(&f.raw_key).is_none_or(|k| k.area != "incoming") {
        return Ok(());
    }
    let led = crate::ledger::read(
        &deps.pool,
        &crate::ledger::LedgerKey::of(b, &f.physical_file_name),
    )
    .await?;
    let (Some(bytes), Some(sha)) = (led.raw_bytes, led.raw_sha256) else {
        return Ok(());
    };
    let Some(now) = deps.store.head(&f.raw_key).await? else {
        return Ok(()); // archived by an earlier run of this stage
    };
    let changed = if i64::try_from(now.size).ok() != Some(bytes) {
        Some(format!("{bytes} bytes when converted, {} now", now.size))
    } else {
        let raw = fetch(deps, &f.raw_key, dir, "raw.check").await?;
        let (_, now_sha) = blocking(move || {
            let r = muara_core::checksum::sha256_file_hex(&raw);
            let _ = std::fs::remove_file(&raw);
            r.map_err(Error::from)
        })
        .await?;
        (now_sha != sha)
            .then(|| format!("same size, but SHA-256 {sha} when converted, {now_sha} now"))
    };
    let Some(what) = changed else {
        return Ok(());
    };
    let reason = format!(
        "changed while being read ({what}): the file was still being written when the batch took it; \
         nothing was loaded — upload under a temporary name and rename when complete, then restart the batch"
    );
    audit(deps, b, f, AuditColumn::Load, "FAILED", Some(&reason)).await?;
    Err(Error::invalid(format!(
        "load {}: {reason}",
        f.physical_file_name
    )))
}

pub async fn load_bronze(deps: &Deps, input: FileInput) -> Result<FileResult> {
    let (b, f) = (&input.batch, &input.file);
    let table = qualified(&f.target_schema, &f.target_table)?;
    let mapping = repo::mapping_of(&deps.pool, &b.execution_name, f.config_id).await?;
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
    target_cols.push(format!("\"{FILE_COLUMN}\""));
    ensure_file_column(deps, &table).await?;
    // Rows of this batch loaded before the table had a file column carry no file name: they
    // are this load's to replace only when no other file of the batch goes to this table.
    let legacy = repo::sole_file_for_table(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        &f.target_schema,
        &f.target_table,
    )
    .await?;
    let delete_sql = format!(
        "DELETE FROM {table} WHERE dwh_batch_id = $1 AND ({FILE_COLUMN} = $2 OR ({FILE_COLUMN} IS NULL AND $3))"
    );

    let dir = staging(deps)?;
    unchanged_since_convert(deps, &input, &dir).await?;
    let parquet = fetch(deps, &f.parquet_key, &dir, "in.parquet").await?;
    let warning_policy = f.row_validation_policy == crate::model::RowPolicy::Warning;
    let load_ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::with_source(ErrorKind::Fatal, "formatting the load time", e))?;

    // Binary COPY when every column's type is one we encode; otherwise text (CSV) COPY and
    // PostgreSQL parses. The column types come from the table itself.
    let kinds = column_kinds(deps, &table, &target_cols).await?;
    let binary = kinds.iter().all(Option::is_some);
    let copy_sql = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT {})",
        target_cols.join(", "),
        if binary { "binary" } else { "csv" }
    );
    let encoder = if binary {
        Encoder::Binary(kinds.into_iter().flatten().collect())
    } else {
        Encoder::Csv
    };

    // Rows are encoded on a blocking thread and streamed through a small channel: memory
    // stays at a few batches whatever the file size.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(4);
    let sources: Vec<(String, Option<String>)> = mapping
        .iter()
        .map(|m| (m.source_column.clone(), m.target_data_type.clone()))
        .collect();
    let stamp = Stamp {
        batch_id: b.batch_id.to_string(),
        file: f.physical_file_name.clone(),
        load_ts,
        load_at: time::OffsetDateTime::now_utc(),
    };
    let producer = blocking(move || {
        let result = encode_rows(&parquet, &sources, &encoder, warning_policy, &stamp, &tx);
        if result.is_err() {
            // The loader must not commit what it received so far: tell it to abort.
            let _ = tx.blocking_send(Err(Error::invalid(
                "row encoding stopped; nothing was loaded",
            )));
        }
        result
    });

    let load = async {
        // Owned here, so a failed COPY drops the receiver and the producer stops at once
        // (borrowed, it would block forever on a full channel and hang the stage).
        let mut rx = rx;
        let mut client = deps.pool.get().await.map_err(pool_error)?;
        let tx_db = client
            .transaction()
            .await
            .map_err(|e| pg_error("load: begin", e))?;
        crate::lease::check(&tx_db, &b.client, b.lock.as_ref()).await?;
        // One load of a file at a time: a second one (a retry whose first attempt still runs
        // somewhere — an orphaned worker, a Lambda invoked twice) waits for the first to end,
        // then its delete sees and replaces the first's rows. Never both sets.
        tx_db
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!(
                    "muara-load:{table}:{}:{}",
                    b.batch_id, f.physical_file_name
                )],
            )
            .await
            .map_err(|e| pg_error("load: serialising loads of the file", e))?;
        tx_db
            .execute(
                &delete_sql,
                &[&b.batch_id.to_string(), &f.physical_file_name, &legacy],
            )
            .await
            .map_err(|e| {
                pg_error(
                    &format!(
                        "load: deleting the rows of {} (batch {}) from {table}",
                        f.physical_file_name, b.batch_id
                    ),
                    e,
                )
            })?;
        let sink = tx_db
            .copy_in::<_, Bytes>(&copy_sql)
            .await
            .map_err(|e| pg_error(&format!("load: COPY into {table}"), e))?;
        futures::pin_mut!(sink);
        while let Some(chunk) = rx.recv().await {
            // A no-progress limit, not a deadline: a COPY may run for many minutes, but one
            // chunk the server does not take within COPY_STALL means the connection is gone.
            tokio::time::timeout(COPY_STALL, sink.send(chunk?))
                .await
                .map_err(|_| {
                    Error::retryable(format!(
                        "load: COPY into {table} made no progress for {} s; the connection is taken for lost",
                        COPY_STALL.as_secs()
                    ))
                })?
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
                    &b.batch_id.to_string(),
                    &f.physical_file_name,
                    &table,
                    &e.chain(),
                )
                .await?;
                audit(deps, b, f, AuditColumn::Load, "FAILED", Some(e.message())).await?;
            }
            return Err(e);
        }
    };

    // The ledger: COPY's own count, and what bronze holds for the file once committed.
    let in_bronze = file_rows(deps, &table, &b.batch_id.to_string(), &f.physical_file_name).await?;
    crate::ledger::record_load(
        &deps.pool,
        &crate::ledger::LedgerKey::of(b, &f.physical_file_name),
        rows,
        in_bronze,
    )
    .await?;

    // Archive only after the commit: a crash before this point re-runs the whole load.
    if let Some(k) = LakeKey::parse(&f.raw_key).filter(|k| k.area == "incoming") {
        move_if_present(deps, &f.raw_key, &k.in_area("archive").key()).await?;
    }
    if let Some(k) = LakeKey::parse(&f.parquet_key) {
        move_if_present(deps, &f.parquet_key, &k.in_area("archive").key()).await?;
    }
    // Copies of this file an earlier run left in failed/ are superseded by this load: set
    // aside in failed/superseded/, where no restart or reprocess takes them up again.
    for key in [&f.raw_key, &f.parquet_key] {
        if let Some(k) = LakeKey::parse(key) {
            let aside = format!(
                "{}/{}/{}/failed/superseded/{}",
                k.zone, k.client, k.source, k.file
            );
            if move_if_present(deps, &k.in_area("failed").key(), &aside).await? {
                tracing::info!(file = %f.physical_file_name, %aside, "superseded failed copy set aside");
            }
        }
    }
    repo::audit_facts(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        None,
        Some(i64::try_from(rows).unwrap_or(i64::MAX)),
    )
    .await?;
    audit(deps, b, f, AuditColumn::Load, "SUCCESS", None).await?;
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
