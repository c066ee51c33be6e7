//! The agent's run report (`reports/agent/{host}/{run_id}.json`) and the digest mail made from
//! it when it lists failures.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use time::OffsetDateTime;

/// Where the agents' run reports go.
pub const REPORTS_PREFIX: &str = "reports/agent/";

/// The key of a run report.
pub fn report_key(host: &str, run_id: &str) -> String {
    format!("{REPORTS_PREFIX}{host}/{run_id}.json")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Recordings (paired `.wav` + `.xml`) found in the folders.
    pub seen: u64,
    /// Uploaded, verified and indexed-to-be in this run.
    pub uploaded: u64,
    /// Found already in the lake with the same checksum (not uploaded again).
    pub already_present: u64,
    /// Done in an earlier run and unchanged.
    pub unchanged: u64,
    /// Still being written (not yet stable); taken in a later run.
    pub waiting: u64,
    /// Failed in this run (see `failures`).
    pub failed: u64,
    /// Files without their partner older than the orphan threshold.
    pub orphans: u64,
    /// Bytes sent in this run.
    pub bytes_uploaded: u64,
}

/// One thing that went wrong, with the reason an operator acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub path: String,
    #[serde(default)]
    pub call_id: Option<String>,
    /// `pairing`, `xml`, `wav`, `duration`, `key`, `duplicate`, `upload`, `verify`, `archive`.
    pub stage: String,
    pub reason: String,
    /// Whether the agent tries again by itself in the next run (transient faults); otherwise
    /// the file is retried only once it changes.
    pub will_retry: bool,
}

/// Why a run report is not read. Its text is the reason the digest reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not a run report's shape.
    #[error("not an agent run report: {0}")]
    Malformed(#[source] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub host: String,
    pub agent_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub dry_run: bool,
    pub counts: Counts,
    pub failures: Vec<Failure>,
}

impl RunReport {
    pub fn parse(raw: &[u8]) -> Result<Self, ReportError> {
        serde_json::from_slice(raw).map_err(ReportError::Malformed)
    }

    /// The digest mail's subject and plain-text body.
    pub fn digest(&self) -> (String, String) {
        let c = &self.counts;
        let subject = format!(
            "[muara] recording agent {}: {} failure{} in run {}",
            self.host,
            self.failures.len(),
            if self.failures.len() == 1 { "" } else { "s" },
            self.run_id
        );
        let mut body = String::new();
        let _ = writeln!(
            body,
            "Recording agent on {} (version {}), run {}",
            self.host, self.agent_version, self.run_id
        );
        let _ = writeln!(
            body,
            "From {} to {} UTC\n",
            fmt_time(self.started_at),
            fmt_time(self.finished_at)
        );
        let _ = writeln!(
            body,
            "Recordings seen {}, uploaded {}, already in the lake {}, unchanged {}, still being written {}, failed {}, orphan files {}; {} bytes sent.\n",
            c.seen,
            c.uploaded,
            c.already_present,
            c.unchanged,
            c.waiting,
            c.failed,
            c.orphans,
            c.bytes_uploaded
        );
        let _ = writeln!(body, "Failures:");
        for f in &self.failures {
            let _ = writeln!(
                body,
                "- {} [{}{}] {}{}",
                f.path,
                f.stage,
                f.call_id
                    .as_deref()
                    .map(|c| format!(", call {c}"))
                    .unwrap_or_default(),
                f.reason,
                if f.will_retry {
                    " (retried automatically in the next run)"
                } else {
                    " (retried once the file changes)"
                }
            );
        }
        let _ = writeln!(
            body,
            "\nThe files stay where they are on {}. `muara agent status` there lists every failure.",
            self.host
        );
        (subject, body)
    }
}

fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names_every_failure_and_its_reason() {
        let r = RunReport {
            run_id: "r1".into(),
            host: "rec-01".into(),
            agent_version: "0.1.0".into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            dry_run: false,
            counts: Counts {
                seen: 3,
                failed: 2,
                ..Counts::default()
            },
            failures: vec![
                Failure {
                    path: "/rec/a.wav".into(),
                    call_id: Some("C-1".into()),
                    stage: "wav".into(),
                    reason: "truncated".into(),
                    will_retry: false,
                },
                Failure {
                    path: "/rec/b.wav".into(),
                    call_id: None,
                    stage: "upload".into(),
                    reason: "SlowDown".into(),
                    will_retry: true,
                },
            ],
        };
        let (subject, body) = r.digest();
        assert_eq!(
            subject,
            "[muara] recording agent rec-01: 2 failures in run r1"
        );
        assert!(
            body.contains("- /rec/a.wav [wav, call C-1] truncated (retried once the file changes)")
        );
        assert!(body.contains("- /rec/b.wav [upload] SlowDown (retried automatically"));
        assert_eq!(report_key("rec-01", "r1"), "reports/agent/rec-01/r1.json");
    }
}
