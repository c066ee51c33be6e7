//! The pipelines as the local runtime hosts them: their Task resources resolved to
//! in-process handlers, and their object-created triggers fed by the lake watcher.

use crate::runtime::ObjectEventHandler;
use async_trait::async_trait;
use muara_asl::{TaskFailure, TaskInvoker};
use muara_core::s3event::S3EventRecord;
use serde_json::Value;

/// Task resources `muara:batch:<stage>` → the batch lifecycle's stage handlers.
#[derive(Debug, Clone)]
pub struct BatchTasks(pub muara_batch::Deps);

#[async_trait]
impl TaskInvoker for BatchTasks {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let Some(stage) = resource.strip_prefix("muara:batch:") else {
            return Err(TaskFailure {
                error: "States.TaskFailed".into(),
                cause: format!("no local handler is registered for task resource {resource:?}"),
            });
        };
        muara_batch::tasks::run_stage(&self.0, stage, input)
            .await
            .map_err(|e| TaskFailure {
                error: e.kind().error_type().into(),
                cause: e.chain(),
            })
    }
}

/// Objects created under `raw/` → batch runs, as the S3 → SQS → trigger Lambda path does.
#[derive(Debug, Clone)]
pub struct BatchTrigger(pub muara_batch::Deps);

#[async_trait]
impl ObjectEventHandler for BatchTrigger {
    fn prefix(&self) -> &str {
        "raw/"
    }
    async fn handle(&self, record: &S3EventRecord) -> muara_core::Result<()> {
        muara_batch::runner::on_objects_created(&self.0, &[record.key()?]).await?;
        Ok(())
    }
}
