//! In-process task handlers for the local orchestrator: the `Resource` of a state machine's
//! Task resolves here instead of to a Lambda ARN. Pipelines add theirs as they land.

use async_trait::async_trait;
use muara_asl::{TaskFailure, TaskInvoker};
use serde_json::Value;

/// The invoker before any pipeline registers a task: every Task fails with a clear cause.
#[derive(Debug, Clone, Copy)]
pub struct NoTasksYet;

#[async_trait]
impl TaskInvoker for NoTasksYet {
    async fn invoke(&self, resource: &str, _input: Value) -> Result<Value, TaskFailure> {
        Err(TaskFailure {
            error: "States.TaskFailed".into(),
            cause: format!("no local handler is registered for task resource {resource:?}"),
        })
    }
}
