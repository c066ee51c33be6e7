//! Finalise: the batch's final status in `tools.job_execution_log`, the manifest (with each
//! file's and step's outcome) moved to `batch_info/{client}/success|failed|refreshed/`, a
//! failure mail for a failed or partially failed batch, the client's lock released, and files
//! that arrived while the batch ran picked up by a follow-up batch.

use super::load::file_rows;
use crate::ident::qualified;
use crate::ids::BatchId;
use crate::layout::manifest_key;
use crate::ledger::{self, Ledger, LedgerKey};
use crate::manifest::{Manifest, ManifestStep};
use crate::model::{
    BatchRef, BatchSummary, Deps, FileItem, FileResult, FileStatus, FinaliseInput, Mode,
};
use crate::report::StepRun;
use crate::{notify, repo, report};
use bytes::Bytes;
use muara_core::ports::{Lease, PutOptions};
use muara_core::{Error, ErrorKind, Result};

/// The final status: a failed start or SQL stage fails the batch; otherwise the files decide
/// (a refresh run has none and succeeds).
pub(crate) fn final_status(
    mode: Mode,
    failed_run: bool,
    files: usize,
    failed_files: usize,
) -> &'static str {
    match (failed_run, mode, files, failed_files) {
        (true, ..) => "FAILED",
        (false, Mode::Refresh, ..) => "SUCCESS",
        (false, _, 0, _) => "NO_FILES",
        (false, _, _, 0) => "SUCCESS",
        (false, _, n, f) if f == n => "FAILED",
        _ => "PARTIAL",
    }
}

