//! The HTTP API's batch port over the pipeline: run requests go through [`runner::request`]
//! (as the trigger's do), reads through [`report`]. The same adapter serves `muara up` and the
//! console Lambda.

use crate::{Deps, report, runner};
use async_trait::async_trait;
use serde_json::Value;

/// `POST /clients/{client}/batches` → a batch run, as the trigger would request it; the read
/// routes → the `tools` tables.
#[derive(Debug, Clone)]
pub struct BatchControl(pub Deps);

/// The run outcome as the API and CLI report it.
pub fn outcome_json(outcome: &crate::runner::RunOutcome) -> Value {
    use crate::runner::RunOutcome as O;
    match outcome {
        O::Started {
            execution_id,
            name,
            batch_id,
        } => {
            serde_json::json!({"outcome": "started", "execution_id": execution_id, "name": name, "batch_id": batch_id})
        }
        O::Duplicate { execution_id, name } => {
            serde_json::json!({"outcome": "duplicate", "execution_id": execution_id, "name": name})
        }
        O::Busy { holder } => {
            serde_json::json!({"outcome": "busy", "holder": holder, "detail": format!(
                "another run of this client holds its batch lease ({}); it picks up new files when it finishes",
                holder.as_deref().unwrap_or("released just now")
            )})
        }
        O::NothingToDo => {
            serde_json::json!({"outcome": "nothing_to_do", "detail": "no new file in raw/<client>/*/incoming/"})
        }
        O::UnknownClient { moved } => {
            serde_json::json!({"outcome": "unknown_client", "moved_to_failed": moved})
        }
    }
}

#[async_trait]
impl muara_api::BatchControl for BatchControl {
    async fn request(
        &self,
        client: &str,
        mode: &str,
        batch_id: Option<&str>,
        files: &[String],
    ) -> muara_core::Result<Value> {
        if mode == "unlock" {
            return Ok(match crate::lease::unlock(&self.0, client).await? {
                Some(h) => serde_json::json!({"outcome": "unlocked", "previous_holder": h.owner,
                    "detail": "the lease is free; a run still alive under the old lease can no longer write"}),
                None => {
                    serde_json::json!({"outcome": "not_locked", "detail": "no run holds the lease"})
                }
            });
        }
        let mode: crate::model::Mode = mode.parse()?;
        let outcome = runner::request_files(&self.0, client, mode, batch_id, files).await?;
        Ok(outcome_json(&outcome))
    }

    async fn query(&self, query: muara_api::BatchQuery) -> muara_core::Result<Value> {
        use muara_api::BatchQuery as Q;
        let pool = &self.0.pool;
        let client = match &query {
            Q::List { client, .. } | Q::Show { client, .. } | Q::Logs { client, .. } => client,
        };
        if let Err(e) = crate::lease::settle_ended(&self.0, client).await {
            tracing::warn!(%client, error = %e.chain(), "could not settle ended executions");
        }
        match query {
            Q::List { client, limit } => report::batches(pool, &client, limit).await,
            Q::Show { client, batch_id } => report::batch(pool, &client, &batch_id).await,
            Q::Logs { client, batch_id } => report::logs(pool, &client, &batch_id).await,
        }
    }

    async fn objects(&self, client: &str, batch_id: &str) -> muara_core::Result<Value> {
        let objects = batch_objects(&self.0, client, batch_id).await?;
        Ok(
            serde_json::json!({"client": client, "batch_id": batch_id, "objects": objects.iter().map(|o| {
            serde_json::json!({"key": o.key, "size": o.size, "kind": o.kind})
        }).collect::<Vec<_>>()}),
        )
    }

    async fn object(
        &self,
        client: &str,
        batch_id: &str,
        key: &str,
    ) -> muara_core::Result<bytes::Bytes> {
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
