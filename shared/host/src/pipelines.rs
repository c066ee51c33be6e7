//! The pipelines as the local runtime hosts them: each built by its own `wire()` (the one its
//! Lambdas call) on the local adapters, its Task resources resolved to in-process handlers, its
//! object-created triggers fed by the lake watcher, and its queue consumers and scheduled work
//! run as loops of this process.

use crate::every::{spawn_every, spawn_rounds};
use crate::ports::LocalPorts;
use crate::runtime::{ObjectEventHandler, UpConfig};
use async_trait::async_trait;
use muara_asl::{TaskFailure, TaskInvoker};
use muara_core::metrics::Metrics;
use muara_core::ports::ObjectStore;
use muara_core::s3event::S3EventRecord;
use muara_local::pglocks::PgLocks;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the recordings and funnel ledgers are reconciled.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);

/// The four pipelines, wired on the local adapters.
#[derive(Debug, Clone)]
pub struct Wired {
    pub events: muara_events::wire::Events,
    pub funnel: muara_funnel::wire::Funnel,
    pub recordings: muara_recordings::wire::Recordings,
    pub batch: muara_batch::wire::Batch,
}

impl Wired {
    /// Each pipeline's `wire()` on `ports`, as `cfg` sets them; the batch lifecycle's Tasks run
    /// in stage workers when `cfg` says so (see [`crate::worker`]).
    pub fn wire(
        cfg: &UpConfig,
        ports: &LocalPorts,
        metrics: &Arc<Metrics>,
        database_url: &str,
    ) -> muara_core::Result<Self> {
        let pool = &ports.pool;
        let store: Arc<dyn ObjectStore> = Arc::new(ports.store.clone());
        let locks = Arc::new(PgLocks::new(pool.clone()));
        let events = muara_events::wire::wire(muara_events::wire::Ports {
            idempotency: locks.clone(),
            queue: ports.events_queue.clone(),
            pool: pool.clone(),
        });
        let funnel = muara_funnel::wire::wire(
            muara_funnel::wire::Ports {
                store: store.clone(),
                queue: ports.funnel_queue.clone(),
                idempotency: locks.clone(),
                pool: pool.clone(),
            },
            &muara_funnel::wire::Settings {
                secret: cfg.funnel.secret.clone().map(String::into_bytes),
                verify_token: cfg.funnel.verify_token.clone(),
                timezone: cfg.funnel.timezone.clone(),
                keywords_ttl: cfg.funnel.keywords_ttl,
                observe: muara_funnel::observe::Observe::local(metrics.clone()),
                sheet_url: cfg.funnel.sheet_url.clone(),
            },
        );
        let batch = muara_batch::wire::wire(
            muara_batch::wire::Ports {
                store: store.clone(),
                pool: pool.clone(),
                locks,
                orchestrator: ports.orchestrator.clone(),
                mailer: ports.mailer.clone(),
            },
            &muara_batch::model::Settings {
                step_concurrency: cfg.step_concurrency,
                retention: cfg.retention,
                mail_from: Some(cfg.mail_from.clone()),
                mail_to: cfg.mail_to.clone(),
                stage_budget: None,
                settle: muara_batch::settle::from_env()?,
            },
            cfg.data_dir.join("work"),
        );
        let in_process = BatchTasks(batch.deps.clone());
        match &cfg.stage_worker {
            Some(worker) => {
                let mut worker = worker.clone();
                worker.env.extend([
                    ("DATABASE_URL".to_string(), database_url.to_string()),
                    (
                        "MUARA_LAKE_DIR".to_string(),
                        cfg.lake_dir.to_string_lossy().into_owned(),
                    ),
                    (
                        "MUARA_DATA_DIR".to_string(),
                        cfg.data_dir.to_string_lossy().into_owned(),
                    ),
                ]);
                let isolated = crate::worker::IsolatedBatchTasks { in_process, worker };
                ports.orchestrator.set_invoker(Arc::new(isolated));
            }
            None => ports.orchestrator.set_invoker(Arc::new(in_process)),
        }
        let recordings = muara_recordings::wire::wire(muara_recordings::wire::Ports {
            store,
            pool: pool.clone(),
            notify: batch.deps.notify.clone(),
        });
        Ok(Self {
            events,
            funnel,
            recordings,
            batch,
        })
    }

