//! The lake watcher: what S3 event notifications are to the bucket, this is to the local lake
//! folder.
//!
//! Every scan lists the folder; a file is announced once it has kept the same size and
//! modification time for two scans in a row (a file still being copied in is not), as an S3
//! `ObjectCreated` notification sent to a queue. What was announced is remembered in
//! PostgreSQL, so a restart does not announce everything again, and a file that changes is
//! announced again, as S3 would. Sending comes before remembering: after a crash in between,
//! an object is announced twice rather than never (consumers are idempotent).

use deadpool_postgres::Pool;
use muara_core::Result;
use muara_core::ports::{OutgoingMessage, Queue};
use muara_core::s3event::{S3Event, S3EventRecord};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use muara_local::dirstore::DirStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Key → (size, modification time in ns).
type Signatures = HashMap<String, (u64, i64)>;

#[derive(Clone)]
pub struct LakeWatcher {
    store: DirStore,
    pool: Pool,
    queue: Arc<dyn Queue>,
    bucket: String,
    /// Key prefixes to watch (all keys when empty).
    prefixes: Vec<String>,
    last: Arc<tokio::sync::Mutex<Signatures>>,
    /// What was announced (loaded from PostgreSQL on the first scan, then kept current), so a
    /// scan of an unchanged lake costs no query per object.
    announced: Arc<tokio::sync::Mutex<Option<Signatures>>>,
}

impl std::fmt::Debug for LakeWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeWatcher")
            .field("root", &self.store.root())
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

fn mtime_ns(md: &std::fs::Metadata) -> i64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

impl LakeWatcher {
    pub fn new(
        store: DirStore,
        pool: Pool,
        queue: Arc<dyn Queue>,
        bucket: &str,
        prefixes: Vec<String>,
    ) -> Self {
        Self {
            store,
            pool,
            queue,
            bucket: bucket.to_string(),
            prefixes,
            last: Arc::default(),
            announced: Arc::default(),
        }
    }

    /// One scan; returns the keys announced.
    pub async fn scan_once(&self) -> Result<Vec<String>> {
        let mut seen = Vec::new();
        if self.prefixes.is_empty() {
            seen = self.store.scan("").await?;
        } else {
            for p in &self.prefixes {
                seen.extend(self.store.scan(p).await?);
            }
        }
        let mut last = self.last.lock().await;
        let mut current = HashMap::with_capacity(seen.len());
        let mut stable = Vec::new();
        for (key, md) in seen {
            let sig = (md.len(), mtime_ns(&md));
            if last.get(&key) == Some(&sig) {
                stable.push((key.clone(), sig));
            }
            current.insert(key, sig);
        }
        *last = current;
        drop(last);

        let mut announced = Vec::new();
        if stable.is_empty() {
            return Ok(announced);
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        let mut known = self.announced.lock().await;
        if known.is_none() {
            let rows = client
                .query(
                    "SELECT key, size, mtime_ns FROM muara_local.lake_objects",
                    &[],
                )
                .await
                .map_err(|e| pg_error("reading announced objects", e))?;
            *known = Some(
                rows.iter()
                    .map(|r| {
                        let size: i64 = r.get(1);
                        (r.get(0), (u64::try_from(size).unwrap_or(0), r.get(2)))
                    })
                    .collect(),
            );
        }
        let known = known.get_or_insert_with(HashMap::new);
        for (key, (size, mtime)) in stable {
            let size_i = i64::try_from(size).unwrap_or(i64::MAX);
            if known.get(&key) == Some(&(size, mtime)) {
                continue;
            }
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let event = S3Event {
                records: vec![S3EventRecord::object_created(
                    &self.bucket,
                    &key,
                    size,
                    &now,
                )],
            };
            self.queue
                .send_batch(&[OutgoingMessage::new(serde_json::to_string(&event)?)])
                .await?;
            client
                .execute(
                    "INSERT INTO muara_local.lake_objects (key, size, mtime_ns) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, seen_at = now()",
                    &[&key, &size_i, &mtime],
                )
                .await
                .map_err(|e| pg_error("remembering an announced object", e))?;
            known.insert(key.clone(), (size, mtime));
            tracing::info!(%key, size, "object announced");
            announced.push(key);
        }
        Ok(announced)
    }
}
