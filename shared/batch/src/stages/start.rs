//! Start: match incoming files to configuration, give them the batch's name, write the
//! manifest and the audit rows. `restart` picks up the batch's files put back into
//! `incoming/`; `reprocessing` the batch's Parquet put back into `data/…/incoming/`.

use super::util::move_if_present;
use crate::ids::{BatchId, batch_of, parquet_name, split_ext, with_batch};
use crate::layout::{LakeKey, data_key, manifest_key, raw_key};
use crate::manifest::{Manifest, ManifestFile};
use crate::model::{BatchRef, Deps, FileItem, FileResult, Mode, RunInput, StartOutput};
use crate::repo::{self, ConfigRow};
use bytes::Bytes;
use muara_core::ports::PutOptions;
use muara_core::{Error, Result};

/// The most new files one batch takes. A batch's file list and results travel in the
/// execution's state, which Step Functions caps at 256 KiB (about 420 files' worth) and
/// 25,000 history events; 200 leaves room for long failure reasons. A larger drop becomes
/// several batches in a row, none losing a file.
pub const MAX_FILES_PER_BATCH: usize = 200;

/// Why a file is set aside instead of joining the batch. Its text is the file's audit reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MatchError {
    /// Nothing is configured for the file's source system.
    #[error("no client_config for source system {system:?}")]
    UnknownSystem { system: String },
    /// The source system has configured files, but not this one.
    #[error(
        "no client_config for file {base:?} in source system {system:?} (configured: {})",
        known.join(", ")
    )]
    UnknownFile {
        base: String,
        system: String,
        known: Vec<String>,
    },
    /// The file's extension does not fit its configuration's source type.
    #[error(
        "file {file:?} does not look like {source_type} (configured source_type of {logical:?})"
    )]
    WrongType {
        file: String,
        source_type: crate::model::SourceType,
        logical: String,
    },
    /// Several configurations match the file.
    #[error("more than one client_config matches {base:?} in {system:?}")]
    Ambiguous { base: String, system: String },
    /// Several files of the run are the same configured file.
    #[error(
        "{} are all file {logical:?} of source {system:?}: a batch takes one file per configured \
         file, and which one is meant cannot be told; none was loaded (all kept in failed/) — \
         send one",
        quoted(files)
    )]
    Collision {
        files: Vec<String>,
        logical: String,
        system: String,
    },
}

/// `"a.csv", "b.csv"`.
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// The configuration a file belongs to: same source system, same logical name (the file name
/// without extension and batch suffix, compared case-insensitively), fitting extension.
pub(crate) fn match_config<'c>(
    configs: &'c [ConfigRow],
    source: &str,
    plain_name: &str,
) -> std::result::Result<&'c ConfigRow, MatchError> {
    let (base, ext) = split_ext(plain_name);
    let candidates: Vec<&ConfigRow> = configs
        .iter()
        .filter(|c| {
            c.source_system == source && c.logical_source_file.eq_ignore_ascii_case(base.trim())
        })
        .collect();
    match candidates.as_slice() {
        [] => {
            let known: Vec<String> = configs
                .iter()
                .filter(|c| c.source_system == source)
                .map(|c| c.logical_source_file.clone())
                .collect();
            Err(if known.is_empty() {
                MatchError::UnknownSystem {
                    system: source.to_owned(),
                }
            } else {
                MatchError::UnknownFile {
                    base: base.to_owned(),
                    system: source.to_owned(),
                    known,
                }
            })
        }
        [c] if c.source_type.fits_extension(ext) => Ok(c),
        [c] => Err(MatchError::WrongType {
            file: plain_name.to_owned(),
            source_type: c.source_type,
            logical: c.logical_source_file.clone(),
        }),
        _ => Err(MatchError::Ambiguous {
            base: base.to_owned(),
            system: source.to_owned(),
        }),
    }
}

/// Files of one run that match the same configured file, by object key, with the reason each
/// is refused: which one is meant cannot be known, so none is loaded (both are kept).
/// A listed file: its key, where it is, its name in the batch, and its configuration.
type Candidate<'c> = (
    String,
    LakeKey,
    String,
    std::result::Result<&'c ConfigRow, MatchError>,
);

