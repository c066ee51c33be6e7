//! The failure digest: an agent's run report arrived in the lake → the run is recorded in
//! `recordings.agent_run` → when the report lists failures, one digest mail goes to operators.
//!
//! Exactly one mail per report under redelivery: the mail is claimed in the row before it is
//! sent and marked sent after; a claim older than [`CLAIM_TTL_SECS`] (a crash between the two)
//! may be taken again. A mailer fault returns an error with the claim released, so the queue
//! redelivers and the mail is tried again.

use crate::report::RunReport;
use deadpool_postgres::Pool;
use muara_core::ports::{Notify, ObjectStore};
use muara_core::{ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;

/// How long a digest claim holds before another delivery may send the mail.
pub const CLAIM_TTL_SECS: i64 = 600;

/// What handling one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// The report had failures and its digest went out now.
    Sent { failures: usize },
    /// The digest was sent by an earlier delivery, or another is sending it.
    AlreadySent,
    /// The run had no failures: recorded, no mail.
    Clean,
    /// The object is not a report; recorded in the log only.
    Unreadable { reason: String },
}

pub async fn handle_report(
    store: &dyn ObjectStore,
    pool: &Pool,
    notify: &Notify,
    key: &str,
) -> Result<Digest> {
    let raw = match store.get(key).await {
        Ok(raw) => raw,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Digest::Unreadable {
                reason: "the report no longer exists".into(),
            });
        }
        Err(e) => return Err(e),
    };
    let report = match RunReport::parse(&raw) {
        Ok(r) => r,
        Err(unreadable) => {
            let reason = unreadable.to_string();
            tracing::error!(%key, %reason, "agent report not readable");
            return Ok(Digest::Unreadable { reason });
        }
    };
    let client = pool.get().await.map_err(pool_error)?;
    client
        .execute(
            "INSERT INTO recordings.agent_run (report_key, host, run_id, started_at, finished_at, counts, failures, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (report_key) DO NOTHING",
            &[
                &key,
                &report.host,
                &report.run_id,
                &report.started_at,
                &report.finished_at,
                &serde_json::to_value(&report.counts)?,
                &i32::try_from(report.failures.len()).unwrap_or(i32::MAX),
                &serde_json::from_slice::<serde_json::Value>(&raw)?,
            ],
        )
        .await
        .map_err(|e| pg_error("recording an agent run", e))?;
    if report.failures.is_empty() {
        return Ok(Digest::Clean);
    }
    let claimed = client
        .query_opt(
            "UPDATE recordings.agent_run SET digest_claimed_at = now()
              WHERE report_key = $1 AND digest_sent_at IS NULL
                AND (digest_claimed_at IS NULL OR digest_claimed_at < now() - make_interval(secs => $2))
             RETURNING 1",
            &[&key, &(CLAIM_TTL_SECS as f64)],
        )
        .await
        .map_err(|e| pg_error("claiming a digest mail", e))?;
    if claimed.is_none() {
        return Ok(Digest::AlreadySent);
    }
    let (subject, text) = report.digest();
    match notify.mailer.send(&notify.mail(subject, text)).await {
        Ok(sent) => {
            client
                .execute(
                    "UPDATE recordings.agent_run SET digest_sent_at = now(), digest_message_id = $2 WHERE report_key = $1",
                    &[&key, &sent.message_id],
                )
                .await
                .map_err(|e| pg_error("marking a digest mail sent", e))?;
            tracing::info!(%key, message_id = %sent.message_id, failures = report.failures.len(), "digest mail sent");
            Ok(Digest::Sent {
                failures: report.failures.len(),
            })
        }
        Err(e) => {
            let _ = client
                .execute(
                    "UPDATE recordings.agent_run SET digest_claimed_at = NULL WHERE report_key = $1",
                    &[&key],
                )
                .await;
            Err(e)
        }
    }
}
