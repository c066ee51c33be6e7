//! What the stages need (ports) and what travels between states: keys and small summaries,
//! never data (Step Functions passes at most 256 KiB between states).

use deadpool_postgres::Pool;
use muara_core::ports::{Lease, Locks, ObjectStore, Orchestrator};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The ports and settings the stages use, built once per process.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn ObjectStore>,
    pub pool: Pool,
    pub locks: Arc<dyn Locks>,
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Where files are staged while converted or loaded (Lambda: /tmp).
    pub work_dir: PathBuf,
    pub convert: muara_convert::ConvertOptions,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

/// The name the batch lifecycle is registered under (locally and in configuration).
pub const MACHINE: &str = "batch-lifecycle";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Start,
    Restart,
    Reprocessing,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Start => "start",
            Mode::Restart => "restart",
            Mode::Reprocessing => "reprocessing",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = muara_core::Error;
    fn from_str(s: &str) -> muara_core::Result<Self> {
        match s {
            "start" => Ok(Mode::Start),
            "restart" => Ok(Mode::Restart),
            "reprocessing" | "reprocess" => Ok(Mode::Reprocessing),
            other => Err(muara_core::Error::invalid(format!(
                "mode {other:?} is not one of start, restart, reprocessing"
            ))),
        }
    }
}

/// A lease as it travels through the execution, so finalise can release it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRef {
    pub key: String,
    pub owner: String,
    pub token: String,
}

impl From<Lease> for LeaseRef {
    fn from(l: Lease) -> Self {
        Self {
            key: l.key,
            owner: l.owner,
            token: l.token,
        }
    }
}

impl From<LeaseRef> for Lease {
    fn from(l: LeaseRef) -> Self {
        Self {
            key: l.key,
            owner: l.owner,
            token: l.token,
        }
    }
}

/// The execution's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    pub client: String,
    pub batch_id: String,
    pub mode: Mode,
    pub execution_name: String,
    #[serde(default)]
    pub lock: Option<LeaseRef>,
}

/// The batch, as every state sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRef {
    pub client: String,
    pub client_id: i32,
    pub batch_id: String,
    pub mode: Mode,
    pub execution_name: String,
    pub manifest_key: String,
    #[serde(default)]
    pub lock: Option<LeaseRef>,
}

/// One file of the batch (a Map item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileItem {
    pub physical_file_name: String,
    pub logical_source_file: String,
    pub source_system: String,
    pub source_type: String,
    #[serde(default)]
    pub source_config: Option<serde_json::Value>,
    pub target_schema: String,
    pub target_table: String,
    pub config_id: i32,
    pub row_validation_policy: String,
    /// Where the raw file is now.
    pub raw_key: String,
    /// Where the Parquet is (or will be) while the file is processed.
    pub parquet_key: String,
}

/// What the start stage hands to the Map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartOutput {
    pub batch: BatchRef,
    pub files: Vec<FileItem>,
    /// Files set aside at start (unknown source or file), already in `failed/`.
    #[serde(default)]
    pub rejected: Vec<FileResult>,
}

/// The input of every per-file stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInput {
    pub batch: BatchRef,
    pub file: FileItem,
    /// Set by the state machine's Catch: `{"Error": …, "Cause": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The outcome of one file (the Map's result for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    pub physical_file_name: String,
    pub source_system: String,
    pub status: FileStatus,
    #[serde(default)]
    pub rows: Option<u64>,
    #[serde(default)]
    pub parquet_name: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

impl FileResult {
    /// A file set aside, with why.
    pub fn failed(
        physical_file_name: &str,
        source_system: &str,
        parquet_name: Option<&str>,
        reason: String,
    ) -> Self {
        Self {
            physical_file_name: physical_file_name.to_string(),
            source_system: source_system.to_string(),
            status: FileStatus::Failed,
            rows: None,
            parquet_name: parquet_name.map(str::to_string),
            error: Some(reason),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileStatus {
    Loaded,
    Failed,
}

/// The finalise stage's input: the start output with the Map's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinaliseInput {
    #[serde(default)]
    pub batch: Option<BatchRef>,
    #[serde(default)]
    pub files: Vec<FileItem>,
    #[serde(default)]
    pub rejected: Vec<FileResult>,
    #[serde(default)]
    pub results: Vec<FileResult>,
    /// Present when the start stage itself failed (caught by the state machine).
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// The execution input, for a failed start.
    #[serde(default)]
    pub input: Option<RunInput>,
}

/// The execution's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub client: String,
    pub batch_id: String,
    pub mode: Mode,
    pub status: String,
    pub files: usize,
    pub loaded: usize,
    pub failed: usize,
    pub rows: u64,
}
