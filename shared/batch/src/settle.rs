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
use muara_core::ports::{Clock, ObjectInfo, ObjectStore};
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
    settled_on(deps.store.as_ref(), deps.clock.as_ref(), deps.settle, files).await
}

/// [`settled`] on the ports it needs.
pub async fn settled_on(
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    settle: Duration,
    files: Vec<ObjectInfo>,
) -> Result<Vec<ObjectInfo>> {
    if settle.is_zero() {
        return Ok(files);
    }
    let now = clock.now();
    let (old, fresh): (Vec<_>, Vec<_>) = files.into_iter().partition(|o| age(o, now) >= settle);
    if fresh.is_empty() {
        return Ok(old);
    }
    let youngest = fresh
        .iter()
        .map(|o| age(o, now))
        .min()
        .unwrap_or(Duration::ZERO);
    tokio::time::sleep(settle.saturating_sub(youngest)).await;
    let mut out = old;
    for before in fresh {
        match store.head(&before.key).await? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use muara_core::memory::MemStore;
    use muara_core::ports::{ManualClock, PutOptions};
    use std::sync::Arc;

    /// On the memory twins: the store dates objects by a manual clock, and tokio's paused time
    /// runs the settle wait at once, with a writer still appending in the middle of it.
    #[tokio::test(start_paused = true)]
    async fn only_files_that_stood_still_for_the_settle_time_are_taken() {
        let clock = Arc::new(ManualClock::starting_now());
        let store = Arc::new(MemStore::with_clock(clock.clone()));
        let put = |key: &'static str, body: &'static str| {
            let store = store.clone();
            async move {
                store
                    .put(key, body.into(), &PutOptions::default())
                    .await
                    .unwrap()
            }
        };
        let old = put("raw/demo/crm/incoming/old.csv", "a\n1\n").await;
        clock.advance(Duration::from_secs(10));
        let fresh = put("raw/demo/crm/incoming/fresh.csv", "a\n2\n").await;
        let growing = put("raw/demo/crm/incoming/growing.csv", "a\n3\n").await;
        clock.advance(Duration::from_secs(1));
        // Still being copied: one more line lands during the settle wait.
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let opts = PutOptions::default();
                store
                    .put(
                        "raw/demo/crm/incoming/growing.csv",
                        "a\n3\n4\n".into(),
                        &opts,
                    )
                    .await
                    .unwrap();
            })
        };
        let taken = settled_on(
            store.as_ref(),
            clock.as_ref(),
            Duration::from_secs(3),
            vec![old, fresh, growing],
        )
        .await
        .unwrap();
        writer.await.unwrap();
        let keys: Vec<&str> = taken.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "raw/demo/crm/incoming/old.csv",
                "raw/demo/crm/incoming/fresh.csv"
            ]
        );
    }
}
