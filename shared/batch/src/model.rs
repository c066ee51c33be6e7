//! What the stages need (ports) and what travels between states: keys and small summaries,
//! never data (Step Functions passes at most 256 KiB between states).

pub use crate::ids::BatchId;
use deadpool_postgres::Pool;
pub use muara_core::names::ClientName;
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
    /// How many independent SQL steps of one batch run at once.
    pub step_concurrency: usize,
    /// How long one SQL stage may run (Lambda: its timeout less a margin); none locally.
    pub stage_budget: Option<std::time::Duration>,
    /// Where failure mail goes.
    pub notify: Notify,
    /// How long a new file's size and modification time must stand still before a batch
    /// takes it (see [`crate::settle`]).
    pub settle: std::time::Duration,
    /// Now, as the settle rule reads it.
    pub clock: Arc<dyn muara_core::ports::Clock>,
}

/// Failure mail: the mailer (SES, SMTP or the outbox) and the addresses.
pub use muara_core::ports::Notify;

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
    /// Only the SQL steps (transform, integrate, refresh views) of a batch, again.
    Refresh,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Start => "start",
            Mode::Restart => "restart",
            Mode::Reprocessing => "reprocessing",
            Mode::Refresh => "refresh",
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
            "refresh" => Ok(Mode::Refresh),
            other => Err(muara_core::Error::invalid(format!(
                "mode {other:?} is not one of start, restart, reprocessing, refresh"
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

/// What a configured file is (`tools.client_config.source_type`, checked by the database to be
/// one of these); its extension must fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    Csv,
    Xlsx,
    Json,
    Ndjson,
}

impl SourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Csv => "csv",
            SourceType::Xlsx => "xlsx",
            SourceType::Json => "json",
            SourceType::Ndjson => "ndjson",
        }
    }

    /// Whether a file with this extension (any case) can be this type.
    pub fn fits_extension(self, ext: Option<&str>) -> bool {
        let ext = ext.map(str::to_ascii_lowercase);
        matches!(
            (self, ext.as_deref()),
            (SourceType::Csv, Some("csv" | "txt" | "tsv"))
                | (SourceType::Xlsx, Some("xlsx" | "xlsm"))
                | (SourceType::Json, Some("json"))
                | (SourceType::Ndjson, Some("ndjson" | "jsonl" | "json"))
        )
    }
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SourceType {
    type Err = muara_core::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Csv, Self::Xlsx, Self::Json, Self::Ndjson]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                muara_core::Error::config(format!(
                    "unknown source_type {s:?}: use csv, xlsx, json or ndjson"
                ))
            })
    }
}

/// What a file's rows that fail validation do (`tools.client_config.row_validation_policy`):
/// fail the file, or load the good rows and report the bad ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowPolicy {
    Fatal,
    Warning,
}

impl RowPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RowPolicy::Fatal => "fatal",
            RowPolicy::Warning => "warning",
        }
    }
}

impl std::str::FromStr for RowPolicy {
    type Err = muara_core::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Fatal, Self::Warning]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                muara_core::Error::config(format!(
                    "unknown row_validation_policy {s:?}: use fatal or warning"
                ))
            })
    }
}

/// The execution's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    pub client: ClientName,
    pub batch_id: BatchId,
    pub mode: Mode,
    pub execution_name: String,
    #[serde(default)]
    pub lock: Option<LeaseRef>,
}

/// The batch, as every state sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRef {
    pub client: ClientName,
    pub client_id: i32,
    pub batch_id: BatchId,
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
    pub source_type: SourceType,
    #[serde(default)]
    pub source_config: Option<serde_json::Value>,
    pub target_schema: String,
    pub target_table: String,
    pub config_id: i32,
    pub row_validation_policy: RowPolicy,
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

