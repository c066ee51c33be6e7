//! Pipeline B's one wiring: its [`Deps`] built from ports and settings, the same way by every
//! host (the batch Lambdas, `muara up` and its stage workers, the tests).

use crate::model::{Deps, Notify, Settings};
use crate::tasks::Stage;
use deadpool_postgres::Pool;
use muara_core::ports::{Locks, Mailer, ObjectStore, Orchestrator};
use std::path::PathBuf;
use std::sync::Arc;

/// The services pipeline B runs on.
#[derive(Clone)]
pub struct Ports {
    /// The lake.
    pub store: Arc<dyn ObjectStore>,
    /// The `tools` schema and the clients' bronze, silver and gold schemas.
    pub pool: Pool,
    /// The per-client batch lease.
    pub locks: Arc<dyn Locks>,
    /// Runs the batch lifecycle (Step Functions, or the local interpreter).
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Failure mail.
    pub mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// The pipeline on `ports`, with `settings`, staging files under `work_dir`.
pub fn deps(ports: Ports, settings: &Settings, work_dir: PathBuf) -> Deps {
    Deps {
        store: ports.store,
        pool: ports.pool,
        locks: ports.locks,
        orchestrator: ports.orchestrator,
        work_dir,
        convert: muara_convert::ConvertOptions::default(),
        step_concurrency: settings.step_concurrency,
        stage_budget: settings.stage_budget,
        notify: Notify {
            mailer: ports.mailer,
            from: settings.mail_from.clone().unwrap_or_default(),
            to: settings.mail_to.clone(),
        },
        settle: settings.settle,
        clock: Arc::new(muara_core::ports::SystemClock),
    }
}

/// What a host invokes of pipeline B, by name: `MUARA_HANDLER` in Lambda (one binary, one
/// function per entry), the state machine's Task resources under `muara up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The S3 trigger: SQS events of new objects → `start` runs.
    Trigger,
    /// Scheduled: old log rows, pending failure mail.
    Housekeeping,
    /// The console's HTTP API (served over HTTP, never invoked with events).
    Console,
    /// One Task of the batch lifecycle.
    Stage(Stage),
}

impl std::str::FromStr for Entry {
    type Err = muara_core::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "trigger" => Entry::Trigger,
            "housekeeping" => Entry::Housekeeping,
            "console" => Entry::Console,
            stage => Entry::Stage(stage.parse().map_err(|_| {
                muara_core::Error::config(format!(
                    "MUARA_HANDLER={s:?} is not trigger, housekeeping, console or a batch stage"
                ))
            })?),
        })
    }
}

/// The wired pipeline: its routes and its entry points.
#[derive(Debug, Clone)]
pub struct Batch {
    pub deps: Deps,
    retention: std::time::Duration,
}

/// Pipeline B from its ports and settings, staging files under `work_dir`.
pub fn wire(ports: Ports, settings: &Settings, work_dir: PathBuf) -> Batch {
    Batch {
        deps: deps(ports, settings, work_dir),
        retention: settings.retention,
    }
}

impl Batch {
    /// The batch control routes (start, restart, reprocess, refresh, unlock, status, logs).
    pub fn routes(&self) -> Vec<muara_api::Route> {
        crate::http::routes(Arc::new(crate::control::BatchControl(self.deps.clone())))
    }

    /// An entry invoked with its event: the trigger's SQS batch answer, a stage's output, the
    /// housekeeping report. A stage's error keeps its class (`Retryable` is retried by the
    /// state machine, everything else caught).
    #[tracing::instrument(name = "batch entry", skip_all, fields(entry = ?entry))]
    pub async fn handle(
        &self,
        entry: Entry,
        payload: serde_json::Value,
    ) -> muara_core::Result<serde_json::Value> {
        let json = |v: Result<serde_json::Value, serde_json::Error>| {
            v.map_err(|e| muara_core::Error::fatal(format!("unserialisable result: {e}")))
        };
        match entry {
            Entry::Stage(stage) => crate::tasks::run_stage(&self.deps, stage, payload).await,
            Entry::Trigger => json(serde_json::to_value(
                crate::runner::on_sqs_event(&self.deps, payload).await,
            )),
            // The S3 lifecycle rule expires archived objects in AWS.
            Entry::Housekeeping => json(serde_json::to_value(self.housekeeping(false).await?)),
            Entry::Console => Err(muara_core::Error::config(
                "the console is served over HTTP, not invoked with events",
            )),
        }
    }

    /// Housekeeping: pending failure mail, log rows older than the retention, and (when
    /// `purge_archives`, where no lifecycle rule does it) old archived files.
    pub async fn housekeeping(
        &self,
        purge_archives: bool,
    ) -> muara_core::Result<crate::housekeeping::Report> {
        let retention = crate::housekeeping::Retention {
            max_age: self.retention,
            purge_archives,
        };
        crate::housekeeping::run(&self.deps, &retention).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_name_is_an_entry_and_nothing_else_is() {
        assert_eq!("trigger".parse::<Entry>().unwrap(), Entry::Trigger);
        assert_eq!("console".parse::<Entry>().unwrap(), Entry::Console);
        assert_eq!(
            "housekeeping".parse::<Entry>().unwrap(),
            Entry::Housekeeping
        );
        for stage in Stage::ALL {
            assert_eq!(
                stage.as_str().parse::<Entry>().unwrap(),
                Entry::Stage(stage)
            );
        }
        let e = "Convert".parse::<Entry>().unwrap_err();
        assert!(e.to_string().contains("MUARA_HANDLER=\"Convert\""), "{e}");
    }

    #[test]
    fn an_sqs_event_with_an_s3_notification_parses() {
        use muara_core::s3event::S3Event;
        use muara_core::sqs::SqsEvent;
        let ev: SqsEvent =
            serde_json::from_str(include_str!("../tests/data/sqs-s3-notification.json")).unwrap();
        assert_eq!(ev.records.len(), 1);
        let s3 = S3Event::parse(&ev.records[0].body).unwrap();
        assert_eq!(
            s3.records[0].key().unwrap(),
            "raw/acme/crm/incoming/cust info.csv"
        );
    }
}
