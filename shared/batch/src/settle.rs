//! Complete files only. An uploader copying into `incoming/` (SFTP, SMB, `cp`) writes a file
//! over seconds or minutes; a batch must never take it half-written. A new file is taken only
//! once its size and modification time have stood still for the client's settle time
//! (`MUARA_SETTLE_SECONDS`, default 3): a file younger than that is looked at again after the
//! remainder of the settle time, and left for a later batch if it changed meanwhile (the lake
//! watcher announces it again once it stands still). A file written under a temporary name and
//! renamed into `incoming/` — the convention for uploaders — is old enough at once, and so is
//! an S3 object (complete by nature) after at most one short wait: one code path for both.

use crate::model::Deps;
use muara_core::Result;
use muara_core::ports::ObjectInfo;
use std::time::Duration;

/// The settle time when `MUARA_SETTLE_SECONDS` is not set.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

/// `MUARA_SETTLE_SECONDS`, or [`DEFAULT_SETTLE`].
pub fn from_env() -> Result<Duration> {
    match std::env::var("MUARA_SETTLE_SECONDS") {
        Err(_) => Ok(DEFAULT_SETTLE),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                muara_core::Error::config(format!(
                    "MUARA_SETTLE_SECONDS={v:?} is not a number of seconds between 0 and 3600"
                ))
            }),
    }
}

fn age(o: &ObjectInfo, now: time::OffsetDateTime) -> Duration {
    o.last_modified
        .map(|m| Duration::try_from(now - m).unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::MAX)
}

/// The files of `files` that are complete: unchanged for the settle time. Waits at most the
/// settle time once; files that changed meanwhile are left out (and logged).
pub async fn settled(deps: &Deps, files: Vec<ObjectInfo>) -> Result<Vec<ObjectInfo>> {
    if deps.settle.is_zero() {
        return Ok(files);
    }
    let now = time::OffsetDateTime::now_utc();
    let (old, fresh): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|o| age(o, now) >= deps.settle);
    if fresh.is_empty() {
        return Ok(old);
    }
    let youngest = fresh
        .iter()
        .map(|o| age(o, now))
        .min()
        .unwrap_or(Duration::ZERO);
    tokio::time::sleep(deps.settle.saturating_sub(youngest)).await;
    let mut out = old;
    for before in fresh {
        match deps.store.head(&before.key).await? {
            Some(now) if now.size == before.size && now.last_modified == before.last_modified => {
                out.push(now);
            }
            Some(now) => tracing::info!(
                key = %before.key,
                size_before = before.size,
                size_now = now.size,
                "still being written: left for a later batch"
            ),
            None => tracing::info!(key = %before.key, "gone before it settled"),
        }
    }
    Ok(out)
}
