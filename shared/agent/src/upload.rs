//! One recording, from its two files to a verified object and sidecar in the lake:
//! metadata → audio check → key → checksum → (already there? resume? upload) → verify →
//! sidecar → journal → after-upload policy.

use crate::config::{AfterUpload, Settings};
use crate::journal::{Entry, FailureNote, Journal, State, Upload};
use crate::limiter::Limiter;
use crate::scan::Pair;
use base64::Engine as _;
use bytes::Bytes;
use muara_core::ports::{MultipartUploads, ObjectInfo, ObjectStore, PutOptions};
use muara_core::{Error, ErrorKind, Result};
use muara_recordings::key::sidecar_key;
use muara_recordings::report::Failure;
use muara_recordings::sidecar::{AudioObject, SCHEMA, Sidecar, Source, checksum_matches};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where recordings go: an object store that also does resumable multipart uploads.
pub trait Lake: ObjectStore + MultipartUploads {}
impl<T: ObjectStore + MultipartUploads + ?Sized> Lake for T {}

/// Counters the terminal progress line reads.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// Everything one upload needs.
pub struct Ctx {
    pub settings: Settings,
    pub lake: Arc<dyn Lake>,
    pub journal: Journal,
    pub limiter: Limiter,
    pub progress: Arc<Progress>,
    pub dry_run: bool,
    pub version: &'static str,
    /// One upload per key at a time: two files naming the same call are taken one after the
    /// other, so the second finds the first in the lake (a duplicate) instead of overwriting it.
    pub keys: KeyLocks,
}

