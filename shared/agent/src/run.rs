//! One pass over the folders (`muara agent once`), the service loop (`muara agent run`), and the
//! journal summary (`muara agent status`).

use crate::config::{AfterUpload, Settings};
use crate::journal::{Entry, Journal, State};
use crate::limiter::Limiter;
use crate::scan::{Pair, scan};
use crate::upload::{
    Ctx, Lake, Outcome, Progress, failed_entry, finish_policy, journal_get, journal_put, process,
};
use bytes::Bytes;
use futures::StreamExt as _;
use muara_core::ports::PutOptions;
use muara_core::{Error, Result};
use muara_recordings::report::{Counts, Failure, RunReport, report_key};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use time::OffsetDateTime;

/// The agent's version, recorded in sidecars and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What one pass did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub report: RunReport,
    /// `--dry-run`: `(file, key, bytes)` that would be uploaded.
    pub planned: Vec<(String, String, u64)>,
    /// Where the report went (`None` for a dry run).
    pub report_key: Option<String>,
}

#[derive(Debug)]
pub struct Agent {
    ctx: Arc<Ctx>,
}

impl Agent {
    pub fn new(settings: Settings, lake: Arc<dyn Lake>) -> Result<Self> {
        let journal = Journal::open(&settings.journal).map_err(|e| Error::config(e.to_string()))?;
        Ok(Self {
            ctx: Arc::new(Ctx {
                limiter: Limiter::new(settings.bandwidth),
                settings,
                lake,
                journal,
                progress: Arc::new(Progress::default()),
                dry_run: false,
                version: VERSION,
                keys: Default::default(),
            }),
        })
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.ctx.progress.clone()
    }

    pub fn journal(&self) -> &Journal {
        &self.ctx.journal
    }

    fn pending_reports_dir(&self) -> PathBuf {
        let j = &self.ctx.settings.journal;
        let name = j
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        j.with_file_name(format!("{name}.reports"))
    }

