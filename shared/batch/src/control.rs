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
        O::Busy => {
            serde_json::json!({"outcome": "busy", "detail": "another batch of this client is running; it picks up new files when it finishes"})
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
    ) -> muara_core::Result<Value> {
        let mode: crate::model::Mode = mode.parse()?;
        let outcome = runner::request(&self.0, client, mode, batch_id).await?;
        Ok(outcome_json(&outcome))
    }

    async fn query(&self, query: muara_api::BatchQuery) -> muara_core::Result<Value> {
        use muara_api::BatchQuery as Q;
        let pool = &self.0.pool;
        match query {
            Q::List { client, limit } => report::batches(pool, &client, limit).await,
            Q::Show { client, batch_id } => report::batch(pool, &client, &batch_id).await,
            Q::Logs { client, batch_id } => report::logs(pool, &client, &batch_id).await,
        }
    }
}
