//! The indexer: a sidecar arrived in the lake (S3 event via SQS in AWS, the lake watcher under
//! `muara up`) → the audio object it names is checked against the sidecar (present, same size,
//! same checksum) → the recording row is upserted, idempotent by call id.
//!
//! Redelivery changes nothing: the same sidecar writes the same row. A call id already indexed
//! with *different* audio keeps the first row; the second sidecar is recorded in
//! `recordings.index_error` with the reason, as is a sidecar whose audio is missing or differs.
//! Transient faults (store, database) are returned as errors so the queue redelivers.

use crate::sidecar::{Sidecar, checksum_matches};
use deadpool_postgres::Pool;
use muara_core::ports::ObjectStore;
use muara_core::{ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;

/// What indexing one sidecar did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    /// The row was written (first time, or the same recording again).
    Migrated { call_id: String },
    /// The sidecar could not be used; the reason is recorded.
    Rejected { reason: String },
}

/// Indexes the sidecar at `key`.
#[tracing::instrument(name = "index", skip_all, fields(%key))]
pub async fn index_sidecar(store: &dyn ObjectStore, pool: &Pool, key: &str) -> Result<Indexed> {
    let raw = match store.get(key).await {
        Ok(raw) => raw,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // Deleted since the notification: nothing to index, nothing lost.
            tracing::warn!(%key, "sidecar gone before it was indexed");
            return Ok(Indexed::Rejected {
                reason: "the sidecar no longer exists".into(),
            });
        }
        Err(e) => return Err(e),
    };
    let sidecar = match Sidecar::parse(&raw) {
        Ok(s) => s,
        Err(refused) => return reject(pool, key, None, refused.to_string()).await,
    };
    let call_id = sidecar.recording.call_id.clone();
    let audio = &sidecar.audio;
    let reason = match store.head(&audio.key).await? {
        None => Some(format!("the audio object {} does not exist", audio.key)),
        Some(info) if info.size != audio.size => Some(format!(
            "the audio object {} has {} bytes, the sidecar says {}",
            audio.key, info.size, audio.size
        )),
        Some(info) => match info.sha256.as_deref() {
            Some(sum) if checksum_matches(sum, &audio.checksum) => None,
            Some(sum) => Some(format!(
                "the audio object {} has checksum {sum}, the sidecar says {}",
                audio.key, audio.checksum
            )),
            None => Some(format!(
                "the store reports no checksum for the audio object {}",
                audio.key
            )),
        },
    };
    if let Some(reason) = reason {
        return reject(pool, key, Some(&call_id), reason).await;
    }
    match upsert(pool, key, &sidecar).await? {
        None => {
            tracing::info!(%call_id, %key, "recording indexed");
            Ok(Indexed::Migrated { call_id })
        }
        Some(existing) => {
            let reason = format!(
                "call id {call_id} is already indexed with other audio ({existing}); the first recording is kept"
            );
            reject(pool, key, Some(&call_id), reason).await
        }
    }
}

/// Writes the row; `Some(existing audio key)` when the call id belongs to other audio.
async fn upsert(pool: &Pool, key: &str, s: &Sidecar) -> Result<Option<String>> {
    let r = &s.recording;
    let a = &s.audio;
    let client = pool.get().await.map_err(pool_error)?;
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let custom = serde_json::to_value(&r.custom)?;
    let row = client
        .query_opt(
            "INSERT INTO recordings.recording AS r (call_id, started_at, ended_at, duration_ms,
                 agent_id, agent_name, extension, caller, callee, direction, queue, custom,
                 audio_key, audio_size, audio_sha256, audio_checksum, codec, sample_rate, channels,
                 audio_ms, sidecar_key, source_host, source_path, uploaded_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
             ON CONFLICT (call_id) DO UPDATE SET
                 started_at = excluded.started_at, ended_at = excluded.ended_at,
                 duration_ms = excluded.duration_ms, agent_id = excluded.agent_id,
                 agent_name = excluded.agent_name, extension = excluded.extension,
                 caller = excluded.caller, callee = excluded.callee,
                 direction = excluded.direction, queue = excluded.queue, custom = excluded.custom,
                 audio_key = excluded.audio_key, audio_checksum = excluded.audio_checksum,
                 sidecar_key = excluded.sidecar_key, source_host = excluded.source_host,
                 source_path = excluded.source_path, uploaded_at = excluded.uploaded_at,
                 updated_at = now()
               WHERE r.audio_sha256 = excluded.audio_sha256
             RETURNING call_id",
            &[
                &r.call_id,
                &r.started_at,
                &r.ended_at,
                &to_i64(r.duration_ms),
                &r.agent_id,
                &r.agent_name,
                &r.extension,
                &r.caller,
                &r.callee,
                &r.direction.as_str(),
                &r.queue,
                &custom,
                &a.key,
                &to_i64(a.size),
                &a.sha256,
                &a.checksum,
                &a.format.codec,
                &i32::try_from(a.format.sample_rate).unwrap_or(i32::MAX),
                &i16::try_from(a.format.channels).unwrap_or(i16::MAX),
                &to_i64(a.format.duration_ms),
                &key,
                &s.source.host,
                &s.source.path,
                &s.uploaded_at,
            ],
        )
        .await
        .map_err(|e| pg_error("indexing a recording", e))?;
    if row.is_some() {
        return Ok(None);
    }
    let existing = client
        .query_one(
            "SELECT audio_key FROM recordings.recording WHERE call_id = $1",
            &[&r.call_id],
        )
        .await
        .map_err(|e| pg_error("reading an indexed recording", e))?;
    Ok(Some(existing.get(0)))
}

async fn reject(pool: &Pool, key: &str, call_id: Option<&str>, reason: String) -> Result<Indexed> {
    tracing::error!(%key, call_id, %reason, "sidecar not indexed");
    let client = pool.get().await.map_err(pool_error)?;
    client
        .execute(
            "INSERT INTO recordings.index_error (sidecar_key, call_id, reason) VALUES ($1, $2, $3)
             ON CONFLICT (sidecar_key, reason) DO UPDATE SET at = now()",
            &[&key, &call_id, &reason],
        )
        .await
        .map_err(|e| pg_error("recording an indexing error", e))?;
    Ok(Indexed::Rejected { reason })
}