    /// One pass: scan, upload what is new, report.
    pub async fn once(&self, dry_run: bool) -> Result<Summary> {
        let ctx = if dry_run {
            Arc::new(Ctx {
                settings: self.ctx.settings.clone(),
                lake: self.ctx.lake.clone(),
                journal: self.ctx.journal.clone(),
                limiter: Limiter::new(None),
                progress: self.ctx.progress.clone(),
                dry_run: true,
                version: VERSION,
                keys: Default::default(),
            })
        } else {
            self.ctx.clone()
        };
        let s = &ctx.settings;
        let started_at = OffsetDateTime::now_utc();
        let run_id = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
            started_at.year(),
            u8::from(started_at.month()),
            started_at.day(),
            started_at.hour(),
            started_at.minute(),
            started_at.second(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        if !dry_run {
            self.send_pending_reports().await;
        }
        let (folders, include, exclude) = (s.folders.clone(), s.include.clone(), s.exclude.clone());
        let found = tokio::task::spawn_blocking(move || scan(&folders, &include, &exclude))
            .await
            .map_err(|e| Error::fatal(format!("scan task failed: {e}")))?;
        let journal = ctx.journal.clone();
        let known = tokio::task::spawn_blocking(move || journal.all())
            .await
            .map_err(|e| Error::fatal(format!("journal task failed: {e}")))?
            .map_err(|e| Error::fatal(e.to_string()))?;

        let mut counts = Counts::default();
        let mut failures: Vec<Failure> = Vec::new();
        for (path, reason) in &found.errors {
            failures.push(Failure {
                path: path.display().to_string(),
                call_id: None,
                stage: "scan".into(),
                reason: format!("cannot read: {reason}"),
                will_retry: true,
            });
        }
        let now_ns =
            i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX);
        let stable_ns = i64::try_from(s.stable.as_nanos()).unwrap_or(i64::MAX);
        let orphan_ns = i64::try_from(s.orphan_after.as_nanos()).unwrap_or(i64::MAX);

        // Orphans: a .wav whose .xml the after-upload policy already took (a crash between
        // the two moves) is finished; others are reported once they are old enough, once.
        let mut orphan_wavs_to_finish = Vec::new();
        for o in &found.orphans {
            let id = o.path.to_string_lossy().into_owned();
            match known.get(&id) {
                Some(e)
                    if e.state == State::Published
                        && o.missing == "xml"
                        && s.after_upload != AfterUpload::Keep =>
                {
                    orphan_wavs_to_finish.push((id, o.path.clone(), e.clone()));
                    continue;
                }
                Some(e) if e.state == State::Failed && e.wav == o.sig => continue,
                _ => {}
            }
            if now_ns - o.sig.mtime_ns < orphan_ns {
                continue;
            }
            counts.orphans += 1;
            let f = Failure {
                path: o.path.display().to_string(),
                call_id: None,
                stage: "pairing".into(),
                reason: format!(
                    "no matching .{} next to it after {} s",
                    o.missing,
                    s.orphan_after.as_secs()
                ),
                will_retry: false,
            };
            if !dry_run {
                let mut e = Entry::new(State::Failed, o.sig, Default::default());
                e.failure = Some(crate::journal::FailureNote {
                    stage: f.stage.clone(),
                    reason: f.reason.clone(),
                    will_retry: false,
                });
                record(&ctx, &id, &e).await;
            }
            failures.push(f);
        }
        for (id, path, entry) in orphan_wavs_to_finish {
            if dry_run {
                continue;
            }
            match finish_policy(&ctx, std::slice::from_ref(&path)).await {
                Ok(()) => {
                    let mut e = entry;
                    e.state = if s.after_upload == AfterUpload::Delete {
                        State::Deleted
                    } else {
                        State::Archived
                    };
                    record(&ctx, &id, &e).await;
                }
                Err(e) => failures.push(Failure {
                    path: path.display().to_string(),
                    call_id: entry.call_id.clone(),
                    stage: "archive".into(),
                    reason: e.to_string(),
                    will_retry: true,
                }),
            }
        }

        let mut todo: Vec<(Pair, Option<Entry>)> = Vec::new();
        for pair in found.pairs {
            counts.seen += 1;
            let prior = known.get(&pair.id()).cloned();
            let same_files = prior
                .as_ref()
                .is_some_and(|p| p.wav == pair.wav_sig && p.xml == pair.xml_sig);
            if same_files {
                let p = prior
                    .as_ref()
                    .map(|p| (p.state, p.failure.as_ref().is_some_and(|f| f.will_retry)));
                match p {
                    Some((State::Archived | State::Deleted, _)) => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some((State::Published, _)) if s.after_upload == AfterUpload::Keep => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some((State::Failed, false)) => {
                        counts.unchanged += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            if now_ns - pair.newest_mtime_ns() < stable_ns {
                counts.waiting += 1;
                continue;
            }
            todo.push((pair, prior));
        }

        let progress = &ctx.progress;
        progress
            .files_total
            .store(todo.len() as u64, Ordering::Relaxed);
        progress.files_done.store(0, Ordering::Relaxed);
        progress.bytes_sent.store(0, Ordering::Relaxed);
        progress.bytes_total.store(
            todo.iter().map(|(p, _)| p.wav_sig.size).sum(),
            Ordering::Relaxed,
        );

        let results: Vec<(Pair, Outcome)> = futures::stream::iter(todo)
            .map(|(pair, prior)| {
                let ctx = ctx.clone();
                async move {
                    let out = process(&ctx, &pair, prior).await;
                    ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
                    (pair, out)
                }
            })
            .buffer_unordered(s.concurrency)
            .collect()
            .await;

        let mut planned = Vec::new();
        for (pair, out) in results {
            let (published, failed) = match out {
                Outcome::PolicyFailed { published, failure } => (Some(*published), Some(failure)),
                Outcome::Failed(f) => (None, Some(f)),
                other => (Some(other), None),
            };
            match published {
                Some(Outcome::Uploaded { key, bytes }) => {
                    counts.uploaded += 1;
                    counts.bytes_uploaded += bytes;
                    tracing::info!(file = %pair.wav.display(), %key, bytes, "uploaded and verified");
                }
                Some(Outcome::AlreadyPresent { key }) => {
                    counts.already_present += 1;
                    tracing::info!(file = %pair.wav.display(), %key, "already in the lake with the same checksum");
                }
                Some(Outcome::PolicyDone) => counts.unchanged += 1,
                Some(Outcome::WouldUpload { key, bytes }) => {
                    planned.push((pair.wav.display().to_string(), key, bytes));
                }
                Some(Outcome::Failed(_) | Outcome::PolicyFailed { .. }) | None => {}
            }
            if let Some(f) = failed {
                counts.failed += 1;
                tracing::error!(file = %f.path, stage = %f.stage, reason = %f.reason, will_retry = f.will_retry, "recording failed");
                if !dry_run {
                    let keep_upload = journal_get(&ctx.journal, &pair.id()).await.ok().flatten();
                    let mut entry = failed_entry(&pair, &f);
                    // A failed upload keeps its progress (to resume) and a published
                    // recording stays published (only its archiving failed).
                    if let Some(prev) = keep_upload
                        .filter(|p| matches!(p.state, State::Uploading | State::Published))
                    {
                        entry = Entry {
                            failure: entry.failure,
                            ..prev
                        };
                    }
                    record(&ctx, &pair.id(), &entry).await;
                }
                failures.push(f);
            }
        }
        planned.sort();
        let report = RunReport {
            run_id,
            host: s.host.clone(),
            agent_version: VERSION.to_string(),
            started_at,
            finished_at: OffsetDateTime::now_utc(),
            dry_run,
            counts,
            failures,
        };
        let report_key = if dry_run {
            None
        } else {
            Some(self.send_report(&report).await)
        };
        Ok(Summary {
            report,
            planned,
            report_key,
        })
    }

    /// Writes the report to the lake; if the lake is unreachable, keeps it beside the journal
    /// and sends it at the start of the next run.
    async fn send_report(&self, report: &RunReport) -> String {
        let key = report_key(&report.host, &report.run_id);
        let body = match serde_json::to_vec_pretty(report) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "report not serialisable");
                return key;
            }
        };
        let dir = self.pending_reports_dir();
        let local = dir.join(format!("{}.json", report.run_id));
        let saved = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&local, &body).await
        }
        .await;
        if let Err(e) = &saved {
            tracing::error!(error = %e, path = %local.display(), "cannot keep the run report locally");
        }
        match self.put_report(&key, Bytes::from(body)).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(&local).await;
                tracing::info!(%key, "run report written");
            }
            Err(e) => {
                tracing::error!(%key, error = %e.chain(), "run report not written; it is sent in the next run");
            }
        }
        key
    }

    async fn put_report(&self, key: &str, body: Bytes) -> Result<()> {
        let opts = PutOptions {
            content_type: Some("application/json".into()),
            ..PutOptions::default()
        };
        crate::upload::with_retry(self.ctx.settings.retries, "S3 PutObject (report)", || {
            self.ctx.lake.put(key, body.clone(), &opts)
        })
        .await
        .map(|_| ())
    }

    async fn send_pending_reports(&self) {
        let dir = self.pending_reports_dir();
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            return;
        };
        while let Ok(Some(e)) = entries.next_entry().await {
            let path = e.path();
            let Some(run_id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let Ok(body) = tokio::fs::read(&path).await else {
                continue;
            };
            let key = report_key(&self.ctx.settings.host, &run_id);
            if self.put_report(&key, Bytes::from(body)).await.is_ok() {
                let _ = tokio::fs::remove_file(&path).await;
                tracing::info!(%key, "earlier run report sent");
            }
        }
    }
}

/// Journals `entry`; a failed write is logged (the next pass sees the files as before).
async fn record(ctx: &Ctx, id: &str, entry: &Entry) {
    if let Err(e) = journal_put(&ctx.journal, id, entry).await {
        tracing::error!(%id, error = %e.chain(), "journal write failed");
    }
}

/// What `muara agent status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub journal: String,
    pub by_state: std::collections::BTreeMap<String, u64>,
    pub failures: Vec<Failure>,
}

pub fn status(journal: &Journal, path: &std::path::Path) -> Result<Status> {
    let all: HashMap<String, Entry> = journal.all().map_err(|e| Error::fatal(e.to_string()))?;
    let mut by_state = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (id, e) in &all {
        *by_state.entry(e.state.as_str().to_string()).or_insert(0) += 1;
        if let Some(f) = &e.failure {
            failures.push(Failure {
                path: id.clone(),
                call_id: e.call_id.clone(),
                stage: f.stage.clone(),
                reason: f.reason.clone(),
                will_retry: f.will_retry,
            });
        }
    }
    failures.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Status {
        journal: path.display().to_string(),
        by_state,
        failures,
    })
}