impl CaughtError {
    /// What an infrastructure failure of a stage means for the file: the stage's process died
    /// or ran out of time on it. Never retried as transient (the state machine retries only
    /// `Retryable`); said plainly so the operator knows the file itself is the suspect.
    fn crash(error: &str) -> Option<&'static str> {
        Some(match error {
            "Runtime.ExitError" | "Runtime.Unknown" => {
                "the stage crashed on this file: its process exited abnormally"
            }
            "Runtime.OutOfMemory" => "the stage ran out of memory on this file",
            "Lambda.Unknown" => {
                "the stage crashed on this file: its function ended without an answer (out of memory or killed)"
            }
            "Sandbox.Timedout" | "States.Timeout" => "the stage timed out on this file",
            _ => return None,
        })
    }

    /// `Error: message`. Step Functions wraps a Lambda's error as a JSON `Cause`
    /// (`{"errorType": …, "errorMessage": …}`); the message is taken out of it.
    pub fn message(&self) -> String {
        let cause = serde_json::from_str::<serde_json::Value>(&self.cause)
            .ok()
            .and_then(|v| v["errorMessage"].as_str().map(str::to_string))
            .unwrap_or_else(|| self.cause.clone());
        if let Some(what) = Self::crash(&self.error) {
            return if cause.is_empty() {
                format!("{what} ({})", self.error)
            } else {
                format!("{what} ({}: {cause})", self.error)
            };
        }
        if cause.is_empty() {
            self.error.clone()
        } else if cause.starts_with(&format!("{}: ", self.error)) {
            // Our errors print their class first already.
            cause
        } else {
            format!("{}: {cause}", self.error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_types_and_row_policies_travel_as_the_strings_the_database_holds() {
        for (text, t) in [
            ("csv", SourceType::Csv),
            ("xlsx", SourceType::Xlsx),
            ("json", SourceType::Json),
            ("ndjson", SourceType::Ndjson),
        ] {
            assert_eq!(text.parse::<SourceType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), text);
            assert_eq!(t.to_string(), text);
        }
        let e = "CSV".parse::<SourceType>().unwrap_err().to_string();
        assert!(e.contains("unknown source_type \"CSV\""), "{e}");
        assert!(SourceType::Csv.fits_extension(Some("TSV")));
        assert!(SourceType::Ndjson.fits_extension(Some("json")));
        assert!(!SourceType::Json.fits_extension(Some("jsonl")));
        assert!(!SourceType::Xlsx.fits_extension(None));
        assert_eq!("fatal".parse::<RowPolicy>().unwrap(), RowPolicy::Fatal);
        assert_eq!(serde_json::to_value(RowPolicy::Warning).unwrap(), "warning");
        assert!("warn".parse::<RowPolicy>().is_err());
    }

    #[test]
    fn a_batch_travels_as_plain_strings_and_only_checked_ids_come_back() {
        let json = serde_json::json!({
            "client": "demo", "client_id": 7, "batch_id": "BATCH000042", "mode": "start",
            "execution_name": "demo-BATCH000042-start",
            "manifest_key": "batch_info/demo/incoming/batch_output_demo_BATCH000042.json"
        });
        let b: BatchRef = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(b.batch_id, BatchId(42));
        assert_eq!(b.client.as_str(), "demo");
        let mut back = serde_json::to_value(&b).unwrap();
        back.as_object_mut().unwrap().remove("lock");
        assert_eq!(
            back, json,
            "the state machine sees the same strings as before"
        );
        for (field, bad) in [("client", "Demo; drop"), ("batch_id", "B1")] {
            let mut wrong = json.clone();
            wrong[field] = serde_json::json!(bad);
            assert!(
                serde_json::from_value::<BatchRef>(wrong).is_err(),
                "{field}={bad}"
            );
        }
    }

    #[test]
    fn a_caught_error_reads_once_whatever_the_host_wrapped_it_in() {
        let local = CaughtError {
            error: "InvalidInput".into(),
            cause: "InvalidInput: validate mapping f.csv: not mapped: X".into(),
        };
        assert_eq!(
            local.message(),
            "InvalidInput: validate mapping f.csv: not mapped: X"
        );
        let sfn = CaughtError {
            error: "InvalidInput".into(),
            cause: r#"{"errorType":"InvalidInput","errorMessage":"InvalidInput: bad row"}"#.into(),
        };
        assert_eq!(sfn.message(), "InvalidInput: bad row");
        let other = CaughtError {
            error: "Custom.Error".into(),
            cause: "something".into(),
        };
        assert_eq!(other.message(), "Custom.Error: something");
    }

    #[test]
    fn a_stage_that_crashed_or_timed_out_says_so_and_names_the_aws_error() {
        for (error, cause, says) in [
            (
                "Runtime.ExitError",
                r#"{"errorType":"Runtime.ExitError","errorMessage":"RequestId: 1 Error: Runtime exited with error: signal: aborted"}"#,
                "the stage crashed on this file: its process exited abnormally (Runtime.ExitError: RequestId: 1 Error: Runtime exited with error: signal: aborted)",
            ),
            (
                "Lambda.Unknown",
                "",
                "the stage crashed on this file: its function ended without an answer (out of memory or killed) (Lambda.Unknown)",
            ),
            (
                "States.Timeout",
                "task timed out",
                "the stage timed out on this file (States.Timeout: task timed out)",
            ),
        ] {
            let e = CaughtError {
                error: error.into(),
                cause: cause.into(),
            };
            assert_eq!(e.message(), says);
        }
    }
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
    /// The SQL stages' summaries, when they ran.
    #[serde(default)]
    pub transform: Option<crate::steps::StageSummary>,
    #[serde(default)]
    pub integrate: Option<crate::steps::StageSummary>,
    #[serde(default)]
    pub refresh: Option<crate::steps::StageSummary>,
    /// Set by the state machine's Catch when a SQL stage failed.
    #[serde(default)]
    pub step_error: Option<CaughtError>,
}

/// The input of the SQL stages: the batch and (after the Map) each file's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepsInput {
    pub batch: BatchRef,
    #[serde(default)]
    pub results: Vec<FileResult>,
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
    /// Rows the SQL steps reported (transform + integrate).
    #[serde(default)]
    pub step_rows: i64,
    /// Whether a failure mail was written (and sent, unless the mail service was down).
    #[serde(default)]
    pub mailed: bool,
}

