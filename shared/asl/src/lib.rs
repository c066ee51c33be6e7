//! An interpreter for the [Amazon States Language](https://states-language.net/spec.html),
//! so the `statemachines/*.asl.json` definitions that run on AWS Step Functions can run
//! locally, with Task states served by in-process handlers.
//!
//! ```no_run
//! # async fn demo(invoker: &dyn muara_asl::TaskInvoker) -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::BTreeMap;
//! let vars = BTreeMap::from([("HealthFunctionArn".to_owned(), "muara:health".to_owned())]);
//! let text = std::fs::read_to_string("statemachines/health.asl.json")?;
//! let machine = muara_asl::StateMachine::parse(&muara_asl::substitute(&text, &vars)?)?;
//! let output = muara_asl::run(&machine, serde_json::json!({"ping": true}), invoker).await?;
//! # Ok(()) }
//! ```
//!
//! Module map:
//! - `model` — parsing and validation of a definition into typed states ([`StateMachine`]).
//! - `path` — JSONPath selection and ResultPath assignment.
//! - `template` — payload templates (`Parameters`, `ItemSelector`, `ResultSelector`).
//! - `intrinsic` — intrinsic functions such as `States.Format`.
//! - `choice` — Choice rule parsing and evaluation.
//! - `context` — the `$$` context object.
//! - `exec` — the interpreter: transitions, Retry/Catch, Parallel and Map concurrency.
//! - `substitute` — `${Name}` definition substitutions ([`substitute`]).
//! - [`names`] — the predefined `States.*` error names.
//! - [`registry`] — named machines an in-process orchestrator starts ([`Registry`]).
//! - `error`, `timestamp`, `rand` — error types, RFC 3339 handling, small randomness.
//! - `memory` (feature `memory`) — `MemOrchestrator`, muara's `Orchestrator` port running
//!   definitions with this interpreter in memory (the memory twin of the orchestrator).
//!
//! Not supported (rejected when parsing, never silently ignored): JSONata
//! (`QueryLanguage: JSONata`, `Arguments`, `Output`, `Condition`), variables (`Assign`),
//! `States.Hash`, `Credentials`, and the Distributed Map fields that read or write S3
//! (`ItemReader`, `ResultWriter`, `ItemBatcher`, `ToleratedFailure*`).
//! `HeartbeatSeconds` is validated but not enforced.

mod choice;
mod context;
mod error;
mod exec;
mod intrinsic;
#[cfg(feature = "memory")]
pub mod memory;
mod model;
pub mod names;
mod path;
mod rand;
pub mod registry;
mod substitute;
mod template;
mod timestamp;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::AslError;
pub use exec::MAX_TRANSITIONS;
pub use model::StateMachine;
pub use registry::{Registry, RegistryError};
pub use substitute::substitute;

/// Serves the Task states of a running state machine.
#[async_trait::async_trait]
pub trait TaskInvoker: Send + Sync {
    /// `resource` is the Task's Resource string after substitution (locally e.g.
    /// "muara:health"); `input` is the state's effective input after InputPath and
    /// Parameters. Return the task's result, or a failure whose `error` name Retry and
    /// Catch match against.
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure>;
}

/// A task's failure as Step Functions sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    /// The error name matched by Retry/Catch `ErrorEquals`.
    pub error: String,
    /// Human-readable detail; becomes `Cause` in a catcher's error output.
    pub cause: String,
}

