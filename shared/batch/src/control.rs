//! Pipeline B as its routes (`crate::http`) serve it: run requests go through
//! [`runner::request_files`] (as the trigger's do), reads through [`report`]. The same service
//! serves `muara up` and the console Lambda.

use crate::report::{BatchDetail, BatchList, BatchLogs};
use crate::runner::RunOutcome;
use crate::{Deps, report, runner};
use muara_core::Result;
use serde::{Deserialize, Serialize};

/// `POST /clients/{client}/batches` → a batch run, as the trigger would request it; the read
/// routes → the `tools` tables.
#[derive(Debug, Clone)]
pub struct BatchControl(pub Deps);

/// What `POST /clients/{client}/batches` answers (and `muara batch …` reads): a run's outcome
/// or the unlock's, tagged by `outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunAnswer {
    Started {
        execution_id: String,
        name: String,
        batch_id: String,
    },
    Duplicate {
        execution_id: String,
        name: String,
    },
    Busy {
        /// The lease's owner (`execution:{name}`), `None` if it was released just now.
        holder: Option<String>,
        detail: String,
    },
    NothingToDo {
        detail: String,
    },
    UnknownClient {
        /// How many incoming files were moved to `failed/`.
        moved_to_failed: usize,
    },
    Unlocked {
        previous_holder: String,
        detail: String,
    },
    NotLocked {
        detail: String,
    },
}

impl From<&RunOutcome> for RunAnswer {
    /// The run outcome as the API and CLI report it.
    fn from(outcome: &RunOutcome) -> Self {
        match outcome {
            RunOutcome::Started {
                execution_id,
                name,
                batch_id,
            } => RunAnswer::Started {
                execution_id: execution_id.clone(),
                name: name.clone(),
                batch_id: batch_id.clone(),
            },
            RunOutcome::Duplicate { execution_id, name } => RunAnswer::Duplicate {
                execution_id: execution_id.clone(),
                name: name.clone(),
            },
            RunOutcome::Busy { holder } => RunAnswer::Busy {
                holder: holder.clone(),
                detail: format!(
                    "another run of this client holds its batch lease ({}); it picks up new files when it finishes",
                    holder.as_deref().unwrap_or("released just now")
                ),
            },
            RunOutcome::NothingToDo => RunAnswer::NothingToDo {
                detail: "no new file in raw/<client>/*/incoming/".into(),
            },
            RunOutcome::UnknownClient { moved } => RunAnswer::UnknownClient {
                moved_to_failed: *moved,
            },
        }
    }
}

/// What an operator asks of a client's batches through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A run: start, restart, reprocess or refresh; `files` chooses what a restart or a
    /// reprocessing runs (empty: its default).
    Run {
        mode: crate::model::Mode,
        batch_id: Option<String>,
        files: Vec<String>,
    },
    /// Frees the client's lease (audited by the route).
    Unlock,
}

impl Ask {
    /// Reads a request's `mode` (`start`, `restart`, `reprocess`, `refresh` or `unlock`).
    pub fn parse(mode: &str, batch_id: Option<String>, files: Vec<String>) -> Result<Self> {
        if mode == "unlock" {
            return Ok(Ask::Unlock);
        }
        Ok(Ask::Run {
            mode: mode.parse()?,
            batch_id,
            files,
        })
    }
}

/// What the request came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Run(RunOutcome),
    Unlocked { previous_holder: String },
    NotLocked,
}

impl Answer {
    /// The answer as the API and the CLI report it.
    pub fn reply(&self) -> RunAnswer {
        match self {
            Answer::Run(o) => o.into(),
            Answer::Unlocked { previous_holder } => RunAnswer::Unlocked {
                previous_holder: previous_holder.clone(),
                detail:
                    "the lease is free; a run still alive under the old lease can no longer write"
                        .into(),
            },
            Answer::NotLocked => RunAnswer::NotLocked {
                detail: "no run holds the lease".into(),
            },
        }
    }

    /// True when a run was started (the route answers `202`).
    pub fn started(&self) -> bool {
        matches!(self, Answer::Run(RunOutcome::Started { .. }))
    }
}

impl BatchControl {
    /// Requests a run (as the trigger would) or frees the lease.
    pub async fn request(&self, client: &str, ask: Ask) -> Result<Answer> {
        match ask {
            Ask::Unlock => Ok(match crate::lease::unlock(&self.0, client).await? {
                Some(h) => Answer::Unlocked {
                    previous_holder: h.owner,
                },
                None => Answer::NotLocked,
            }),
            Ask::Run {
                mode,
                batch_id,
                files,
            } => Ok(Answer::Run(
                runner::request_files(&self.0, client, mode, batch_id.as_deref(), &files).await?,
            )),
        }
    }

    /// Settles executions that ended without telling (so no dead run reads as RUNNING).
    async fn settle(&self, client: &str) {
        if let Err(e) = crate::lease::settle_ended(&self.0, client).await {
            tracing::warn!(%client, error = %e.chain(), "could not settle ended executions");
        }
    }

    /// The client's newest batches.
    pub async fn list(&self, client: &str, limit: i64) -> Result<BatchList> {
        self.settle(client).await;
        report::batches(&self.0.pool, client, limit).await
    }

