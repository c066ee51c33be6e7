//! Failure mail: one per failed or partially failed execution, with each file's and each SQL
//! step's outcome and the exact command that runs the batch again.
//!
//! The mail is written to `tools.batch_notification` before it is sent. When the mail service
//! is down the batch's outcome is recorded regardless, the row stays `PENDING`, and
//! housekeeping sends it later: a mail is delayed, never lost silently.

use crate::model::{Deps, FileResult, FileStatus, Mode};
use crate::report::StepRun;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_core::ports::Mail;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use std::fmt::Write as _;

/// What the mail reports.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub client: &'a str,
    pub batch_id: &'a str,
    pub mode: Mode,
    pub status: &'a str,
    pub execution_name: &'a str,
    pub files: &'a [FileResult],
    pub steps: &'a [StepRun],
    /// Why the execution failed as a whole (start failed, a SQL stage failed).
    pub error: Option<&'a str>,
    /// A SQL stage failed (a step, or the stage itself: a dependency cycle, a bad name).
    pub sql_failed: bool,
}

/// The commands that run the failed part again, as an operator types them.
pub fn commands(r: &Report<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let files_failed = r.files.iter().any(|f| f.status == FileStatus::Failed);
    let step_failed = r.sql_failed || r.steps.iter().any(|s| s.status == "FAILED");
    if files_failed || (r.error.is_some() && !step_failed && r.mode != Mode::Refresh) {
        let (verb, what) = if r.mode == Mode::Reprocessing {
            (
                "reprocess",
                "validates and loads the batch's failed Parquet files again (moved back from data/…/failed/)",
            )
        } else {
            (
                "restart",
                "runs the batch's failed files again (moved back from raw/…/failed/); loaded files are not touched",
            )
        };
        out.push((
            format!("muara batch {verb} {} --batch-id {}", r.client, r.batch_id),
            format!("after fixing the files or their configuration: {what}"),
        ));
    }
    if step_failed || (r.mode == Mode::Refresh && r.error.is_some()) {
        out.push((
            format!("muara batch refresh {} --batch-id {}", r.client, r.batch_id),
            "after fixing the step: runs the batch's SQL steps (transform, integrate, refresh views) again".into(),
        ));
    }
    out
}

/// `(subject, body)`.
pub fn compose(r: &Report<'_>) -> (String, String) {
    let failed_files: Vec<&FileResult> = r
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Failed)
        .collect();
    let failed_step = r.steps.iter().find(|s| s.status == "FAILED");
    let what = match (failed_step, failed_files.len()) {
        (Some(s), _) => format!("{} step {} failed", s.family, s.name),
        (None, 0) if r.sql_failed => r
            .error
            .map(|e| e.chars().take(120).collect())
            .unwrap_or_else(|| "a SQL stage failed".into()),
        (None, 0) => r
            .error
            .map(|e| e.chars().take(80).collect())
            .unwrap_or_else(|| "failed".into()),
        (None, n) => format!("{n} of {} files failed", r.files.len()),
    };
    let subject = format!(
        "[muara] {} {} {} ({}): {what}",
        r.client,
        r.batch_id,
        r.status,
        r.mode.as_str()
    );
    let mut b = String::new();
    let _ = writeln!(b, "Client:     {}", r.client);
    let _ = writeln!(b, "Batch:      {}", r.batch_id);
    let _ = writeln!(b, "Mode:       {}", r.mode.as_str());
    let _ = writeln!(b, "Status:     {}", r.status);
    let _ = writeln!(b, "Execution:  {}", r.execution_name);
    if let Some(e) = r.error {
        let _ = writeln!(b, "Error:      {e}");
    }
    let _ = writeln!(b);
    if r.files.is_empty() {
        let _ = writeln!(b, "Files: none in this run");
    } else {
        let loaded = r.files.len() - failed_files.len();
        let _ = writeln!(b, "Files ({loaded} loaded, {} failed):", failed_files.len());
        let width = r
            .files
            .iter()
            .map(|f| f.physical_file_name.chars().count())
            .max()
            .unwrap_or(0);
        for f in r.files {
            let status = match f.status {
                FileStatus::Loaded => "LOADED",
                FileStatus::Failed => "FAILED",
            };
            let detail = match (&f.rows, &f.error) {
                (_, Some(e)) => e.clone(),
                (Some(n), None) => format!("{n} rows"),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                b,
                "  {status:<7} {:<6} {:<width$}  {detail}",
                f.source_system, f.physical_file_name
            );
        }
    }
    let _ = writeln!(b);
    if r.steps.is_empty() {
        let _ = writeln!(b, "SQL steps: none ran");
    } else {
        let _ = writeln!(b, "SQL steps:");
        let width = r
            .steps
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        for s in r.steps {
            let mut detail = String::new();
            if let Some(n) = s.rows_affected {
                let _ = write!(detail, "{n} rows  ");
            }
            if let Some(ms) = s.duration_ms {
                let _ = write!(detail, "{ms} ms  ");
            }
            if let Some(e) = &s.error_message {
                detail.push_str(e);
            }
            let _ = writeln!(
                b,
                "  {:<11} {:<9} {:<width$}  {}",
                s.status,
                s.family,
                s.name,
                detail.trim_end()
            );
        }
    }
    let _ = writeln!(b);
    let commands = commands(r);
    if !commands.is_empty() {
        let _ = writeln!(b, "To run it again:");
        for (cmd, why) in &commands {
            let _ = writeln!(b, "  {cmd}");
            let _ = writeln!(b, "      {why}");
        }
        let _ = writeln!(
            b,
            "  (over HTTP: POST /clients/{}/batches with {{\"mode\": \"restart|reprocessing|refresh\", \"batch_id\": \"{}\"}})",
            r.client, r.batch_id
        );
        let _ = writeln!(b);
    }
    let _ = writeln!(b, "Details: muara batch status {} {}", r.client, r.batch_id);
    let _ = writeln!(b, "         muara batch logs {} {}", r.client, r.batch_id);
    (subject, b)
}

