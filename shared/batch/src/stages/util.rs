use crate::model::Deps;
use muara_core::{ErrorKind, Result};
use std::path::PathBuf;

/// A private staging folder for one stage run, removed when dropped.
pub(crate) fn staging(deps: &Deps) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(&deps.work_dir)?;
    Ok(tempfile::Builder::new()
        .prefix("muara-batch-")
        .tempdir_in(&deps.work_dir)?)
}

/// Downloads `key` into `dir`, returning the local path.
pub(crate) async fn fetch(
    deps: &Deps,
    key: &str,
    dir: &tempfile::TempDir,
    name: &str,
) -> Result<PathBuf> {
    let path = dir.path().join(name);
    deps.store.download(key, &path).await?;
    Ok(path)
}

/// Moves an object if it is still where it was; a missing source is fine (already moved by an
/// earlier run of the same stage).
pub(crate) async fn move_if_present(deps: &Deps, from: &str, to: &str) -> Result<bool> {
    if from == to {
        return Ok(false);
    }
    match deps.store.rename(from, to).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs blocking work (conversion, Parquet reading) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        muara_core::Error::with_source(ErrorKind::Fatal, "a blocking task panicked", e)
    })?
}

/// Maps a conversion error: the file's own problems are bad input, never retried.
pub(crate) fn convert_error(context: &str, e: muara_convert::ConvertError) -> muara_core::Error {
    let kind = if e.is_config() {
        ErrorKind::Config
    } else if e.is_bad_input() {
        ErrorKind::Invalid
    } else {
        ErrorKind::Retryable
    };
    muara_core::Error::with_source(kind, format!("{context}: {e}"), e)
}

/// Sets one stage's status on the file's audit row.
pub(crate) async fn audit(
    deps: &Deps,
    b: &crate::model::BatchRef,
    f: &crate::model::FileItem,
    column: crate::repo::AuditColumn,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    crate::repo::audit_set(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        column,
        status,
        error,
    )
    .await
}

/// A validation stage refusing a file: the stage's status and reason on the audit row, the
/// Parquet to `data/…/failed/`, and the bad-input error that routes the file to MarkFileFailed.
pub(crate) async fn reject(
    deps: &Deps,
    b: &crate::model::BatchRef,
    f: &crate::model::FileItem,
    column: crate::repo::AuditColumn,
    stage: &str,
    reason: &str,
) -> Result<muara_core::Error> {
    audit(deps, b, f, column, "FAILED", Some(reason)).await?;
    if let Some(k) = crate::layout::LakeKey::parse(&f.parquet_key) {
        move_if_present(deps, &f.parquet_key, &k.in_area("failed").key()).await?;
    }
    Ok(muara_core::Error::invalid(format!(
        "{stage} {}: {reason}",
        f.physical_file_name
    )))
}
