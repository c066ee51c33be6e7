//! Pipeline B's one wiring: its [`Deps`] built from ports and settings, the same way by every
//! host (the batch Lambdas, `muara up` and its stage workers, the tests).

use crate::model::{Deps, Notify, Settings};
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
