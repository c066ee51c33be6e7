//! Convert: the raw file to Parquet (all columns text), uploaded to `data/…/incoming/`.

use super::util::{audit, blocking, convert_error, fetch, staging};
use crate::model::{Deps, FileInput};
use crate::repo::{self, AuditColumn};
use muara_core::Result;
use muara_core::ports::PutOptions;

pub async fn convert(deps: &Deps, mut input: FileInput) -> Result<FileInput> {
    let (b, f) = (&input.batch, &input.file);
    let dir = staging(deps)?;
    let raw = fetch(deps, &f.raw_key, &dir, "source").await?;
    let out = dir.path().join("out.parquet");
    let format = muara_convert::source_format(f.source_type.as_str(), f.source_config.as_ref())
        .map_err(|e| {
            convert_error(
                &format!("convert {}: configuration", f.physical_file_name),
                e,
            )
        });
    let outcome = match format {
        Ok(format) => {
            let (raw, out2, opts, name) = (
                raw.clone(),
                out.clone(),
                deps.convert.clone(),
                f.physical_file_name.clone(),
            );
            blocking(move || {
                let report = muara_convert::convert_file(&raw, &format, &out2, &opts)
                    .map_err(|e| convert_error(&format!("convert {name}"), e))?;
                // The ledger's own counts: the raw file's size and hash, and the rows the
                // Parquet's footer says it holds (not the converter's figure).
                let (bytes, sha256) = muara_core::checksum::sha256_file_hex(&raw)?;
                let footer = muara_convert::parquet_rows(&out2).map_err(|e| {
                    convert_error(&format!("convert {name}: reading the Parquet written"), e)
                })?;
                Ok((report, bytes, sha256, footer))
            })
            .await
        }
        Err(e) => Err(e),
    };
    let (report, raw_bytes, raw_sha256, footer_rows) = match outcome {
        Ok(r) => r,
        Err(e) => {
            if !e.is_retryable() {
                audit(
                    deps,
                    b,
                    f,
                    AuditColumn::Convert,
                    "FAILED",
                    Some(e.message()),
                )
                .await?;
            }
            return Err(e);
        }
    };
    deps.store
        .upload(
            &f.parquet_key,
            &out,
            &PutOptions {
                content_type: Some("application/vnd.apache.parquet".into()),
                ..Default::default()
            },
        )
        .await?;
    let parquet = crate::ids::parquet_name(&f.physical_file_name);
    let rows = i64::try_from(report.rows).unwrap_or(i64::MAX);
    repo::audit_facts(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        Some(&parquet),
        Some(rows),
    )
    .await?;
    crate::ledger::record_convert(
        &deps.pool,
        &crate::ledger::LedgerKey::of(b, &f.physical_file_name),
        raw_bytes,
        &raw_sha256,
        report.rows,
        report.blank_lines,
        footer_rows,
    )
    .await?;
    audit(deps, b, f, AuditColumn::Convert, "SUCCESS", None).await?;
    tracing::info!(file = %f.physical_file_name, rows = report.rows, blank_lines = report.blank_lines, columns = report.columns.len(), parquet = %f.parquet_key, "converted");
    input.rows = Some(report.rows);
    Ok(input)
}
