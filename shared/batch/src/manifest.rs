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
    /// Every run of the batch so far, oldest first, with the files each ran (added): the
    /// manifest describes the whole batch, not only its latest run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<ManifestRun>,
}

/// One execution of the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRun {
    pub execution_name: String,
    pub mode: String,
    /// The run's own status (`job_execution_log.status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The files it ran (physical names).
    #[serde(default)]
    pub files: Vec<String>,
}

impl Manifest {
    /// Makes this run's manifest describe the whole batch: the files of the batch's earlier
    /// runs that this run does not run again keep their entries and latest outcomes, and the
    /// earlier runs stay in the history. (A manifest written before runs were recorded counts
    /// as one run.)
    pub fn merge_previous(&mut self, previous: Manifest) {
        let mut files = previous.files;
        for f in std::mem::take(&mut self.files) {
            match files
                .iter_mut()
                .find(|p| p.physical_file_name == f.physical_file_name)
            {
                Some(p) => *p = f,
                None => files.push(f),
            }
        }
        self.files = files;
        let mut runs = previous.runs;
        if runs.is_empty() {
            runs.push(ManifestRun {
                execution_name: String::new(),
                mode: previous.mode,
                status: previous.status,
                files: self
                    .files
                    .iter()
                    .filter(|f| f.status.is_some())
                    .map(|f| f.physical_file_name.clone())
                    .collect(),
            });
        }
        runs.append(&mut self.runs);
        self.runs = runs;
    }

    /// The batch's status from its files' latest outcomes: every file loaded → `SUCCESS`, none
    /// → `FAILED`, some → `PARTIAL`, no file → `NO_FILES`; a run that failed as a whole (its
    /// start or a SQL stage) → `FAILED`.
    pub fn overall_status(&self, run_failed: bool) -> &'static str {
        if run_failed {
            return "FAILED";
        }
        let loaded = self
            .files
            .iter()
            .filter(|f| f.status.as_deref() == Some("LOADED"))
            .count();
        match (self.files.len(), loaded) {
            (0, _) => "NO_FILES",
            (n, l) if n == l => "SUCCESS",
            (_, 0) => "FAILED",
            _ => "PARTIAL",
        }
    }
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
    pub source_type: crate::model::SourceType,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, status: Option<&str>) -> ManifestFile {
        ManifestFile {
            physical_file_name: name.into(),
            logical_source_file: name.into(),
            source_system: "crm".into(),
            source_type: crate::model::SourceType::Csv,
            target_schema: "bronze".into(),
            target_table: "t".into(),
            source_config: None,
            parquet_name: None,
            client_schema: "acme".into(),
            client_id: 1,
            batch_id: "BATCH000001".into(),
            status: status.map(str::to_string),
            error: None,
            ledger: None,
        }
    }

    fn manifest(mode: &str, files: Vec<ManifestFile>, runs: Vec<ManifestRun>) -> Manifest {
        Manifest {
            client_schema: "acme".into(),
            client_id: 1,
            batch_id: "BATCH000001".into(),
            mode: mode.into(),
            status: None,
            files,
            transformation_procedure: vec![],
            integration_procedure: vec![],
            refresh_procedure: vec![],
            steps: vec![],
            runs,
        }
    }

    fn run(name: &str, mode: &str, status: Option<&str>, files: &[&str]) -> ManifestRun {
        ManifestRun {
            execution_name: name.into(),
            mode: mode.into(),
            status: status.map(str::to_string),
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn a_restart_manifest_keeps_the_whole_batch_and_its_history() {
        let mut previous = manifest(
            "start",
            vec![file("a.csv", Some("LOADED")), file("b.csv", Some("FAILED"))],
            vec![run("s", "start", Some("PARTIAL"), &["a.csv", "b.csv"])],
        );
        previous.status = Some("PARTIAL".into());
        let mut restart = manifest(
            "restart",
            vec![file("b.csv", None)],
            vec![run("r1", "restart", None, &["b.csv"])],
        );
        restart.merge_previous(previous);
        let names: Vec<(&str, Option<&str>)> = restart
            .files
            .iter()
            .map(|f| (f.physical_file_name.as_str(), f.status.as_deref()))
            .collect();
        assert_eq!(names, [("a.csv", Some("LOADED")), ("b.csv", None)]);
        assert_eq!(
            restart
                .runs
                .iter()
                .map(|r| r.execution_name.as_str())
                .collect::<Vec<_>>(),
            ["s", "r1"]
        );
        restart.files[1].status = Some("LOADED".into());
        assert_eq!(restart.overall_status(false), "SUCCESS");
        assert_eq!(restart.overall_status(true), "FAILED");
        restart.files[1].status = Some("FAILED".into());
        assert_eq!(restart.overall_status(false), "PARTIAL");
    }

    #[test]
    fn a_manifest_from_before_the_history_counts_as_one_run() {
        let mut previous = manifest("start", vec![file("a.csv", Some("LOADED"))], vec![]);
        previous.status = Some("SUCCESS".into());
        let mut again = manifest(
            "reprocessing",
            vec![file("a.csv", None)],
            vec![run("p1", "reprocessing", None, &["a.csv"])],
        );
        again.merge_previous(previous);
        assert_eq!(again.runs.len(), 2);
        assert_eq!(again.runs[0].mode, "start");
        assert_eq!(again.runs[0].status.as_deref(), Some("SUCCESS"));
        assert_eq!(
            manifest("start", vec![], vec![]).overall_status(false),
            "NO_FILES"
        );
    }
}