pub async fn finalise(deps: &Deps, input: FinaliseInput) -> Result<BatchSummary> {
    let (client, client_id, batch_id, mode, execution, lock, manifest_at) =
        match (&input.batch, &input.input) {
            (Some(b), _) => (
                b.client.clone(),
                Some(b.client_id),
                b.batch_id,
                b.mode,
                b.execution_name.clone(),
                b.lock.clone(),
                Some(b.manifest_key.clone()),
            ),
            (None, Some(i)) => (
                i.client.clone(),
                None,
                i.batch_id,
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
    let mut all: Vec<FileResult> = input.results.clone();
    let ledgers = match &input.batch {
        Some(b) => reconcile(deps, b, &input.files, &mut all).await?,
        None => Default::default(),
    };
    all.extend(input.rejected.iter().cloned());
    let loaded = all
        .iter()
        .filter(|r| r.status == FileStatus::Loaded)
        .count();
    let failed = all.len() - loaded;
    let rows = all.iter().filter_map(|r| r.rows).sum();
    let run_error = input
        .error
        .as_ref()
        .or(input.step_error.as_ref())
        .map(|e| e.message());
    let status = final_status(mode, run_error.is_some(), all.len(), failed);
    let file_errors = (failed > 0).then(|| {
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
    });
    let error = match (&run_error, &file_errors) {
        (Some(r), Some(f)) => Some(format!("{r}; files: {f}")),
        (Some(r), None) => Some(r.clone()),
        (None, f) => f.clone(),
    };
    repo::job_end(&deps.pool, &execution, status, error.as_deref()).await?;
    let client_id = match client_id {
        Some(id) => Some(id),
        None => repo::find_client(&deps.pool, &client)
            .await?
            .map(|c| c.client_id),
    };
    let steps = match client_id {
        Some(id) => {
            report::step_runs(&deps.pool, id, &batch_id.to_string(), Some(&execution)).await?
        }
        None => vec![],
    };

    if let (Some(key), Ok(batch)) = (manifest_at, Ok::<BatchId, muara_core::Error>(batch_id)) {
        move_manifest(
            deps,
            &client,
            batch,
            &key,
            mode,
            &execution,
            status,
            run_error.is_some(),
            &all,
            &ledgers,
            &steps,
        )
        .await?;
    }

    // The outcome is recorded above whatever happens to the mail.
    let mut mailed = false;
    if matches!(status, "FAILED" | "PARTIAL")
        && let Some(id) = client_id
    {
        let (subject, body) = notify::compose(&notify::Report {
            client: &client,
            batch_id: &batch_id.to_string(),
            mode,
            status,
            execution_name: &execution,
            files: &all,
            steps: &steps,
            error: run_error.as_deref(),
            sql_failed: input.step_error.is_some(),
        });
        notify::record(
            &deps.pool,
            id,
            &batch_id.to_string(),
            &execution,
            &deps.notify.from,
            &deps.notify.to,
            &subject,
            &body,
        )
        .await?;
        mailed = true;
        if let Err(e) = notify::deliver_pending(deps, Some(&execution)).await {
            tracing::error!(%client, error = %e.chain(), "failure mail not delivered now; housekeeping retries it");
        }
    }

    if let Some(l) = lock {
        let released = deps.locks.release(&Lease::from(l)).await?;
        if !released {
            tracing::warn!(%client, "the batch lock had expired before finalise; raise the lock TTL if batches run this long");
        }
    }
    tracing::info!(%client, batch = %batch_id, mode = mode.as_str(), status, loaded, failed, rows, "batch finalised");
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
    let step_rows = [&input.transform, &input.integrate]
        .iter()
        .filter_map(|s| s.as_ref().map(|s| s.rows))
        .sum();
    Ok(BatchSummary {
        client: client.to_string(),
        batch_id: batch_id.to_string(),
        mode,
        status: status.into(),
        files: all.len(),
        loaded,
        failed,
        rows,
        step_rows,
        mailed,
    })
}

/// The manifest, with outcomes, from `incoming/` to `success/`, `refreshed/` (a successful
/// refresh run) or `failed/`. A successful start, restart or reprocessing removes the batch's
/// stale `failed/` manifest.
#[allow(clippy::too_many_arguments)]
/// The log message of a file whose ledger does not balance; `template.yaml`'s
/// `RowLedgerBrokenMetricFilter` counts it (a test keeps the two the same).
const LEDGER_BROKEN: &str = "row ledger broken: the file fails";

/// Checks the row ledger of every file this run loaded — bronze recounted now, at finalise —
/// and fails loudly each file whose figures do not add up (its rows are not what was read).
/// Returns the ledgers, for the manifest.
async fn reconcile(
    deps: &Deps,
    b: &BatchRef,
    files: &[FileItem],
    results: &mut [FileResult],
) -> Result<std::collections::HashMap<String, Ledger>> {
    let mut out = std::collections::HashMap::new();
    for r in results
        .iter_mut()
        .filter(|r| r.status == FileStatus::Loaded)
    {
        let k = LedgerKey::of(b, &r.physical_file_name);
        let at_finalise = match files
            .iter()
            .find(|f| f.physical_file_name == r.physical_file_name)
        {
            Some(f) => Some(
                file_rows(
                    deps,
                    &qualified(&f.target_schema, &f.target_table)?,
                    &b.batch_id.to_string(),
                    &r.physical_file_name,
                )
                .await?,
            ),
            None => None,
        };
        let mut ledger = ledger::read(&deps.pool, &k).await?;
        ledger.rows_at_finalise = at_finalise;
        let problem = ledger.check_loaded().err().map(|e| e.to_string());
        ledger::record_check(&deps.pool, &k, at_finalise, problem.as_deref()).await?;
        if let Some(problem) = problem {
            tracing::error!(client = %b.client, batch = %b.batch_id, file = %r.physical_file_name, %problem, "{LEDGER_BROKEN}");
            repo::audit_set(
                &deps.pool,
                b.client_id,
                &b.batch_id.to_string(),
                &r.physical_file_name,
                repo::AuditColumn::Load,
                "FAILED",
                Some(&problem),
            )
            .await?;
            r.status = FileStatus::Failed;
            r.error = Some(problem);
        }
        out.insert(r.physical_file_name.clone(), ledger);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn move_manifest(
    deps: &Deps,
    client: &str,
    batch: BatchId,
    key: &str,
    mode: Mode,
    execution: &str,
    status: &str,
    run_failed: bool,
    files: &[FileResult],
    ledgers: &std::collections::HashMap<String, Ledger>,
    steps: &[StepRun],
) -> Result<()> {
    let body = match deps.store.get(key).await {
        Ok(b) => b,
        // A retried finalise already moved it.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut manifest: Manifest = serde_json::from_slice(&body)?;
    for f in &mut manifest.files {
        if let Some(r) = files
            .iter()
            .find(|r| r.physical_file_name == f.physical_file_name)
        {
            f.status = Some(match r.status {
                FileStatus::Loaded => "LOADED".into(),
                FileStatus::Failed => "FAILED".into(),
            });
            f.parquet_name = r.parquet_name.clone().or(f.parquet_name.take());
            f.error = r.error.clone();
            f.ledger = ledgers.get(&f.physical_file_name).cloned();
        }
    }
    manifest.steps = steps
        .iter()
        .map(|s| ManifestStep {
            family: s.family.clone(),
            name: s.name.clone(),
            status: s.status.clone(),
            rows_affected: s.rows_affected,
            duration_ms: s.duration_ms,
            error: s.error_message.clone(),
        })
        .collect();
    if let Some(run) = manifest
        .runs
        .iter_mut()
        .rev()
        .find(|r| r.execution_name == execution)
    {
        run.status = Some(status.to_string());
    }
    // A refresh record carries the run's status; otherwise the manifest's status is the
    // batch's, from every file's latest outcome.
    let overall = match mode {
        Mode::Refresh => status,
        _ => manifest.overall_status(run_failed),
    };
    manifest.status = Some(overall.to_string());
    let ok = overall == "SUCCESS" || overall == "NO_FILES";
    let area = match (ok, mode) {
        (true, Mode::Refresh) => "refreshed",
        (true, _) => "success",
        (false, _) => "failed",
    };
    let dest = manifest_key(client, area, batch);
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
    // A restart or reprocessing writes the whole batch's manifest: it supersedes the one in
    // the other of success/ and failed/. A refresh record does not.
    if mode != Mode::Refresh {
        let stale = manifest_key(client, if ok { "failed" } else { "success" }, batch);
        if let Err(e) = deps.store.delete(&stale).await
            && e.kind() != ErrorKind::NotFound
        {
            return Err(e);
        }
    }
    deps.store.delete(key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_counts_the_ledger_log_line() {
        let template = include_str!("../../../../template.yaml");
        assert!(template.contains(&format!(
            "FilterPattern: '{{ $.fields.message = \"{LEDGER_BROKEN}\" }}'"
        )));
    }

    #[test]
    fn the_final_status_follows_the_run_and_the_files() {
        assert_eq!(final_status(Mode::Start, false, 6, 0), "SUCCESS");
        assert_eq!(final_status(Mode::Start, false, 6, 1), "PARTIAL");
        assert_eq!(final_status(Mode::Start, false, 2, 2), "FAILED");
        assert_eq!(final_status(Mode::Start, false, 0, 0), "NO_FILES");
        assert_eq!(final_status(Mode::Start, true, 6, 0), "FAILED");
        assert_eq!(final_status(Mode::Refresh, false, 0, 0), "SUCCESS");
        assert_eq!(final_status(Mode::Refresh, true, 0, 0), "FAILED");
    }
}