    /// The pipelines' routes (the console's are the host's: they need its token store).
    pub fn routes(&self) -> Vec<muara_api::Route> {
        [
            self.events.routes(),
            self.recordings.routes(),
            self.funnel.routes(),
            self.batch.routes(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The object-created triggers the lake dispatcher feeds, as S3 notifications do in AWS.
    pub fn lake_handlers(&self) -> Vec<Arc<dyn ObjectEventHandler>> {
        let recordings = |prefix| -> Arc<dyn ObjectEventHandler> {
            Arc::new(RecordingsTrigger {
                recordings: self.recordings.clone(),
                prefix,
            })
        };
        vec![
            Arc::new(BatchTrigger(self.batch.deps.clone())),
            recordings(muara_recordings::key::PREFIX),
            recordings(muara_recordings::report::REPORTS_PREFIX),
        ]
    }

    /// The queue consumers and scheduled work each pipeline's Lambdas do in AWS, as loops of
    /// this process until `stop` changes.
    pub fn spawn(&self, tasks: &mut JoinSet<()>, cfg: &UpConfig, stop: &watch::Receiver<bool>) {
        for _ in 0..cfg.event_workers.max(1) {
            let events = self.events.clone();
            spawn_rounds(tasks, "events worker", stop.clone(), move || {
                let events = events.clone();
                async move {
                    events
                        .round(Duration::from_secs(1))
                        .await
                        .map_err(|e| e.chain())
                }
            });
        }
        for _ in 0..2 {
            let funnel = self.funnel.clone();
            spawn_rounds(tasks, "funnel worker", stop.clone(), move || {
                let funnel = funnel.clone();
                async move {
                    funnel
                        .round(Duration::from_secs(1))
                        .await
                        .map_err(|e| e.chain())
                }
            });
        }
        // The pending gauge, read every few seconds (off the workers' rounds).
        let funnel = self.funnel.clone();
        spawn_every(
            tasks,
            "funnel pending",
            Duration::from_secs(5),
            stop.clone(),
            move || {
                let funnel = funnel.clone();
                async move { funnel.observe_pending().await }
            },
        );
        let this = self.clone();
        spawn_every(tasks, "ledgers", RECONCILE_EVERY, stop.clone(), move || {
            let this = this.clone();
            async move {
                logged("recordings ledger", this.recordings.reconcile().await);
                logged("funnel ledger", this.funnel.reconcile().await);
            }
        });
        if self.funnel.has_sheet() {
            // Failures are also recorded in funnel.keyword_sync; the keyword set stays.
            let funnel = self.funnel.clone();
            spawn_every(
                tasks,
                "keyword sheet",
                cfg.funnel.sheet_interval,
                stop.clone(),
                move || {
                    let funnel = funnel.clone();
                    async move { logged("keyword sheet", funnel.sync_sheet().await) }
                },
            );
        }
        // Housekeeping here also removes old archived files (a lifecycle rule does in AWS).
        let batch = self.batch.clone();
        spawn_every(
            tasks,
            "housekeeping",
            cfg.housekeeping_interval,
            stop.clone(),
            move || {
                let batch = batch.clone();
                async move { logged("housekeeping", batch.housekeeping(true).await) }
            },
        );
    }
}

/// A periodic run's failure, logged (the next run tries again).
fn logged<T>(what: &str, result: muara_core::Result<T>) {
    if let Err(e) = result {
        tracing::error!(error = %e.chain(), "{what} failed");
    }
}

/// The batch pipeline's ports on local adapters for tools and tests: PostgreSQL locks on
/// `pool`, staging under `dir/work`, failure mail into the outbox `dir/outbox` (to
/// `operators@example.com`), default settings.
pub async fn local_batch_deps(
    store: std::sync::Arc<dyn muara_core::ports::ObjectStore>,
    pool: deadpool_postgres::Pool,
    orchestrator: std::sync::Arc<dyn muara_core::ports::Orchestrator>,
    dir: &std::path::Path,
) -> muara_core::Result<muara_batch::Deps> {
    use std::sync::Arc;
    let ports = muara_batch::wire::Ports {
        store,
        locks: Arc::new(muara_local::pglocks::PgLocks::new(pool.clone())),
        pool,
        orchestrator,
        mailer: Arc::new(muara_local::mailer::OutboxMailer::open(dir.join("outbox")).await?),
    };
    let settings = muara_batch::model::Settings {
        step_concurrency: 4,
        retention: std::time::Duration::from_secs(90 * 24 * 3600),
        mail_from: Some("muara@localhost".into()),
        mail_to: vec!["operators@example.com".into()],
        stage_budget: None,
        // Tools and tests put whole files: no settle wait (a test of it sets its own).
        settle: std::time::Duration::ZERO,
    };
    Ok(muara_batch::wire::deps(ports, &settings, dir.join("work")))
}

/// The batch pipeline's ports in a stage worker of `muara up` (see [`crate::worker`]): the
/// host's database, lake folder and data folder.
pub async fn worker_batch_deps(
    database_url: &str,
    lake_dir: &std::path::Path,
    data_dir: &std::path::Path,
) -> muara_core::Result<muara_batch::Deps> {
    use std::sync::Arc;
    let pool = muara_db::connect(database_url, 4, std::time::Duration::from_secs(30)).await?;
    let store = Arc::new(muara_local::dirstore::DirStore::open(lake_dir).await?);
    let orchestrator = Arc::new(muara_local::orchestrator::LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let mut deps = local_batch_deps(store, pool, orchestrator, data_dir).await?;
    deps.settle = muara_batch::settle::from_env()?;
    Ok(deps)
}

/// Task resources `muara:batch:<stage>` → the batch lifecycle's stage handlers.
#[derive(Debug, Clone)]
pub struct BatchTasks(pub muara_batch::Deps);

#[async_trait]
impl TaskInvoker for BatchTasks {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let Some(stage) = resource.strip_prefix("muara:batch:") else {
            return Err(TaskFailure {
                error: "States.TaskFailed".into(),
                cause: format!("no local handler is registered for task resource {resource:?}"),
            });
        };
        let ran = match stage.parse() {
            Ok(stage) => muara_batch::tasks::run_stage(&self.0, stage, input).await,
            Err(e) => Err(e),
        };
        task_outcome(ran)
    }
}

/// A stage's result as the state machine sees it: the error class is the name Retry and
/// Catch match, the cause its whole chain.
pub fn task_outcome(result: muara_core::Result<Value>) -> Result<Value, TaskFailure> {
    result.map_err(|e| TaskFailure {
        error: e.kind().error_type().into(),
        cause: e.chain(),
    })
}

/// Objects created under `raw/` → batch runs, as the S3 → SQS → trigger Lambda path does.
#[derive(Debug, Clone)]
pub struct BatchTrigger(pub muara_batch::Deps);

#[async_trait]
impl ObjectEventHandler for BatchTrigger {
    fn prefix(&self) -> &str {
        "raw/"
    }
    async fn handle(&self, record: &S3EventRecord) -> muara_core::Result<()> {
        muara_batch::runner::on_objects_created(&self.0, &[record.key()?]).await?;
        Ok(())
    }
}

/// Objects created under `recordings/` (sidecars) and `reports/agent/` → the indexer and the
/// failure digest, as the S3 → SQS → recordings Lambda path does.
#[derive(Debug, Clone)]
pub struct RecordingsTrigger {
    pub recordings: muara_recordings::wire::Recordings,
    pub prefix: &'static str,
}

#[async_trait]
impl ObjectEventHandler for RecordingsTrigger {
    fn prefix(&self) -> &str {
        self.prefix
    }

    async fn handle(&self, record: &S3EventRecord) -> muara_core::Result<()> {
        self.recordings.on_object_created(&record.key()?).await
    }
}

/// Pipeline A's demo: a day of recordings (some broken on purpose) in `data_dir/demo/recorder`,
/// and one pass of the agent configured by `data_dir/demo/agent.toml` into the local lake.
/// The lake watcher then feeds the sidecars to the indexer and the run report to the digest.
pub async fn recordings_demo(
    data_dir: &std::path::Path,
    lake_dir: &std::path::Path,
) -> muara_core::Result<(muara_demo::recordings::DemoDay, muara_agent::Summary)> {
    let demo = std::path::absolute(data_dir.join("demo"))?;
    let spool = demo.join("recorder");
    let day = time::OffsetDateTime::now_utc()
        .date()
        .previous_day()
        .unwrap_or(time::Date::MIN);
    let truth = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || {
            // Written once: a restarted `muara up --demo` finds the same files (and the agent
            // its journal), so nothing is uploaded twice.
            let existing = std::fs::read_dir(&spool)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned());
            let day = existing
                .and_then(|n| {
                    time::Date::parse(
                        &n,
                        time::macros::format_description!("[year]-[month]-[day]"),
                    )
                    .ok()
                })
                .unwrap_or(day);
            muara_demo::recordings::write_day(&spool, day, 40, 1)
        })
        .await
        .map_err(|e| muara_core::Error::fatal(format!("demo generator failed: {e}")))??
    };
    let q =
        |p: &std::path::Path| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
    let config = format!(
        "# The demo agent: the recorder's spool folder → the local lake of `muara up`.\nhost = \"demo-recorder\"\n\n[source]\nfolders = [{}]\nstable_secs = 0\norphan_after_secs = 0\n\n[upload]\nconcurrency = 4\n\n[run]\njournal = {}\n\n[target]\nlocal_dir = {}\n",
        q(&spool),
        q(&demo.join("agent.journal")),
        q(&std::path::absolute(lake_dir)?),
    );
    let path = demo.join("agent.toml");
    tokio::fs::write(&path, config).await?;
    let settings = muara_agent::config::Config::load(&path)
        .map_err(|e| muara_core::Error::config(e.to_string()))?;
    let lake = muara_local::dirstore::DirStore::open(lake_dir).await?;
    let agent = muara_agent::Agent::new(settings, std::sync::Arc::new(lake))?;
    let summary = agent.once(false).await?;
    Ok((truth, summary))
}