    /// One batch: executions, files, steps, mails, ledger.
    pub async fn show(&self, client: &str, batch_id: &str) -> Result<BatchDetail> {
        self.settle(client).await;
        report::batch(&self.0.pool, client, batch_id).await
    }

    /// One batch's mapping, row and load logs.
    pub async fn logs(&self, client: &str, batch_id: &str) -> Result<BatchLogs> {
        self.settle(client).await;
        report::logs(&self.0.pool, client, batch_id).await
    }

    /// The lake objects of one batch (raw files, Parquet, manifest) wherever they are now.
    pub async fn objects(&self, client: &str, batch_id: &str) -> Result<Vec<BatchObject>> {
        batch_objects(&self.0, client, batch_id).await
    }

    /// One of those objects' bytes; a key that is not one of the batch's objects is not found.
    pub async fn object(&self, client: &str, batch_id: &str, key: &str) -> Result<bytes::Bytes> {
        // Only keys of this client's batch: no other path of the caller's choosing reaches
        // the store.
        let batch: crate::ids::BatchId = batch_id.parse()?;
        let ours = match crate::layout::LakeKey::parse(key) {
            Some(k) => {
                k.client == client
                    && matches!(
                        k.area.as_str(),
                        "incoming" | "success" | "failed" | "archive"
                    )
                    && matches!(crate::ids::batch_of(&k.file), Some((id, _)) if id == batch)
            }
            None => ["incoming", "success", "failed", "archive", "refreshed"]
                .iter()
                .any(|area| key == crate::layout::manifest_key(client, area, batch)),
        };
        if !ours {
            return Err(muara_core::Error::not_found(format!(
                "{key:?} is not an object of {client} {batch_id}"
            )));
        }
        self.0.store.get(key).await
    }
}

/// A lake object of a batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchObject {
    pub key: String,
    pub size: u64,
    /// `raw`, `parquet` or `manifest`.
    pub kind: &'static str,
}

/// The batch's raw files, Parquet files and manifest, in whichever area they are now.
pub async fn batch_objects(
    deps: &Deps,
    client: &str,
    batch_id: &str,
) -> muara_core::Result<Vec<BatchObject>> {
    let batch: crate::ids::BatchId = batch_id.parse()?;
    let mut out = Vec::new();
    for (zone, kind) in [("raw", "raw"), ("data", "parquet")] {
        for o in deps.store.list(&format!("{zone}/{client}/")).await? {
            let Some(k) = crate::layout::LakeKey::parse(&o.key) else {
                continue;
            };
            if matches!(crate::ids::batch_of(&k.file), Some((id, _)) if id == batch) {
                out.push(BatchObject {
                    key: o.key,
                    size: o.size,
                    kind,
                });
            }
        }
    }
    let manifest_suffix = format!("/batch_output_{client}_{batch}.json");
    for o in deps.store.list(&format!("batch_info/{client}/")).await? {
        if o.key.ends_with(&manifest_suffix) {
            out.push(BatchObject {
                key: o.key,
                size: o.size,
                kind: "manifest",
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_answer_has_the_json_the_api_has_always_given() {
        let cases = [
            (
                Answer::Run(RunOutcome::Started {
                    execution_id: "local:batch-lifecycle:x".into(),
                    name: "demo-BATCH000009-start".into(),
                    batch_id: "BATCH000009".into(),
                }),
                json!({"outcome": "started", "execution_id": "local:batch-lifecycle:x",
                       "name": "demo-BATCH000009-start", "batch_id": "BATCH000009"}),
            ),
            (
                Answer::Run(RunOutcome::Duplicate {
                    execution_id: "e".into(),
                    name: "n".into(),
                }),
                json!({"outcome": "duplicate", "execution_id": "e", "name": "n"}),
            ),
            (
                Answer::Run(RunOutcome::Busy {
                    holder: Some("execution:demo-BATCH000001-start".into()),
                }),
                json!({"outcome": "busy", "holder": "execution:demo-BATCH000001-start",
                       "detail": "another run of this client holds its batch lease (execution:demo-BATCH000001-start); it picks up new files when it finishes"}),
            ),
            (
                Answer::Run(RunOutcome::Busy { holder: None }),
                json!({"outcome": "busy", "holder": null,
                       "detail": "another run of this client holds its batch lease (released just now); it picks up new files when it finishes"}),
            ),
            (
                Answer::Run(RunOutcome::NothingToDo),
                json!({"outcome": "nothing_to_do", "detail": "no new file in raw/<client>/*/incoming/"}),
            ),
            (
                Answer::Run(RunOutcome::UnknownClient { moved: 3 }),
                json!({"outcome": "unknown_client", "moved_to_failed": 3}),
            ),
            (
                Answer::Unlocked {
                    previous_holder: "execution:x".into(),
                },
                json!({"outcome": "unlocked", "previous_holder": "execution:x",
                       "detail": "the lease is free; a run still alive under the old lease can no longer write"}),
            ),
            (
                Answer::NotLocked,
                json!({"outcome": "not_locked", "detail": "no run holds the lease"}),
            ),
        ];
        for (answer, expected) in cases {
            let reply = answer.reply();
            assert_eq!(
                serde_json::to_value(&reply).unwrap(),
                expected,
                "{answer:?}"
            );
            let back: RunAnswer = serde_json::from_value(expected).unwrap();
            assert_eq!(back, reply);
        }
    }
}