/// Per-key mutual exclusion within one agent.
#[derive(Debug, Default)]
pub struct KeyLocks(
    tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

impl KeyLocks {
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().await;
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(key.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("journal", &self.journal)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// What became of one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Uploaded {
        key: String,
        bytes: u64,
    },
    AlreadyPresent {
        key: String,
    },
    /// Only the after-upload policy was left to do, and it is done now.
    PolicyDone,
    /// `--dry-run`: what would be uploaded.
    WouldUpload {
        key: String,
        bytes: u64,
    },
    Failed(Failure),
    /// Uploaded (or found already there) and published, but the after-upload policy failed;
    /// the next pass retries only the policy.
    PolicyFailed {
        published: Box<Outcome>,
        failure: Failure,
    },
}

fn note(
    pair_path: &Path,
    call_id: Option<&str>,
    stage: &str,
    reason: String,
    will_retry: bool,
) -> Failure {
    Failure {
        path: pair_path.display().to_string(),
        call_id: call_id.map(str::to_string),
        stage: stage.to_string(),
        reason,
        will_retry,
    }
}

fn failure(
    pair_path: &Path,
    call_id: Option<&str>,
    stage: &str,
    reason: String,
    will_retry: bool,
) -> Outcome {
    Outcome::Failed(note(pair_path, call_id, stage, reason, will_retry))
}

/// Runs `f` again on transient faults, with exponential backoff (0.5 s doubling, at most 20 s)
/// and jitter, up to `retries` more times.
pub async fn with_retry<T, F, Fut>(retries: u32, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < retries => {
                attempt += 1;
                let jitter =
                    Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 2);
                tracing::warn!(%what, attempt, error = %e.chain(), "transient fault; backing off");
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whole-file SHA-256 and the SHA-256 of each `part_size` slice.
struct Digests {
    whole: String,
    parts: Vec<[u8; 32]>,
}

impl Digests {
    fn part_b64(&self, i: usize) -> Option<String> {
        self.parts
            .get(i)
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
    }

    fn composite(&self) -> String {
        let mut outer = Sha256::new();
        for d in &self.parts {
            outer.update(d);
        }
        format!(
            "{}-{}",
            base64::engine::general_purpose::STANDARD.encode(outer.finalize()),
            self.parts.len()
        )
    }
}

fn hash_file(path: &Path, part_size: u64) -> std::io::Result<Digests> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut whole = Sha256::new();
    let mut parts = Vec::new();
    let mut part = Sha256::new();
    let mut in_part = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let want =
            usize::try_from((part_size - in_part).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        part.update(&buf[..n]);
        in_part += n as u64;
        if in_part == part_size {
            parts.push(std::mem::take(&mut part).finalize().into());
            in_part = 0;
        }
    }
    if in_part > 0 || parts.is_empty() {
        parts.push(part.finalize().into());
    }
    Ok(Digests {
        whole: base64::engine::general_purpose::STANDARD.encode(whole.finalize()),
        parts,
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::fatal(format!("a blocking task failed: {e}")))
}

/// Writes a journal record off the async threads (a commit waits for the disk).
pub(crate) async fn journal_put(journal: &Journal, id: &str, entry: &Entry) -> Result<()> {
    let (j, id, e) = (journal.clone(), id.to_string(), entry.clone());
    blocking(move || j.put(&id, &e))
        .await?
        .map_err(|e| Error::fatal(e.to_string()))
}

/// Reads a journal record off the async threads.
pub(crate) async fn journal_get(journal: &Journal, id: &str) -> Result<Option<Entry>> {
    let (j, id) = (journal.clone(), id.to_string());
    blocking(move || j.get(&id))
        .await?
        .map_err(|e| Error::fatal(e.to_string()))
}

fn format_ms(ms: u64) -> String {
    format!(
        "{}m{:02}.{:01}s",
        ms / 60_000,
        (ms / 1000) % 60,
        (ms % 1000) / 100
    )
}

/// Takes one recording as far as it goes; `prior` is its journal record, if any.
pub async fn process(ctx: &Ctx, pair: &Pair, prior: Option<Entry>) -> Outcome {
    let s = &ctx.settings;
    let id = pair.id();
    // Published before, with only the after-upload policy left (it failed, or a crash).
    if let Some(p) = prior.as_ref().filter(|p| p.state == State::Published) {
        if s.after_upload == AfterUpload::Keep || ctx.dry_run {
            return Outcome::PolicyDone;
        }
        return match apply_policy(ctx, pair, p.clone()).await {
            Ok(()) => Outcome::PolicyDone,
            Err(e) => failure(
                &pair.wav,
                p.call_id.as_deref(),
                "archive",
                e.to_string(),
                true,
            ),
        };
    }

    let xml = match tokio::fs::read(&pair.xml).await {
        Ok(x) => x,
        Err(e) => return failure(&pair.xml, None, "xml", format!("cannot read: {e}"), true),
    };
    let rec = match muara_recordings::xml::parse(&xml, &s.profile) {
        Ok(r) => r,
        Err(e) => return failure(&pair.xml, None, "xml", e.to_string(), false),
    };
    let call_id = Some(rec.call_id.as_str());
    let wav_path = pair.wav.clone();
    let format = match blocking(move || muara_recordings::wav::inspect_file(&wav_path)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return failure(&pair.wav, call_id, "wav", e.to_string(), false),
        Err(e) => return failure(&pair.wav, call_id, "wav", e.chain(), true),
    };
    if format.duration_ms.abs_diff(rec.duration_ms) > s.duration_tolerance_ms {
        return failure(
            &pair.wav,
            call_id,
            "duration",
            format!(
                "the audio lasts {} but the metadata says {} (tolerance {} ms)",
                format_ms(format.duration_ms),
                format_ms(rec.duration_ms),
                s.duration_tolerance_ms
            ),
            false,
        );
    }
    let key = match s.key_template.render(&rec, &s.host) {
        Ok(k) => k,
        Err(e) => return failure(&pair.wav, call_id, "key", e.to_string(), false),
    };
    let size = pair.wav_sig.size;
    let multipart = size > s.multipart_threshold;
    let part_size = if multipart { s.part_size } else { size.max(1) };
    let wav_path = pair.wav.clone();
    let digests = match blocking(move || hash_file(&wav_path, part_size)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            return failure(
                &pair.wav,
                call_id,
                "upload",
                format!("cannot read: {e}"),
                true,
            );
        }
        Err(e) => return failure(&pair.wav, call_id, "upload", e.chain(), true),
    };
    let expected = if multipart {
        digests.composite()
    } else {
        digests.whole.clone()
    };
    if ctx.dry_run {
        return Outcome::WouldUpload { key, bytes: size };
    }
    let _key_guard = ctx.keys.lock(&key).await;

    let resume = prior
        .as_ref()
        .filter(|p| {
            p.state == State::Uploading
                && p.key.as_deref() == Some(key.as_str())
                && p.wav == pair.wav_sig
        })
        .and_then(|p| p.upload.clone())
        .filter(|u| u.part_size == part_size && multipart);
    let mut already = false;
    let mut sent = 0u64;
    let info = if resume.is_none() {
        match with_retry(s.retries, "S3 HeadObject", || ctx.lake.head(&key)).await {
            Ok(Some(info)) => {
                let same = info.sha256.as_deref().is_some_and(|sum| {
                    checksum_matches(sum, &expected) || checksum_matches(sum, &digests.whole)
                }) && info.size == size;
                if !same {
                    return failure(
                        &pair.wav,
                        call_id,
                        "duplicate",
                        format!(
                            "call id {} is already in the lake at {key} with other audio ({} bytes, checksum {}); this file ({size} bytes, checksum {expected}) was not uploaded",
                            rec.call_id,
                            info.size,
                            info.sha256.as_deref().unwrap_or("unknown")
                        ),
                        false,
                    );
                }
                already = true;
                Some(info)
            }
            Ok(None) => None,
            Err(e) => return failure(&pair.wav, call_id, "upload", e.chain(), true),
        }
    } else {
        None
    };
    let info = match info {
        Some(i) => i,
        None => {
            let mut meta = BTreeMap::new();
            meta.insert("call-id".to_string(), rec.call_id.clone());
            meta.insert("source-host".to_string(), s.host.clone());
            let opts = PutOptions {
                content_type: Some("audio/wav".into()),
                metadata: meta,
            };
            let uploaded = if multipart {
                upload_multipart(
                    ctx,
                    pair,
                    &id,
                    &key,
                    &rec.call_id,
                    &opts,
                    &digests,
                    resume,
                    &mut sent,
                )
                .await
            } else {
                upload_single(ctx, pair, &key, &opts, &mut sent).await
            };
            match uploaded {
                Ok(info) => info,
                Err(e) => return failure(&pair.wav, call_id, "upload", e.chain(), true),
            }
        }
    };
    let Some(reported) = info.sha256.clone() else {
        return failure(
            &pair.wav,
            call_id,
            "verify",
            format!("the store reports no checksum for {key}"),
            true,
        );
    };
    if !(checksum_matches(&reported, &expected) || checksum_matches(&reported, &digests.whole))
        || info.size != size
    {
        return failure(
            &pair.wav,
            call_id,
            "verify",
            format!(
                "{key} reads back as {} bytes with checksum {reported}; expected {size} bytes, {expected}",
                info.size
            ),
            true,
        );
    }

    let sidecar = Sidecar {
        schema: SCHEMA,
        recording: rec.clone(),
        audio: AudioObject {
            key: key.clone(),
            size,
            sha256: digests.whole.clone(),
            checksum: reported.clone(),
            format,
        },
        source: Source {
            host: s.host.clone(),
            path: pair.wav.display().to_string(),
            xml_sha256: muara_core::checksum::sha256_b64(&xml),
        },
        uploaded_at: time::OffsetDateTime::now_utc(),
        agent_version: ctx.version.to_string(),
    };
    let body = match serde_json::to_vec_pretty(&sidecar) {
        Ok(b) => Bytes::from(b),
        Err(e) => return failure(&pair.wav, call_id, "upload", e.to_string(), false),
    };
    let skey = sidecar_key(&key);
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        metadata: BTreeMap::new(),
    };
    if let Err(e) = with_retry(s.retries, "S3 PutObject (sidecar)", || {
        ctx.lake.put(&skey, body.clone(), &opts)
    })
    .await
    {
        return failure(
            &pair.wav,
            call_id,
            "upload",
            format!("sidecar {skey}: {}", e.chain()),
            true,
        );
    }
    let mut entry = Entry::new(State::Published, pair.wav_sig, pair.xml_sig);
    entry.call_id = Some(rec.call_id.clone());
    entry.key = Some(key.clone());
    entry.checksum = Some(reported);
    if let Err(e) = journal_put(&ctx.journal, &id, &entry).await {
        return failure(&pair.wav, call_id, "journal", e.chain(), true);
    }
    let published = if already {
        Outcome::AlreadyPresent { key }
    } else {
        Outcome::Uploaded { key, bytes: sent }
    };
    if s.after_upload != AfterUpload::Keep
        && let Err(e) = apply_policy(ctx, pair, entry).await
    {
        return Outcome::PolicyFailed {
            published: Box::new(published),
            failure: note(&pair.wav, call_id, "archive", e.to_string(), true),
        };
    }
    published
}

