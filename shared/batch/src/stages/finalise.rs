//! Finalise: the batch's final status in `tools.job_execution_log`, the manifest (with each
//! file's outcome) moved to `batch_info/{client}/success|failed/`, the client's lock released,
//! and files that arrived while the batch ran picked up by a follow-up batch.

use crate::ids::BatchId;
use crate::layout::manifest_key;
use crate::manifest::Manifest;
use crate::model::{BatchSummary, Deps, FileStatus, FinaliseInput, Mode};
use crate::repo;
use bytes::Bytes;
use muara_core::ports::{Lease, PutOptions};
use muara_core::{Error, ErrorKind, Result};

pub async fn finalise(deps: &Deps, input: FinaliseInput) -> Result<BatchSummary> {
    let (client, batch_id, mode, execution, lock, manifest_at) = match (&input.batch, &input.input)
    {
        (Some(b), _) => (
            b.client.clone(),
            b.batch_id.clone(),
            b.mode,
            b.execution_name.clone(),
            b.lock.clone(),
            Some(b.manifest_key.clone()),
        ),
        (None, Some(i)) => (
            i.client.clone(),
            i.batch_id.clone(),
            i.mode,
            i.execution_name.clone(),
            i.lock.clone(),
            None,
        ),
        (None, None) => {
            return Err(Error::invalid(
                "finalise needs the batch or the execution input",
            ));
        }
    };
    let mut all = input.results.clone();
    all.extend(input.rejected.iter().cloned());
    let loaded = all
        .iter()
        .filter(|r| r.status == FileStatus::Loaded)
        .count();
    let failed = all.len() - loaded;
    let rows = all.iter().filter_map(|r| r.rows).sum();
    let status = match (&input.error, all.len(), failed) {
        (Some(_), _, _) => "FAILED",
        (None, 0, _) => "NO_FILES",
        (None, _, 0) => "SUCCESS",
        (None, n, f) if f == n => "FAILED",
        _ => "PARTIAL",
    };
    let error = input
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.error, e.cause))
        .or_else(|| {
            (failed > 0).then(|| {
                all.iter()
                    .filter(|r| r.status == FileStatus::Failed)
                    .map(|r| {
                        format!(
                            "{}: {}",
                            r.physical_file_name,
                            r.error.as_deref().unwrap_or("failed")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        });
    repo::job_end(&deps.pool, &execution, status, error.as_deref()).await?;

    if let (Some(key), Ok(batch)) = (manifest_at, batch_id.parse::<BatchId>()) {
        match deps.store.get(&key).await {
            Ok(body) => {
                let mut manifest: Manifest = serde_json::from_slice(&body)?;
                manifest.status = Some(status.to_string());
                for f in &mut manifest.files {
                    if let Some(r) = all
                        .iter()
                        .find(|r| r.physical_file_name == f.physical_file_name)
                    {
                        f.status = Some(match r.status {
                            FileStatus::Loaded => "LOADED".into(),
                            FileStatus::Failed => "FAILED".into(),
                        });
                        f.parquet_name = r.parquet_name.clone().or(f.parquet_name.take());
                        f.error = r.error.clone();
                    }
                }
                let area = if status == "SUCCESS" || status == "NO_FILES" {
                    "success"
                } else {
                    "failed"
                };
                let dest = manifest_key(&client, area, batch);
                deps.store
                    .put(
                        &dest,
                        Bytes::from(serde_json::to_vec_pretty(&manifest)?),
                        &PutOptions {
                            content_type: Some("application/json".into()),
                            ..Default::default()
                        },
                    )
                    .await?;
                deps.store.delete(&key).await?;
            }
            // A retried finalise already moved it.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }

    if let Some(l) = lock {
        let released = deps.locks.release(&Lease::from(l)).await?;
        if !released {
            tracing::warn!(%client, "the batch lock had expired before finalise; raise the lock TTL if batches run this long");
        }
    }
    tracing::info!(%client, batch = %batch_id, status, loaded, failed, rows, "batch finalised");
    if mode == Mode::Start {
        // Files that arrived after this batch listed incoming/ were acknowledged by a trigger
        // that found the client busy: start their batch now.
        match crate::runner::request(deps, &client, Mode::Start, None).await {
            Ok(outcome) => tracing::info!(%client, ?outcome, "follow-up check"),
            Err(e) => {
                tracing::warn!(%client, error = %e.chain(), "could not start a follow-up batch; the next trigger will")
            }
        }
    }
    Ok(BatchSummary {
        client,
        batch_id,
        mode,
        status: status.into(),
        files: all.len(),
        loaded,
        failed,
        rows,
    })
}