/// Pipeline D's demo: the demo keyword lists (when none are set), then a day of messages sent
/// through the running platform's own webhook, signed when a secret is configured. Waits until
/// the worker has stored them and logs the report's totals beside the day's known truth.
pub async fn funnel_demo(
    base: &str,
    secret: Option<&str>,
    pool: &deadpool_postgres::Pool,
) -> muara_core::Result<muara_demo::funnel::Truth> {
    if muara_funnel::worker::load_keywords(pool).await?.is_empty() {
        muara_funnel::service::replace_keywords(pool, &muara_demo::funnel::keywords(), "demo")
            .await?;
    }
    let wib = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let day = time::OffsetDateTime::now_utc()
        .to_offset(wib)
        .date()
        .previous_day()
        .unwrap_or(time::Date::MIN);
    let (calls, truth) = muara_demo::funnel::day(day, 300, 11);
    for call in &calls {
        let headers = match secret {
            Some(s) => format!(
                "X-Hub-Signature-256: {}\r\n",
                muara_funnel::webhook::sign(s.as_bytes(), call.body.as_bytes())
            ),
            None => String::new(),
        };
        let (status, answer) = muara_api::client::send(
            base,
            "POST",
            &format!("/webhook/{}", call.channel),
            "application/json",
            &headers,
            &call.body,
            std::time::Duration::from_secs(30),
        )
        .await?;
        if status >= 500 {
            return Err(muara_core::Error::retryable(format!(
                "demo webhook call answered {status}: {answer}"
            )));
        }
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let client = pool.get().await.map_err(muara_db::pool::pool_error)?;
        let stored: i64 = client
            .query_one(
                "SELECT count(*) FROM funnel.message WHERE sent_at::date BETWEEN $1::date - 1 AND $1::date + 1",
                &[&day],
            )
            .await
            .map_err(|e| muara_db::pg_error("counting demo messages", e))?
            .get(0);
        if usize::try_from(stored).unwrap_or(0) >= truth.messages
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let (leads, bookings, transactions, revenue) = truth.total();
    tracing::info!(
        %day,
        calls = truth.calls,
        leads,
        bookings,
        transactions,
        revenue,
        report = %format!("{base}/funnel-report?from={day}&to={}", day.next_day().unwrap_or(day)),
        "demo funnel: messages sent through the webhook; the report should show these totals"
    );
    Ok(truth)
}