/// Pipeline B's settings from the environment (the same names in Lambda and `muara up`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `MUARA_STEP_CONCURRENCY` (default 4): independent SQL steps of a batch run at once.
    pub step_concurrency: usize,
    /// `MUARA_RETENTION_DAYS` (default 90): housekeeping removes older log rows.
    pub retention: std::time::Duration,
    /// `MUARA_MAIL_FROM`: the sender of failure mail.
    pub mail_from: Option<String>,
    /// `MUARA_MAIL_TO`: comma-separated recipients of failure mail.
    pub mail_to: Vec<String>,
    /// `MUARA_STAGE_BUDGET_SECS`: the time budget of one SQL stage (unset: none).
    pub stage_budget: Option<std::time::Duration>,
    /// `MUARA_SETTLE_SECONDS`: how long a new file must stand still (see [`crate::settle`]).
    pub settle: std::time::Duration,
}

impl Settings {
    pub fn from_env() -> muara_core::Result<Self> {
        use muara_core::config::{optional, parsed_or};
        let step_concurrency: usize = parsed_or("MUARA_STEP_CONCURRENCY", 4)?;
        if step_concurrency == 0 || step_concurrency > 64 {
            return Err(muara_core::Error::config(
                "MUARA_STEP_CONCURRENCY must be between 1 and 64",
            ));
        }
        let days: u64 = parsed_or("MUARA_RETENTION_DAYS", 90)?;
        if days == 0 {
            return Err(muara_core::Error::config(
                "MUARA_RETENTION_DAYS must be at least 1",
            ));
        }
        Ok(Self {
            step_concurrency,
            retention: std::time::Duration::from_secs(days * 24 * 3600),
            stage_budget: optional("MUARA_STAGE_BUDGET_SECS")
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|s| *s >= 30)
                        .map(std::time::Duration::from_secs)
                        .ok_or_else(|| {
                            muara_core::Error::config(
                                "MUARA_STAGE_BUDGET_SECS must be a number of seconds, at least 30",
                            )
                        })
                })
                .transpose()?,
            mail_from: optional("MUARA_MAIL_FROM"),
            mail_to: muara_core::config::list("MUARA_MAIL_TO"),
            settle: crate::settle::from_env()?,
        })
    }
}
