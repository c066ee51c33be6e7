use crate::Result;
use async_trait::async_trait;
use serde_json::Value;

/// The result of [`Orchestrator::start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new execution was started.
    New { execution_id: String },
    /// An execution with this name already exists; nothing new was started.
    AlreadyExists { execution_id: String },
}

impl Started {
    pub fn execution_id(&self) -> &str {
        match self {
            Started::New { execution_id } | Started::AlreadyExists { execution_id } => execution_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn is_terminal(self) -> bool {
        self != ExecutionStatus::Running
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "TIMED_OUT" => ExecutionStatus::TimedOut,
            "ABORTED" => ExecutionStatus::Aborted,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub execution_id: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Runs named state machines. The execution name is the idempotency key: starting a name that
/// exists never starts a second execution.
#[async_trait]
pub trait Orchestrator: Send + Sync {
    /// Starts `machine` (a logical name such as `batch-lifecycle`) as execution `name`.
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<Started>;
    /// Current state of an execution started by [`Orchestrator::start`].
    async fn describe(&self, execution_id: &str) -> Result<ExecutionInfo>;
    /// The id the execution named `name` of `machine` has (or would have), so its status can
    /// be asked by name — e.g. to tell whether a lease's holder still lives.
    fn execution_id(&self, machine: &str, name: &str) -> Result<String>;
}