fn collisions(candidates: &[Candidate<'_>]) -> std::collections::HashMap<String, MatchError> {
    let mut by_config: std::collections::BTreeMap<i32, Vec<(&String, &LakeKey)>> =
        Default::default();
    for (key, k, _, matched) in candidates {
        if let Ok(c) = matched {
            by_config.entry(c.config_id).or_default().push((key, k));
        }
    }
    let mut out = std::collections::HashMap::new();
    for (config_id, files) in by_config.into_iter().filter(|(_, f)| f.len() > 1) {
        let names: Vec<String> = files.iter().map(|(_, k)| k.file.clone()).collect();
        let logical = candidates
            .iter()
            .find_map(|(.., m)| m.as_ref().ok().filter(|c| c.config_id == config_id))
            .map(|c| c.logical_source_file.clone())
            .unwrap_or_default();
        let reason = MatchError::Collision {
            files: names,
            logical,
            system: files
                .first()
                .map(|(_, k)| k.source.clone())
                .unwrap_or_default(),
        };
        for (key, _) in files {
            out.insert(key.clone(), reason.clone());
        }
    }
    out
}

fn item(c: &ConfigRow, client: &str, physical: &str, raw: String) -> FileItem {
    FileItem {
        physical_file_name: physical.to_string(),
        logical_source_file: c.logical_source_file.clone(),
        source_system: c.source_system.clone(),
        source_type: c.source_type,
        source_config: c.source_config.clone(),
        target_schema: c.target_schema.clone(),
        target_table: c.target_table.clone(),
        config_id: c.config_id,
        row_validation_policy: c.row_validation_policy,
        raw_key: raw,
        parquet_key: data_key(
            client,
            &c.source_system,
            "incoming",
            &parquet_name(physical),
        ),
    }
}

pub async fn start(deps: &Deps, input: RunInput) -> Result<StartOutput> {
    let batch_id: BatchId = input.batch_id;
    let batch = batch_id.to_string();
    let client = repo::find_client(&deps.pool, &input.client)
        .await?
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown client {:?} (no active row in tools.client_reference)",
                input.client
            ))
        })?;
    let configs = repo::configs(&deps.pool, client.client_id).await?;
    let mut files = Vec::new();
    let mut rejected = Vec::new();

    match input.mode {
        Mode::Start | Mode::Restart => {
            let listed = deps.store.list(&format!("raw/{}/", input.client)).await?;
            // New files are taken only when complete, re-checked here whoever triggered the
            // run (see crate::settle); this batch's own files (a retried start) are taken.
            let (new, own): (Vec<_>, Vec<_>) = listed.into_iter().partition(|o| {
                LakeKey::parse(&o.key)
                    .is_some_and(|k| k.area == "incoming" && batch_of(&k.file).is_none())
            });
            let new = if input.mode == Mode::Start {
                let mut settled = crate::settle::settled(deps, new).await?;
                // Oldest first; what is over the cap waits in incoming/ for the next batch,
                // which this batch's finalise starts.
                settled.sort_by(|a, b| (a.last_modified, &a.key).cmp(&(b.last_modified, &b.key)));
                if settled.len() > MAX_FILES_PER_BATCH {
                    tracing::info!(
                        client = %input.client,
                        waiting = settled.len() - MAX_FILES_PER_BATCH,
                        "more new files than one batch takes: the rest go to the next batch"
                    );
                    settled.truncate(MAX_FILES_PER_BATCH);
                }
                settled
            } else {
                new
            };
            let listed = own.into_iter().chain(new);
            // First what each file is, then act: two files for one configured file are a
            // collision (`cust.csv` and `CUST.csv`, `x.csv` and `x.txt`) and neither is taken.
            let mut candidates = Vec::new();
            for obj in listed {
                let Some(k) = LakeKey::parse(&obj.key) else {
                    continue;
                };
                if k.area != "incoming" {
                    continue;
                }
                // start: new files, and this batch's own (a retried start renamed them already);
                // restart: only this batch's files, put back by the operator.
                let (physical, plain) = match batch_of(&k.file) {
                    Some((id, plain)) if id == batch_id => (k.file.clone(), plain),
                    Some(_) => continue,
                    None if input.mode == Mode::Start => {
                        (with_batch(&k.file, batch_id), k.file.clone())
                    }
                    None => continue,
                };
                let matched = match_config(&configs, &k.source, &plain);
                candidates.push((obj.key, k, physical, matched));
            }
            let collisions = collisions(&candidates);
            for (key, k, physical, matched) in candidates {
                let matched = match (matched, collisions.get(&key)) {
                    (_, Some(reason)) => Err(reason.clone()),
                    (m, None) => m,
                };
                match matched {
                    Ok(c) => {
                        let dest = raw_key(&input.client, &k.source, "incoming", &physical);
                        move_if_present(deps, &key, &dest).await?;
                        repo::audit_begin(
                            &deps.pool,
                            client.client_id,
                            &batch,
                            &physical,
                            Some(&c.logical_source_file),
                            &k.source,
                        )
                        .await?;
                        files.push(item(c, &input.client, &physical, dest));
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        let dest = k.in_area("failed").key();
                        move_if_present(deps, &key, &dest).await?;
                        repo::audit_failed(
                            &deps.pool,
                            client.client_id,
                            &batch,
                            &k.file,
                            &k.source,
                            &reason,
                        )
                        .await?;
                        tracing::warn!(%key, %reason, "file set aside in failed/");
                        rejected.push(FileResult::failed(&k.file, &k.source, None, reason));
                    }
                }
            }
        }
        // Only the SQL steps run again: no file is touched.
        Mode::Refresh => {}
        Mode::Reprocessing => {
            let listed = deps.store.list(&format!("data/{}/", input.client)).await?;
            for obj in listed {
                let Some(k) = LakeKey::parse(&obj.key) else {
                    continue;
                };
                if k.area != "incoming"
                    || !matches!(batch_of(&k.file), Some((id, _)) if id == batch_id)
                {
                    continue;
                }
                // The raw file name is on the audit row that produced this Parquet.
                let physical =
                    physical_for_parquet(deps, client.client_id, &batch, &k.file).await?;
                let plain = batch_of(&physical)
                    .map(|(_, p)| p)
                    .unwrap_or_else(|| physical.clone());
                match match_config(&configs, &k.source, &plain) {
                    Ok(c) => {
                        repo::audit_begin(
                            &deps.pool,
                            client.client_id,
                            &batch,
                            &physical,
                            Some(&c.logical_source_file),
                            &k.source,
                        )
                        .await?;
                        repo::audit_set(
                            &deps.pool,
                            client.client_id,
                            &batch,
                            &physical,
                            repo::AuditColumn::Convert,
                            "SKIPPED",
                            None,
                        )
                        .await?;
                        crate::ledger::carry_convert(
                            &deps.pool,
                            &crate::ledger::LedgerKey {
                                client_id: client.client_id,
                                batch_id: batch.clone(),
                                file: &physical,
                                execution: &input.execution_name,
                            },
                        )
                        .await?;
                        let raw = raw_key(&input.client, &k.source, "archive", &physical);
                        let mut it = item(c, &input.client, &physical, raw);
                        it.parquet_key = obj.key.clone();
                        files.push(it);
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        tracing::warn!(key = %obj.key, %reason, "Parquet left in place: no configuration matches it");
                        rejected.push(FileResult::failed(
                            &physical,
                            &k.source,
                            Some(&k.file),
                            reason,
                        ));
                    }
                }
            }
        }
    }

    repo::job_begin(
        &deps.pool,
        client.client_id,
        &batch,
        input.mode.as_str(),
        &input.execution_name,
    )
    .await?;
    let (transformation, integration, refresh) =
        repo::procedures(&deps.pool, client.client_id).await?;
    let mut manifest = Manifest {
        client_schema: input.client.to_string(),
        client_id: client.client_id,
        batch_id: batch.clone(),
        mode: input.mode.as_str().into(),
        status: None,
        files: files
            .iter()
            .map(|f| ManifestFile {
                physical_file_name: f.physical_file_name.clone(),
                logical_source_file: f.logical_source_file.clone(),
                source_system: f.source_system.clone(),
                source_type: f.source_type,
                target_schema: f.target_schema.clone(),
                target_table: f.target_table.clone(),
                source_config: f.source_config.clone(),
                parquet_name: None,
                client_schema: input.client.to_string(),
                client_id: client.client_id,
                batch_id: batch.clone(),
                status: None,
                error: None,
                ledger: None,
            })
            .collect(),
        transformation_procedure: transformation,
        integration_procedure: integration,
        refresh_procedure: refresh,
        steps: vec![],
        runs: vec![],
    };
    manifest.runs = vec![crate::manifest::ManifestRun {
        execution_name: input.execution_name.clone(),
        mode: input.mode.as_str().into(),
        status: None,
        files: files.iter().map(|f| f.physical_file_name.clone()).collect(),
    }];
    if input.mode != Mode::Start {
        // The manifest describes the whole batch: the files and runs of the batch's manifest
        // so far, this run's files replacing their entries.
        for area in ["failed", "success", "refreshed"] {
            match deps
                .store
                .get(&manifest_key(&input.client, area, batch_id))
                .await
            {
                Ok(body) => {
                    if let Ok(previous) = serde_json::from_slice::<Manifest>(&body) {
                        manifest.merge_previous(previous);
                        break;
                    }
                }
                Err(e) if e.kind() == muara_core::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    // The run keeps the mapping it started with: an edit made while it runs applies to the
    // next run, never to half of this one. (Kept in the database, not in the execution's
    // state: Step Functions' state is limited to 256 KiB.)
    let mut config_ids: Vec<i32> = files.iter().map(|f| f.config_id).collect();
    config_ids.sort_unstable();
    config_ids.dedup();
    repo::snapshot_configs(&deps.pool, &input.execution_name, &config_ids).await?;
    let key = manifest_key(&input.client, "incoming", batch_id);
    deps.store
        .put(
            &key,
            Bytes::from(serde_json::to_vec_pretty(&manifest)?),
            &PutOptions {
                content_type: Some("application/json".into()),
                ..Default::default()
            },
        )
        .await?;
    tracing::info!(client = %input.client, batch = %batch, mode = input.mode.as_str(), files = files.len(), rejected = rejected.len(), "batch started");
    Ok(StartOutput {
        batch: BatchRef {
            client: input.client,
            client_id: client.client_id,
            batch_id,
            mode: input.mode,
            execution_name: input.execution_name,
            manifest_key: key,
            lock: input.lock,
        },
        files,
        rejected,
    })
}

async fn physical_for_parquet(
    deps: &Deps,
    client_id: i32,
    batch: &str,
    parquet: &str,
) -> Result<String> {
    let c = deps.pool.get().await.map_err(muara_db::pool::pool_error)?;
    let row = c
        .query_opt(
            "SELECT physical_file_name FROM tools.file_audit_log WHERE client_id = $1 AND batch_id = $2 AND parquet_name = $3",
            &[&client_id, &batch, &parquet],
        )
        .await
        .map_err(|e| muara_db::pg_error("reading tools.file_audit_log", e))?;
    Ok(row.map(|r| r.get(0)).unwrap_or_else(|| parquet.to_string()))
}

#[cfg(test)]
mod tests {
    use super::MatchError;

    #[test]
    fn match_errors_read_as_the_audit_reasons() {
        let unknown = MatchError::UnknownFile {
            base: "mystery file".into(),
            system: "pos".into(),
            known: vec!["sales".into(), "stock".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "no client_config for file \"mystery file\" in source system \"pos\" (configured: sales, stock)"
        );
        let collision = MatchError::Collision {
            files: vec!["sales.csv".into(), "SALES.txt".into()],
            logical: "sales".into(),
            system: "pos".into(),
        };
        assert_eq!(
            collision.to_string(),
            "\"sales.csv\", \"SALES.txt\" are all file \"sales\" of source \"pos\": a batch takes \
             one file per configured file, and which one is meant cannot be told; none was loaded \
             (all kept in failed/) — send one"
        );
    }
}
