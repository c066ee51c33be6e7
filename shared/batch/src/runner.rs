//! Starting a run — from the S3 trigger, the HTTP API or the CLI. Under the client's lock
//! (never two batches of one client at once) it allocates the batch id and starts one
//! execution named `{client}-{batch}-{mode}`: a duplicate trigger is rejected by the
//! orchestrator itself.

use crate::ids::{BatchId, batch_of};
use crate::layout::LakeKey;
use crate::model::{Deps, LeaseRef, MACHINE, Mode, RunInput};
use crate::repo;
use muara_core::ports::Started;
use muara_core::{Error, Result};

pub use crate::lease::{LOCK_TTL, lock_key};

#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Started {
        execution_id: String,
        name: String,
        batch_id: String,
    },
    /// An execution with this name exists: nothing new was started.
    Duplicate { execution_id: String, name: String },
    /// Another run of this client holds the lease (`holder`: its owner, e.g.
    /// `execution:{name}`); a start's finalise picks up new files.
    Busy { holder: Option<String> },
    /// No new file waits in `raw/{client}/*/incoming/`.
    NothingToDo,
    /// The client is not configured; its incoming files were moved to `failed/`.
    UnknownClient { moved: usize },
}

/// Files in `raw/{client}/*/incoming/` that no batch has claimed yet.
pub async fn unclaimed(deps: &Deps, client: &str) -> Result<Vec<String>> {
    Ok(unclaimed_objects(deps, client)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

async fn unclaimed_objects(
    deps: &Deps,
    client: &str,
) -> Result<Vec<muara_core::ports::ObjectInfo>> {
    Ok(deps
        .store
        .list(&format!("raw/{client}/"))
        .await?
        .into_iter()
        .filter(|o| {
            LakeKey::parse(&o.key)
                .is_some_and(|k| k.area == "incoming" && batch_of(&k.file).is_none())
        })
        .collect())
}

/// `batch`'s files in an `area` folder under `prefix`.
async fn of_batch(deps: &Deps, prefix: &str, area: &str, batch: BatchId) -> Result<Vec<LakeKey>> {
    Ok(deps
        .store
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|o| LakeKey::parse(&o.key))
        .filter(|k| k.area == area && matches!(batch_of(&k.file), Some((id, _)) if id == batch))
        .collect())
}

/// Whether lake file `file` (a batch-suffixed raw or Parquet name) is one of `wanted`: its
/// physical name, its Parquet name, or its logical name (the plain name without extension,
/// case-insensitively).
fn wanted_file(file: &str, wanted: &[String]) -> bool {
    let plain = batch_of(file)
        .map(|(_, p)| p)
        .unwrap_or_else(|| file.to_string());
    let (base, _) = crate::ids::split_ext(&plain);
    wanted.iter().any(|w| {
        let w = w.trim();
        w == file
            || crate::ids::parquet_name(w) == file
            || crate::ids::split_ext(w).0.eq_ignore_ascii_case(base)
    })
}

/// The files a restart (raw files) or reprocessing (Parquet) runs: those put back into
/// `incoming/` by the operator; else the chosen `files` (restart: from `failed/`; reprocessing:
/// from `failed/` or `archive/`); else the batch's files in `failed/`, and for reprocessing,
/// when none failed, every Parquet of the batch in `archive/`. The run moves them back itself.
async fn rerun_files(
    deps: &Deps,
    client: &str,
    mode: Mode,
    batch: BatchId,
    files: &[String],
) -> Result<Vec<LakeKey>> {
    let (zone, what) = match mode {
        Mode::Reprocessing => ("data", "Parquet files"),
        _ => ("raw", "files"),
    };
    let prefix = format!("{zone}/{client}/");
    if !of_batch(deps, &prefix, "incoming", batch).await?.is_empty() {
        return Ok(vec![]);
    }
    let failed = of_batch(deps, &prefix, "failed", batch).await?;
    let archived = match mode {
        Mode::Reprocessing => of_batch(deps, &prefix, "archive", batch).await?,
        _ => vec![],
    };
    if !files.is_empty() {
        // A file both failed and archived (a failed copy left by an older version) runs from
        // its archived, loaded Parquet.
        let mut chosen: Vec<LakeKey> = archived
            .iter()
            .filter(|k| wanted_file(&k.file, files))
            .cloned()
            .collect();
        for k in failed.iter().filter(|k| wanted_file(&k.file, files)) {
            if !chosen
                .iter()
                .any(|c| c.source == k.source && c.file == k.file)
            {
                chosen.push(k.clone());
            }
        }
        let missing: Vec<&String> = files
            .iter()
            .filter(|w| {
                !chosen
                    .iter()
                    .any(|k| wanted_file(&k.file, std::slice::from_ref(*w)))
            })
            .collect();
        if !missing.is_empty() {
            let places = match mode {
                Mode::Reprocessing => "failed/ or archive/",
                _ => "failed/ (a restart never re-runs a file that loaded; reprocess it instead)",
            };
            return Err(Error::invalid(format!(
                "{} {client} {batch}: no {what} of the batch named {} in {zone}/{client}/<source>/{places}",
                mode.as_str(),
                missing
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(chosen);
    }
    if !failed.is_empty() {
        return Ok(failed);
    }
    if !archived.is_empty() {
        return Ok(archived);
    }
    Err(Error::invalid(format!(
        "{} {client} {batch}: none of the batch's {what} is in {zone}/{client}/<source>/incoming/ or failed/{}; move the ones to run again into incoming/ first",
        mode.as_str(),
        if mode == Mode::Reprocessing {
            " or archive/"
        } else {
            ""
        }
    )))
}

/// [`request_files`] for every file the mode takes by default.
pub async fn request(
    deps: &Deps,
    client: &str,
    mode: Mode,
    batch_id: Option<&str>,
) -> Result<RunOutcome> {
    request_files(deps, client, mode, batch_id, &[]).await
}

/// Requests a run of `client`: `start` a new batch, or `restart`/`reprocessing`/`refresh` a
/// batch (`batch_id`, default the latest). `files` chooses which of the batch's files a
/// restart or reprocessing runs (physical, Parquet or logical names; empty: the default).
#[tracing::instrument(name = "run request", skip_all, fields(%client, mode = ?mode, batch = batch_id))]
pub async fn request_files(
    deps: &Deps,
    client: &str,
    mode: Mode,
    batch_id: Option<&str>,
    files: &[String],
) -> Result<RunOutcome> {
    if !files.is_empty() && !matches!(mode, Mode::Restart | Mode::Reprocessing) {
        return Err(Error::invalid(format!(
            "files are chosen for restart and reprocessing only, not {}",
            mode.as_str()
        )));
    }
    let Some(row) = repo::find_client(&deps.pool, client).await? else {
        let mut moved = 0;
        for key in unclaimed(deps, client).await? {
            if let Some(k) = LakeKey::parse(&key) {
                deps.store.rename(&key, &k.in_area("failed").key()).await?;
                moved += 1;
                tracing::warn!(%key, "file for an unknown client moved to failed/ (add the client to tools.client_reference)");
            }
        }
        return Ok(RunOutcome::UnknownClient { moved });
    };
    let batch = match (mode, batch_id) {
        (Mode::Start, Some(_)) => {
            return Err(Error::invalid(
                "mode start allocates a new batch id; do not pass one",
            ));
        }
        (Mode::Start, None) => None,
        (_, Some(id)) => Some(id.parse::<BatchId>()?),
        (_, None) => Some(
            repo::last_batch(&deps.pool, row.client_id)
                .await?
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "client {client:?} has no batch to {}",
                        mode.as_str()
                    ))
                })?,
        ),
    };
    let mut move_back = Vec::new();
    match (mode, batch) {
        (Mode::Start, _) => {
            // Only complete files start a batch: nothing to do while every new file is
            // still being written (its own announcement comes once it stands still).
            let waiting = unclaimed_objects(deps, client).await?;
            if crate::settle::settled(deps, waiting).await?.is_empty() {
                return Ok(RunOutcome::NothingToDo);
            }
        }
        (Mode::Restart | Mode::Reprocessing, Some(b)) => {
            move_back = rerun_files(deps, client, mode, b, files).await?;
        }
        (Mode::Refresh, Some(b)) => {
            if repo::executions_of(&deps.pool, row.client_id, &b.to_string(), None).await? == 0 {
                return Err(Error::invalid(format!(
                    "refresh {client} {b}: the batch has never run"
                )));
            }
        }
        (_, None) => {}
    }
    let mut lease = match crate::lease::acquire(deps, client).await? {
        Ok(lease) => lease,
        Err(holder) => return Ok(RunOutcome::Busy { holder }),
    };
    let result = async {
        for k in &move_back {
            crate::stages::move_back(deps, k).await?;
        }
        let batch = match batch {
            Some(b) => b,
            None => repo::allocate_batch(&deps.pool, row.client_id).await?,
        };
        // `start` is named by its batch alone, so a duplicate trigger is refused by the
        // orchestrator. Other modes count their runs; a name still taken (its log rows purged
        // by retention, or an execution that died before logging) moves to the next number —
        // safe, because the client's lock already keeps two requests from racing here.
        let mut n = match mode {
            Mode::Start => 0,
            _ => {
                repo::executions_of(
                    &deps.pool,
                    row.client_id,
                    &batch.to_string(),
                    Some(mode.as_str()),
                )
                .await?
                    + 1
            }
        };
        loop {
            let name = match mode {
                Mode::Start => format!("{client}-{batch}-start"),
                _ => format!("{client}-{batch}-{}-{n}", mode.as_str()),
            };
            crate::lease::hand_over(deps, &mut lease, &name).await?;
            let input = RunInput {
                client: client.parse()?,
                batch_id: batch,
                mode,
                execution_name: name.clone(),
                lock: Some(LeaseRef::from(lease.clone())),
            };
            let started = deps
                .orchestrator
                .start(MACHINE, &name, &serde_json::to_value(&input)?)
                .await?;
            match started {
                Started::New { execution_id } => {
                    return Ok::<_, Error>(RunOutcome::Started {
                        execution_id,
                        name,
                        batch_id: batch.to_string(),
                    });
                }
                Started::AlreadyExists { execution_id } if mode == Mode::Start || n > 1000 => {
                    return Ok(RunOutcome::Duplicate { execution_id, name });
                }
                Started::AlreadyExists { .. } => n += 1,
            }
        }
    }
    .await;
    // The lock travels with a started execution (finalise releases it); otherwise free it now.
    if !matches!(result, Ok(RunOutcome::Started { .. }))
        && let Err(e) = deps.locks.release(&lease).await
    {
        tracing::warn!(%client, error = %e.chain(), "could not release the batch lock; it expires on its own");
    }
    result
}

/// The lake-events queue's Lambda event: each SQS message carries S3 notifications, and the
/// `start` runs they ask for are requested ([`on_objects_created`]). A message that could not
/// be handled — a transient fault, or a body that is not an S3 notification — is reported
/// failed (`ReportBatchItemFailures`): it comes back, and after its receives it waits in the
/// dead-letter queue with its reason in the log. Nothing is dropped.
pub async fn on_sqs_event(
    deps: &Deps,
    payload: serde_json::Value,
) -> muara_core::sqs::BatchResponse {
    let (response, _) = muara_core::sqs::handle_each(payload, "batch trigger", |m| async move {
        let event = muara_core::s3event::S3Event::parse(&m.body)?;
        let keys: Vec<String> = event
            .records
            .iter()
            .filter(|r| r.is_object_created())
            .map(|r| r.key())
            .collect::<Result<_>>()?;
        on_objects_created(deps, &keys).await
    })
    .await;
    response
}

/// Groups S3 notifications by client and requests one `start` run per client. Keys outside
/// `raw/{client}/{source}/incoming/`, or already carrying a batch suffix (the batch's own
/// renames), are not triggers.
pub async fn on_objects_created(deps: &Deps, keys: &[String]) -> Result<Vec<(String, RunOutcome)>> {
    let mut clients: Vec<String> = keys
        .iter()
        .filter_map(|k| LakeKey::parse(k))
        .filter(|k| k.zone == "raw" && k.area == "incoming" && batch_of(&k.file).is_none())
        .map(|k| k.client)
        .collect();
    clients.sort();
    clients.dedup();
    let mut out = Vec::new();
    for client in clients {
        let outcome = request(deps, &client, Mode::Start, None).await?;
        tracing::info!(%client, ?outcome, "batch trigger");
        out.push((client, outcome));
    }
    Ok(out)
}