impl TaskFailure {
    /// A failure with the given error name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// A task outcome as JSON — `{"ok": result}` or `{"error": name, "cause": text}` — for
/// whatever keeps or carries one (a [`Journal`], a task run in another process).
pub fn outcome_to_json(outcome: &Result<Value, TaskFailure>) -> Value {
    match outcome {
        Ok(v) => serde_json::json!({"ok": v}),
        Err(f) => serde_json::json!({"error": f.error, "cause": f.cause}),
    }
}

/// Reads what [`outcome_to_json`] wrote; `None` for anything else.
pub fn outcome_from_json(v: Value) -> Option<Result<Value, TaskFailure>> {
    let Value::Object(mut m) = v else {
        return None;
    };
    if let Some(ok) = m.remove("ok") {
        return Some(Ok(ok));
    }
    let error = m.get("error")?.as_str()?.to_string();
    let cause = m
        .get("cause")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some(Err(TaskFailure { error, cause }))
}

/// Why an execution failed: an uncaught error, or a Fail state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("execution failed with {error}: {cause}")]
pub struct ExecutionFailure {
    /// The error name, e.g. a task's error, `States.Timeout` or a Fail state's `Error`
    /// (empty when that state sets none). See [`names`].
    pub error: String,
    /// Human-readable detail.
    pub cause: String,
}

impl From<error::Fault> for ExecutionFailure {
    fn from(fault: error::Fault) -> Self {
        Self {
            error: fault.error,
            cause: fault.cause,
        }
    }
}

/// Called on every state entry (branches and Map iterations included, possibly
/// concurrently) with the state's name and raw input.
pub type TransitionHook = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// Knobs for [`run_with`]. `RunOptions::default()` behaves like [`run`].
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Caps every Wait state and retry backoff delay, so local runs and tests do not
    /// sleep for real-world durations. `None` waits as long as the definition says.
    pub max_wait: Option<Duration>,
    /// Observes state transitions, e.g. to record a trace in tests.
    pub on_transition: Option<TransitionHook>,
    /// `$$.Execution.Name`; a random UUID when `None`.
    pub execution_name: Option<String>,
    /// `$$.StateMachine.Name` (also part of the `$$.Execution.Id` ARN); `"local"` when
    /// `None`.
    pub state_machine_name: Option<String>,
    /// Makes the execution durable: every task outcome is recorded, and a task whose outcome
    /// the journal holds is not invoked again but replayed, so an execution interrupted by a
    /// crash can be run again from its input and continue where it stopped.
    pub journal: Option<Arc<dyn Journal>>,
}

/// Where a durable execution keeps its task outcomes. Keys name one invocation (scope path,
/// state, visit and attempt) and are the same on every replay of the same execution.
#[async_trait::async_trait]
pub trait Journal: Send + Sync {
    /// The outcome recorded under `key` by an earlier run of this execution.
    fn replay(&self, key: &str) -> Option<Result<Value, TaskFailure>>;
    /// Records the outcome of the invocation `key`. A record lost to a crash only means the
    /// (idempotent) task runs again on replay.
    async fn record(&self, key: &str, outcome: &Result<Value, TaskFailure>);
}

impl RunOptions {
    /// Sets [`max_wait`](Self::max_wait).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Sets [`on_transition`](Self::on_transition).
    pub fn with_on_transition(
        mut self,
        hook: impl Fn(&str, &Value) + Send + Sync + 'static,
    ) -> Self {
        self.on_transition = Some(Arc::new(hook));
        self
    }

    /// Sets [`execution_name`](Self::execution_name).
    pub fn with_execution_name(mut self, name: impl Into<String>) -> Self {
        self.execution_name = Some(name.into());
        self
    }

    /// Sets [`state_machine_name`](Self::state_machine_name).
    pub fn with_state_machine_name(mut self, name: impl Into<String>) -> Self {
        self.state_machine_name = Some(name.into());
        self
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("max_wait", &self.max_wait)
            .field(
                "on_transition",
                &self.on_transition.as_ref().map(|_| "Fn(&str, &Value)"),
            )
            .field("execution_name", &self.execution_name)
            .field("state_machine_name", &self.state_machine_name)
            .field("journal", &self.journal.as_ref().map(|_| "dyn Journal"))
            .finish()
    }
}

/// Runs `machine` on `input` to completion with default [`RunOptions`].
pub async fn run(
    machine: &StateMachine,
    input: Value,
    invoker: &dyn TaskInvoker,
) -> Result<Value, ExecutionFailure> {
    run_with(machine, input, invoker, &RunOptions::default()).await
}

/// Runs `machine` on `input` to completion.
///
/// Returns the final state's output, or the error that ended the execution. State
/// transitions are logged with `tracing` at debug level.
pub async fn run_with(
    machine: &StateMachine,
    input: Value,
    invoker: &dyn TaskInvoker,
    opts: &RunOptions,
) -> Result<Value, ExecutionFailure> {
    exec::execute(machine, input, invoker, opts)
        .await
        .map_err(ExecutionFailure::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_outcome_reads_back_as_written_and_nothing_else_reads_as_one() {
        for outcome in [
            Ok(serde_json::json!({"rows": 3})),
            Ok(Value::Null),
            Err(TaskFailure::new("Retryable", "connection lost")),
        ] {
            assert_eq!(outcome_from_json(outcome_to_json(&outcome)), Some(outcome));
        }
        assert_eq!(outcome_from_json(serde_json::json!({"rows": 3})), None);
        assert_eq!(outcome_from_json(serde_json::json!("ok")), None);
    }
}
