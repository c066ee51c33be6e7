//! The batch manifest, with the original `batch_info.json` fields so existing tooling reads it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub client_schema: String,
    pub client_id: i32,
    pub batch_id: String,
    /// `start`, `restart`, `reprocessing` or `refresh` (added; the original had one manifest per batch).
    #[serde(default)]
    pub mode: String,
    /// Final status once the batch is finalised (added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub transformation_procedure: Vec<String>,
    #[serde(default)]
    pub integration_procedure: Vec<String>,
    #[serde(default)]
    pub refresh_procedure: Vec<String>,
    /// The SQL steps this execution ran, once finalised (added).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<ManifestStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestStep {
    pub family: String,
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub physical_file_name: String,
    pub logical_source_file: String,
    pub source_system: String,
    pub source_type: String,
    pub target_schema: String,
    pub target_table: String,
    pub source_config: Option<serde_json::Value>,
    pub parquet_name: Option<String>,
    pub client_schema: String,
    pub client_id: i32,
    pub batch_id: String,
    /// Outcome once finalised: `LOADED` or `FAILED` (added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The file's row ledger for this run, once finalised (added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<crate::ledger::Ledger>,
}
