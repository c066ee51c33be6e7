//! Mark failed: what the state machine's Catch runs for a file whose stage failed for good.
//! The raw file and its Parquet go to `failed/`, the audit row keeps the reason, the batch
//! goes on with its other files.

use super::util::move_if_present;
use crate::layout::LakeKey;
use crate::model::{Deps, FileInput, FileResult};
use crate::repo;
use muara_core::Result;

pub async fn mark_failed(deps: &Deps, input: FileInput) -> Result<FileResult> {
    let (b, f) = (&input.batch, &input.file);
    let reason = input
        .error
        .as_ref()
        .map(|e| e.message())
        .unwrap_or_else(|| "failed".to_string());
    if let Some(k) = LakeKey::parse(&f.raw_key).filter(|k| k.area == "incoming") {
        move_if_present(deps, &f.raw_key, &k.in_area("failed").key()).await?;
    }
    if let Some(k) = LakeKey::parse(&f.parquet_key).filter(|k| k.area == "incoming") {
        move_if_present(deps, &f.parquet_key, &k.in_area("failed").key()).await?;
    }
    repo::audit_failed(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        &f.source_system,
        &reason,
    )
    .await?;
    crate::ledger::record_failed(
        &deps.pool,
        &crate::ledger::LedgerKey::of(b, &f.physical_file_name),
    )
    .await?;
    tracing::warn!(file = %f.physical_file_name, %reason, "file failed");
    Ok(FileResult::failed(
        &f.physical_file_name,
        &f.source_system,
        None,
        reason,
    ))
}