async fn upload_single(
    ctx: &Ctx,
    pair: &Pair,
    key: &str,
    opts: &PutOptions,
    sent: &mut u64,
) -> Result<ObjectInfo> {
    let body = Bytes::from(tokio::fs::read(&pair.wav).await?);
    if body.len() as u64 != pair.wav_sig.size {
        return Err(Error::retryable(format!(
            "{} changed while it was read",
            pair.wav.display()
        )));
    }
    ctx.limiter.take(body.len() as u64).await;
    let info = with_retry(ctx.settings.retries, "S3 PutObject", || {
        ctx.lake.put(key, body.clone(), opts)
    })
    .await?;
    *sent += body.len() as u64;
    ctx.progress
        .bytes_sent
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    Ok(info)
}

#[allow(clippy::too_many_arguments)]
async fn upload_multipart(
    ctx: &Ctx,
    pair: &Pair,
    id: &str,
    key: &str,
    call_id: &str,
    opts: &PutOptions,
    digests: &Digests,
    resume: Option<Upload>,
    sent: &mut u64,
) -> Result<ObjectInfo> {
    let s = &ctx.settings;
    let mut upload = match resume {
        Some(u) => {
            tracing::info!(%key, upload_id = %u.upload_id, parts = u.parts.len(), "resuming a multipart upload");
            u
        }
        None => fresh_upload(ctx, key, opts).await?,
    };
    let mut entry = Entry::new(State::Uploading, pair.wav_sig, pair.xml_sig);
    entry.call_id = Some(call_id.to_string());
    entry.key = Some(key.to_string());
    let mut restarted = false;
    loop {
        entry.upload = Some(upload.clone());
        journal_put(&ctx.journal, id, &entry).await?;
        match send_parts(ctx, pair, id, key, digests, &mut upload, &mut entry, sent).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound && !restarted => {
                tracing::warn!(%key, upload_id = %upload.upload_id, "the multipart upload is gone (aborted or expired); starting again");
                restarted = true;
                upload = fresh_upload(ctx, key, opts).await?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let mut parts = upload.parts.clone();
        parts.sort_by_key(|p| p.number);
        match with_retry(s.retries, "S3 CompleteMultipartUpload", || {
            ctx.lake.complete_upload(key, &upload.upload_id, &parts)
        })
        .await
        {
            Ok(info) => return Ok(info),
            Err(e) if e.kind() == ErrorKind::NotFound && !restarted => {
                // Completed by the run that was killed just after? Then the object is there.
                if let Some(info) = ctx.lake.head(key).await? {
                    return Ok(info);
                }
                restarted = true;
                upload = fresh_upload(ctx, key, opts).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn fresh_upload(ctx: &Ctx, key: &str, opts: &PutOptions) -> Result<Upload> {
    let upload_id = with_retry(ctx.settings.retries, "S3 CreateMultipartUpload", || {
        ctx.lake.start_upload(key, opts)
    })
    .await?;
    Ok(Upload {
        upload_id,
        part_size: ctx.settings.part_size,
        parts: Vec::new(),
    })
}

/// Sends the parts the store does not have yet (or has with other bytes), journaling each.
#[allow(clippy::too_many_arguments)]
async fn send_parts(
    ctx: &Ctx,
    pair: &Pair,
    id: &str,
    key: &str,
    digests: &Digests,
    upload: &mut Upload,
    entry: &mut Entry,
    sent: &mut u64,
) -> Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    let size = pair.wav_sig.size;
    upload.parts.retain(|p| {
        usize::try_from(p.number)
            .ok()
            .and_then(|n| digests.part_b64(n - 1))
            .is_some_and(|sum| sum == p.sha256)
    });
    let mut file = tokio::fs::File::open(&pair.wav).await?;
    for (i, _) in digests.parts.iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if upload.parts.iter().any(|p| p.number == number) {
            continue;
        }
        let offset = i as u64 * upload.part_size;
        let len = upload.part_size.min(size - offset);
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        file.read_exact(&mut buf).await?;
        let body = Bytes::from(buf);
        if digests.part_b64(i).as_deref() != Some(muara_core::checksum::sha256_b64(&body).as_str())
        {
            return Err(Error::retryable(format!(
                "{} changed while it was uploaded",
                pair.wav.display()
            )));
        }
        ctx.limiter.take(len).await;
        let part = with_retry(ctx.settings.retries, "S3 UploadPart", || {
            ctx.lake
                .upload_part(key, &upload.upload_id, number, body.clone())
        })
        .await?;
        *sent += len;
        ctx.progress.bytes_sent.fetch_add(len, Ordering::Relaxed);
        upload.parts.push(part);
        entry.upload = Some(upload.clone());
        journal_put(&ctx.journal, id, entry).await?;
        tracing::info!(%key, upload_id = %upload.upload_id, part = number, "part uploaded");
    }
    Ok(())
}

/// Why the after-upload policy (archive or delete) did not finish. Its text is the failure's
/// reason in the run report.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file to delete could not be removed.
    #[error("cannot delete {}: {source}", path.display())]
    Delete {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The policy is `archive` but no `archive_dir` is set.
    #[error("no archive_dir configured")]
    NoArchiveDir,
    /// A file could not be moved into the archive.
    #[error("cannot archive {} to {}: {source}", from.display(), to.display())]
    Archive {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The files are done, but the journal record saying so was not written.
    #[error("{}", .0.chain())]
    Journal(#[from] Error),
}

/// Archives or deletes the local files of a published recording, `.xml` first: a crash in
/// between leaves the `.wav` alone, which the next run recognises from the journal and finishes.
pub async fn apply_policy(
    ctx: &Ctx,
    pair: &Pair,
    mut entry: Entry,
) -> std::result::Result<(), PolicyError> {
    let s = &ctx.settings;
    let files = [pair.xml.clone(), pair.wav.clone()];
    finish_policy(ctx, &files).await?;
    entry.state = match s.after_upload {
        AfterUpload::Archive => State::Archived,
        AfterUpload::Delete => State::Deleted,
        AfterUpload::Keep => State::Published,
    };
    entry.failure = None;
    journal_put(&ctx.journal, &pair.id(), &entry).await?;
    Ok(())
}

/// Moves (or deletes) the given files that still exist.
pub async fn finish_policy(ctx: &Ctx, files: &[PathBuf]) -> std::result::Result<(), PolicyError> {
    let s = &ctx.settings;
    for f in files {
        if tokio::fs::symlink_metadata(f).await.is_err() {
            continue;
        }
        match s.after_upload {
            AfterUpload::Keep => {}
            AfterUpload::Delete => {
                tokio::fs::remove_file(f)
                    .await
                    .map_err(|source| PolicyError::Delete {
                        path: f.clone(),
                        source,
                    })?
            }
            AfterUpload::Archive => {
                let Some(archive) = &s.archive_dir else {
                    return Err(PolicyError::NoArchiveDir);
                };
                let rel = s
                    .folders
                    .iter()
                    .find_map(|root| f.strip_prefix(root).ok())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(f.file_name().unwrap_or_default()));
                let dest = archive.join(rel);
                move_file(f, &dest)
                    .await
                    .map_err(|source| PolicyError::Archive {
                        from: f.clone(),
                        to: dest.clone(),
                        source,
                    })?;
            }
        }
    }
    Ok(())
}

/// Renames, or across file systems copies, syncs and removes (the source stays if any step
/// fails, e.g. on a full disk).
async fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    if tokio::fs::rename(from, to).await.is_ok() {
        return Ok(());
    }
    let tmp = to.with_extension("muara-partial");
    let copied = async {
        tokio::fs::copy(from, &tmp).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, to).await
    }
    .await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::remove_file(from).await
}

/// A failure as journaled.
pub fn failed_entry(pair: &Pair, f: &Failure) -> Entry {
    let mut e = Entry::new(State::Failed, pair.wav_sig, pair.xml_sig);
    e.call_id = f.call_id.clone();
    e.failure = Some(FailureNote {
        stage: f.stage.clone(),
        reason: f.reason.clone(),
        will_retry: f.will_retry,
    });
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttling_is_retried_with_backoff_and_bad_input_is_not() {
        use std::sync::atomic::AtomicU32;
        let calls = AtomicU32::new(0);
        let got = with_retry(3, "S3 PutObject", || {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if n < 2 {
                    Err(Error::retryable(
                        "S3 PutObject: SlowDown: Please reduce your request rate",
                    ))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got.ok(), Some(2));
        let calls = AtomicU32::new(0);
        let got: Result<()> = with_retry(3, "S3 PutObject", || {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(Error::invalid("InvalidDigest")) }
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        let calls = AtomicU32::new(0);
        let got: Result<()> = with_retry(1, "S3 PutObject", || {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(Error::retryable("503")) }
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2, "one try and one retry");
    }

    #[test]
    fn part_digests_reproduce_the_store_composite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).expect("write");
        let d = hash_file(&p, 5 << 20).expect("hash");
        assert_eq!(d.parts.len(), 3);
        assert_eq!(d.whole, muara_core::checksum::sha256_b64(&data));
        assert_eq!(
            d.composite(),
            muara_core::checksum::multipart_sha256_b64(&data, 5 << 20)
        );
        let one = hash_file(&p, data.len() as u64).expect("hash");
        assert_eq!(one.parts.len(), 1);
    }
}