/// Writes the mail for an execution (once: a retried finalise does not write a second).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    pool: &Pool,
    client_id: i32,
    batch_id: &str,
    execution: &str,
    from: &str,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<()> {
    let c = pool.get().await.map_err(pool_error)?;
    c.execute(
        "INSERT INTO tools.batch_notification (client_id, batch_id, execution_name, sender, recipients, subject, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (execution_name) DO NOTHING",
        &[&client_id, &batch_id, &execution, &from, &to, &subject, &body],
    )
    .await
    .map_err(|e| pg_error("writing tools.batch_notification", e))?;
    Ok(())
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

/// Attempts before a mail is given up (and logged as an error); between attempts the wait
/// doubles from one minute up to six hours.
pub const MAX_ATTEMPTS: i32 = 20;

/// Sends pending mail that is due (all, or one execution's), oldest due first. Each row is
/// claimed first (its next attempt moved five minutes ahead), so two senders never send the
/// same mail; a failed send sets the next attempt by backoff.
pub async fn deliver_pending(deps: &Deps, only: Option<&str>) -> Result<Delivery> {
    let claimed = {
        let c = deps.pool.get().await.map_err(pool_error)?;
        c.query(
            "UPDATE tools.batch_notification SET attempts = attempts + 1, next_attempt_at = now() + interval '5 minutes'
             WHERE notification_id IN (
                 SELECT notification_id FROM tools.batch_notification
                 WHERE status = 'PENDING' AND next_attempt_at <= now()
                   AND ($1::text IS NULL OR execution_name = $1)
                 ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED)
             RETURNING notification_id, sender, recipients, subject, body, execution_name, attempts",
            &[&only],
        )
        .await
        .map_err(|e| pg_error("claiming pending mail", e))?
    };
    let mut out = Delivery::default();
    for row in claimed {
        let id: i64 = row.get(0);
        let execution: String = row.get(5);
        let attempts: i32 = row.get(6);
        let mail = Mail {
            from: row.get(1),
            to: row.get(2),
            subject: row.get(3),
            text: row.get(4),
        };
        let result = if mail.to.is_empty() {
            Err(muara_core::Error::config(
                "no recipients: set MUARA_MAIL_TO (OperatorEmails in the template)",
            ))
        } else {
            deps.notify.mailer.send(&mail).await
        };
        let c = deps.pool.get().await.map_err(pool_error)?;
        match result {
            Ok(sent) => {
                c.execute(
                    "UPDATE tools.batch_notification SET status = 'SENT', sent_at = now(), message_id = $2,
                            last_error = NULL WHERE notification_id = $1",
                    &[&id, &sent.message_id],
                )
                .await
                .map_err(|e| pg_error("updating tools.batch_notification", e))?;
                tracing::info!(%execution, message_id = %sent.message_id, location = ?sent.location, "failure mail sent");
                out.sent += 1;
            }
            Err(e) => {
                let reason = e.chain();
                let give_up = attempts >= MAX_ATTEMPTS;
                let wait_minutes = 2f64.powi(attempts.clamp(0, 9) - 1).min(360.0);
                c.execute(
                    "UPDATE tools.batch_notification
                     SET last_error = $2, status = CASE WHEN $3 THEN 'FAILED' ELSE status END,
                         next_attempt_at = now() + ($4::float8 * interval '1 minute')
                     WHERE notification_id = $1",
                    &[&id, &reason, &give_up, &wait_minutes],
                )
                .await
                .map_err(|e| pg_error("updating tools.batch_notification", e))?;
                if give_up {
                    tracing::error!(%execution, attempts, error = %reason, "failure mail given up; see tools.batch_notification");
                } else {
                    tracing::error!(%execution, attempts, retry_in_minutes = wait_minutes, error = %reason, "failure mail not sent; it stays pending and housekeeping retries it");
                }
                out.failed += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(family: &str, name: &str, status: &str, error: Option<&str>) -> StepRun {
        StepRun {
            family: family.into(),
            name: name.into(),
            status: status.into(),
            rows_affected: Some(3),
            duration_ms: Some(12),
            error_message: error.map(Into::into),
            started_at: None,
            execution_name: Some("demo-BATCH000002-start".into()),
        }
    }

    #[test]
    fn a_failed_step_mail_names_the_step_and_the_refresh_command() {
        let files = vec![FileResult {
            physical_file_name: "cust_info_BATCH000002.csv".into(),
            source_system: "crm".into(),
            status: FileStatus::Loaded,
            rows: Some(500),
            parquet_name: None,
            error: None,
        }];
        let steps = vec![
            step(
                "transform",
                "silver_demo.load_crm_cust_info",
                "SUCCESS",
                None,
            ),
            step(
                "integrate",
                "gold_demo.load_fact_sales",
                "FAILED",
                Some("demo break (P0001)"),
            ),
            step(
                "refresh",
                "gold_demo.mv_order_gap",
                "SKIPPED",
                Some("not run"),
            ),
        ];
        let r = Report {
            client: "demo",
            batch_id: "BATCH000002",
            mode: Mode::Start,
            status: "FAILED",
            execution_name: "demo-BATCH000002-start",
            files: &files,
            steps: &steps,
            error: Some("integrate step gold_demo.load_fact_sales failed"),
            sql_failed: true,
        };
        let (subject, body) = compose(&r);
        assert_eq!(
            subject,
            "[muara] demo BATCH000002 FAILED (start): integrate step gold_demo.load_fact_sales failed"
        );
        assert!(
            body.contains("muara batch refresh demo --batch-id BATCH000002"),
            "{body}"
        );
        assert!(!body.contains("muara batch restart"), "{body}");
        assert!(body.contains("demo break (P0001)"));
        assert!(
            body.contains("LOADED  crm    cust_info_BATCH000002.csv  500 rows"),
            "{body}"
        );
    }

    #[test]
    fn failed_files_get_the_restart_or_reprocess_command() {
        let files = vec![FileResult::failed(
            "LOC_A101_BATCH000001.csv",
            "erp",
            None,
            "column REGION_NOTE is not mapped".into(),
        )];
        let mut r = Report {
            client: "demo",
            batch_id: "BATCH000001",
            mode: Mode::Start,
            status: "PARTIAL",
            execution_name: "demo-BATCH000001-start",
            files: &files,
            steps: &[],
            error: None,
            sql_failed: false,
        };
        let c = commands(&r);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "muara batch restart demo --batch-id BATCH000001");
        assert!(compose(&r).0.ends_with("1 of 1 files failed"));
        r.mode = Mode::Reprocessing;
        assert_eq!(
            commands(&r)[0].0,
            "muara batch reprocess demo --batch-id BATCH000001"
        );
        // A SQL stage that failed without a step row (a dependency cycle): refresh, not restart.
        let r = Report {
            files: &[],
            mode: Mode::Start,
            status: "FAILED",
            error: Some("integrate steps: dependency cycle: a -> b -> a"),
            sql_failed: true,
            ..r
        };
        let c = commands(&r);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].0, "muara batch refresh demo --batch-id BATCH000001");
        assert!(compose(&r).0.contains("dependency cycle"));
    }
}
