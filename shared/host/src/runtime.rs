//! The local runtime behind `muara up`: one process that hosts what AWS spreads over
//! services — database (a cluster from the system's binaries unless `DATABASE_URL` is given),
//! lake folder, queue, lake watcher and dispatcher, outbox, state machines, and the HTTP API.

use crate::every::{spawn_every, spawn_rounds};
use crate::watcher::LakeWatcher;
use async_trait::async_trait;
use muara_core::health::{Probe, Unhealthy};
use muara_core::metrics::Metrics;
use muara_core::ports::{Mailer, Queue};
use muara_core::s3event::S3Event;
use muara_core::{Error, ErrorKind, Result};
use muara_local::dirstore::DirStore;
use muara_local::mailer::{OutboxMailer, SmtpMailer};
use muara_local::orchestrator::LocalOrchestrator;
use muara_local::pglocks::PgLocks;
use muara_local::pgqueue::{PgQueue, QueueSpec};
use muara_local::postgres::Cluster;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The queue that carries lake notifications, as the S3 → SQS notification does in AWS.
pub const LAKE_EVENTS_QUEUE: &str = "lake-events";
/// Deliveries before a notification that keeps failing goes to the dead-letter queue.
pub const LAKE_EVENTS_MAX_RECEIVES: u32 = 5;
/// The queue between `POST /publish` and the events worker.
pub const EVENTS_QUEUE: &str = "events";
/// How often the recordings and funnel ledgers are reconciled.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);
/// The queue between `POST /webhook/{channel}` and the funnel worker.
pub const FUNNEL_QUEUE: &str = "funnel";
/// Deliveries before a funnel message that keeps failing goes to the dead-letter queue.
pub const FUNNEL_MAX_RECEIVES: u32 = 5;
/// Deliveries before an events message that keeps failing goes to the dead-letter queue.
pub const EVENTS_MAX_RECEIVES: u32 = 5;
/// The bucket name local notifications carry.
pub const LOCAL_BUCKET: &str = "muara-local-lake";

/// Everything `muara up` can be told.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub data_dir: PathBuf,
    pub lake_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: Option<String>,
    /// Port of the embedded cluster when `database_url` is unset.
    pub pg_port: u16,
    pub smtp_url: Option<String>,
    pub statemachines_dir: Option<PathBuf>,
    pub scan_interval: Duration,
    /// How long to wait for the database to answer at start-up.
    pub db_connect_timeout: Duration,
    pub demo: bool,
    /// Failure mail sender and recipients.
    pub mail_from: String,
    pub mail_to: Vec<String>,
    /// Independent SQL steps of one batch run at once.
    pub step_concurrency: usize,
    /// Runs file stages in worker processes (see [`crate::worker`]); `None`: in process.
    pub stage_worker: Option<crate::worker::StageWorker>,
    /// Log rows and archived files older than this are removed by housekeeping.
    pub retention: Duration,
    /// How often housekeeping runs (also once at start-up).
    pub housekeeping_interval: Duration,
    /// Worker loops storing published events.
    pub event_workers: usize,
    /// Pipeline D: the webhook's HMAC secret (`None`: unsigned bodies accepted), WhatsApp's
    /// verify token, the report's time zone, how long workers cache keywords.
    pub funnel: FunnelSettings,
}

/// Pipeline D's settings (`MUARA_WEBHOOK_SECRET`, `MUARA_WEBHOOK_VERIFY_TOKEN`,
/// `MUARA_FUNNEL_TIMEZONE`, `MUARA_KEYWORDS_TTL_SECS`).
#[derive(Debug, Clone)]
pub struct FunnelSettings {
    /// A published keyword sheet (CSV) synced every `sheet_interval` (`MUARA_KEYWORDS_SHEET_URL`).
    pub sheet_url: Option<String>,
    pub sheet_interval: Duration,
    pub secret: Option<String>,
    pub verify_token: Option<String>,
    pub timezone: String,
    pub keywords_ttl: Duration,
}

impl Default for FunnelSettings {
    fn default() -> Self {
        Self {
            sheet_url: None,
            sheet_interval: Duration::from_secs(900),
            secret: None,
            verify_token: None,
            timezone: muara_funnel::report::DEFAULT_TIMEZONE.into(),
            keywords_ttl: Duration::from_secs(30),
        }
    }
}

impl UpConfig {
    /// Defaults for everything but the folders and the address.
    pub fn new(data_dir: PathBuf, lake_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            data_dir,
            lake_dir,
            listen,
            database_url: None,
            pg_port: 54329,
            smtp_url: None,
            statemachines_dir: None,
            scan_interval: Duration::from_secs(1),
            db_connect_timeout: Duration::from_secs(30),
            demo: false,
            mail_from: "muara@localhost".into(),
            mail_to: vec!["operators@localhost".into()],
            step_concurrency: 4,
            stage_worker: None,
            retention: muara_batch::housekeeping::DEFAULT_RETENTION,
            housekeeping_interval: Duration::from_secs(3600),
            event_workers: 2,
            funnel: FunnelSettings::default(),
        }
    }
}

/// What a running runtime exposes to its caller (the CLI prints it; tests use it).
#[derive(Clone)]
pub struct Running {
    pub http: SocketAddr,
    pub database_url: String,
    pub lake_dir: PathBuf,
    pub outbox: Option<PathBuf>,
    pub machines: Vec<String>,
    pub metrics: Arc<Metrics>,
    /// The admin token made on the first start (when no live token existed): shown once.
    pub admin_token: Option<String>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("http", &self.http)
            .field("lake_dir", &self.lake_dir)
            .field("outbox", &self.outbox)
            .field("machines", &self.machines)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<secret>"),
            )
            .finish_non_exhaustive()
    }
}

/// Handles events on the lake queue whose key starts with a prefix. Pipelines register
/// theirs; an event nobody handles is acknowledged and logged.
#[async_trait]
pub trait ObjectEventHandler: Send + Sync {
    fn prefix(&self) -> &str;
    async fn handle(&self, record: &muara_core::s3event::S3EventRecord) -> Result<()>;
}

struct DirProbe(PathBuf);

#[async_trait]
impl Probe for DirProbe {
    fn name(&self) -> &str {
        "object_store"
    }
    async fn check(&self) -> std::result::Result<String, Unhealthy> {
        let probe = self.0.join(".muara").join("tmp").join(".health");
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|source| Unhealthy::NotWritable {
                path: self.0.clone(),
                source,
            })?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(format!("directory {}", self.0.display()))
    }
}

struct QueueProbe(Arc<PgQueue>);

#[async_trait]
impl Probe for QueueProbe {
    fn name(&self) -> &str {
        "queue"
    }
    async fn check(&self) -> std::result::Result<String, Unhealthy> {
        let d = self.0.depth().await?;
        Ok(format!("{} messages in {}", d, self.0.name()))
    }
}

struct Dispatcher {
    queue: Arc<PgQueue>,
    handlers: Vec<Arc<dyn ObjectEventHandler>>,
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    /// One receive-and-handle round; returns how many messages were handled.
    async fn round(&self) -> Result<usize> {
        let msgs = self.queue.receive(10, Duration::from_secs(1)).await?;
        let mut done = Vec::new();
        for m in &msgs {
            match self.dispatch(&m.body).await {
                Ok(()) => done.push(m.receipt.clone()),
                Err(e) => {
                    // Left undeleted: redelivered after the visibility timeout, and moved to
                    // the dead-letter queue after LAKE_EVENTS_MAX_RECEIVES attempts.
                    self.metrics
                        .inc("muara_lake_events_total", &[("outcome", "failed")]);
                    tracing::error!(message_id = %m.id, receive_count = m.receive_count, error = %e.chain(), "lake event failed");
                }
            }
        }
        self.queue.delete_batch(&done).await?;
        Ok(msgs.len())
    }

    async fn dispatch(&self, body: &str) -> Result<()> {
        let event = S3Event::parse(body)?;
        for record in &event.records {
            let key = record.key()?;
            match self.handlers.iter().find(|h| key.starts_with(h.prefix())) {
                Some(h) => {
                    h.handle(record).await?;
                    self.metrics
                        .inc("muara_lake_events_total", &[("outcome", "handled")]);
                }
                None => {
                    self.metrics
                        .inc("muara_lake_events_total", &[("outcome", "unrouted")]);
                    tracing::debug!(%key, "lake event received; no pipeline handles this prefix");
                }
            }
        }
        Ok(())
    }
}

/// Starts everything, returns once it serves, and keeps running until `shutdown` flips.
/// `on_ready` is told where everything is.
pub async fn up(
    cfg: UpConfig,
    handlers: Vec<Arc<dyn ObjectEventHandler>>,
    on_ready: impl FnOnce(&Running),
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    tokio::fs::create_dir_all(&cfg.data_dir).await?;
    let (database_url, cluster) = match &cfg.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let cluster = Cluster::start(&cfg.data_dir.join("postgres"), cfg.pg_port, true).await?;
            cluster.ensure_database("muara").await?;
            (cluster.url("muara"), Some(cluster))
        }
    };
    let result = serve(&cfg, &database_url, handlers, on_ready, &mut shutdown).await;
    if let Some(c) = cluster {
        tracing::info!("stopping PostgreSQL");
        if let Err(e) = c.stop().await {
            tracing::warn!(error = %e.chain(), "PostgreSQL did not stop cleanly");
        }
    }
    result
}

async fn serve(
    cfg: &UpConfig,
    database_url: &str,
    handlers: Vec<Arc<dyn ObjectEventHandler>>,
    on_ready: impl FnOnce(&Running),
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let pool = muara_db::connect(database_url, 32, cfg.db_connect_timeout).await?;
    muara_db::PLATFORM.apply(&pool).await?;
    muara_local::LOCAL_MIGRATIONS.apply(&pool).await?;

    let store = DirStore::open(&cfg.lake_dir).await?;
    let (mailer, outbox): (Arc<dyn Mailer>, Option<PathBuf>) = match &cfg.smtp_url {
        Some(url) => (Arc::new(SmtpMailer::from_url(url)?), None),
        None => {
            let dir = cfg.data_dir.join("outbox");
            (Arc::new(OutboxMailer::open(&dir).await?), Some(dir))
        }
    };
    let queue = dead_lettered_queue(
        &pool,
        LAKE_EVENTS_QUEUE,
        Duration::from_secs(60),
        LAKE_EVENTS_MAX_RECEIVES,
    )
    .await?;

    // Pipeline C: publish → idempotency claims → the events queue → worker → PostgreSQL.
    let events_queue = dead_lettered_queue(
        &pool,
        EVENTS_QUEUE,
        Duration::from_secs(30),
        EVENTS_MAX_RECEIVES,
    )
    .await?;
    let events = Arc::new(muara_events::Service::new(
        muara_events::ingest::Ingest::new(
            Arc::new(PgLocks::new(pool.clone())),
            events_queue.clone(),
            pool.clone(),
        ),
    ));
    let mut routes = muara_events::http::routes(events);
    routes.extend(muara_recordings::http::routes(Arc::new(
        muara_recordings::search::Service { pool: pool.clone() },
    )));

    let metrics = Arc::new(Metrics::new());
    // Pipeline D: webhook → raw body in the lake → the funnel queue → worker → PostgreSQL.
    let funnel_queue = dead_lettered_queue(
        &pool,
        FUNNEL_QUEUE,
        Duration::from_secs(60),
        FUNNEL_MAX_RECEIVES,
    )
    .await?;
    let funnel_observe = muara_funnel::observe::Observe::local(metrics.clone());
    let funnel_settings = muara_funnel::wire::Settings {
        secret: cfg.funnel.secret.clone().map(String::into_bytes),
        verify_token: cfg.funnel.verify_token.clone(),
        timezone: cfg.funnel.timezone.clone(),
        keywords_ttl: cfg.funnel.keywords_ttl,
        observe: funnel_observe.clone(),
    };
    let funnel_worker = muara_funnel::wire::worker(
        muara_funnel::wire::WorkerPorts {
            store: Arc::new(store.clone()),
            pool: pool.clone(),
        },
        &funnel_settings,
    );
    let funnel = muara_funnel::wire::service(
        muara_funnel::wire::IngestPorts {
            store: Arc::new(store.clone()),
            queue: funnel_queue.clone(),
            idempotency: Arc::new(PgLocks::new(pool.clone())),
            pool: pool.clone(),
        },
        &funnel_settings,
    );

    let orchestrator = Arc::new(LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let batch = muara_batch::wire::deps(
        muara_batch::wire::Ports {
            store: Arc::new(store.clone()),
            pool: pool.clone(),
            locks: Arc::new(PgLocks::new(pool.clone())),
            orchestrator: orchestrator.clone(),
            mailer,
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
            orchestrator.set_invoker(Arc::new(crate::worker::IsolatedBatchTasks {
                in_process: crate::pipelines::BatchTasks(batch.clone()),
                worker,
            }));
        }
        None => orchestrator.set_invoker(Arc::new(crate::pipelines::BatchTasks(batch.clone()))),
    }
    let mut handlers = handlers;
    handlers.push(Arc::new(crate::pipelines::BatchTrigger(batch.clone())));
    // Pipeline A: sidecars → the indexer; agent run reports → the failure digest.
    let recordings = muara_recordings::Deps {
        store: Arc::new(store.clone()),
        pool: pool.clone(),
        notify: batch.notify.clone(),
    };
    for prefix in [
        muara_recordings::key::PREFIX,
        muara_recordings::report::REPORTS_PREFIX,
    ] {
        handlers.push(Arc::new(crate::pipelines::RecordingsTrigger {
            deps: recordings.clone(),
            prefix,
        }));
    }
    let machines = match &cfg.statemachines_dir {
        Some(dir) if dir.is_dir() => {
            orchestrator.register_dir(dir, &muara_batch::tasks::local_substitutions())?
        }
        _ => vec![],
    };

    metrics.describe(
        "muara_lake_events_total",
        "counter",
        "Lake notifications dispatched, by outcome",
    );
    metrics.describe(
        "muara_lake_objects_announced_total",
        "counter",
        "Objects the lake watcher announced",
    );
    routes.extend(muara_funnel::http::routes(Arc::new(funnel)));
    routes.extend(muara_batch::http::routes(Arc::new(
        muara_batch::control::BatchControl(batch.clone()),
    )));
    let mut state = muara_api::AppState::new("local", metrics.clone());
    let tokens = Arc::new(muara_console::TokenStore::new(pool.clone()));
    let admin_token = first_admin_token(&tokens).await?;
    state.auth = Some(tokens.clone());
    let audit = Arc::new(muara_console::PgAudit::new(pool.clone()));
    state.audit = Some(audit.clone());
    routes.extend(muara_console::http::routes(
        muara_console::http::ConsoleRoutes {
            login: serde_json::json!({"auth": "token"}),
            console: Arc::new(muara_console::PgConsole::new(pool.clone())),
            audit,
            tokens: Some(tokens),
            dead_letters: Arc::new(muara_local::deadletters::PgDeadLetters::new(pool.clone())),
        },
    ));
    state.allowed_origins = muara_core::config::list("MUARA_CONSOLE_ORIGIN");
    let state = state
        .with_probe(Arc::new(muara_db::pool::DbProbe(pool.clone())))
        .with_probe(Arc::new(DirProbe(cfg.lake_dir.clone())))
        .with_probe(Arc::new(QueueProbe(queue.clone())));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("cannot listen on {}", cfg.listen),
                e,
            )
        })?;
    let http = listener.local_addr()?;

    // Only the prefixes a pipeline handles are announced, as the bucket's notification
    // filters do in AWS (raw-messages/ and data/, say, are not).
    let prefixes: Vec<String> = if handlers.iter().any(|h| h.prefix().is_empty()) {
        vec![]
    } else {
        handlers.iter().map(|h| h.prefix().to_string()).collect()
    };
    let watcher = LakeWatcher::new(
        store.clone(),
        pool.clone(),
        queue.clone(),
        LOCAL_BUCKET,
        prefixes,
    );
    let dispatcher = Dispatcher {
        queue: queue.clone(),
        handlers,
        metrics: metrics.clone(),
    };

    let mut tasks = tokio::task::JoinSet::new();
    let stop = || shutdown.clone();
    {
        // Durable executions: adopt and resume what a stopped host (this one, before a crash
        // or kill, or another sharing the database) left running.
        let orchestrator = orchestrator.clone();
        spawn_every(
            &mut tasks,
            "recover executions",
            muara_local::orchestrator::HEARTBEAT_EVERY,
            stop(),
            move || {
                let orchestrator = orchestrator.clone();
                async move {
                    match orchestrator.recover().await {
                        Ok((0, 0)) => {}
                        Ok((resumed, failed)) => {
                            tracing::warn!(resumed, failed, "interrupted executions recovered")
                        }
                        Err(e) => {
                            tracing::error!(error = %e.chain(), "could not recover interrupted executions")
                        }
                    }
                }
            },
        );
    }
    {
        let metrics = metrics.clone();
        let watcher = Arc::new(watcher);
        spawn_every(
            &mut tasks,
            "lake scan",
            cfg.scan_interval,
            stop(),
            move || {
                let (watcher, metrics) = (watcher.clone(), metrics.clone());
                async move {
                    match watcher.scan_once().await {
                        Ok(keys) => metrics.add(
                            "muara_lake_objects_announced_total",
                            &[],
                            keys.len() as f64,
                        ),
                        Err(e) => tracing::error!(error = %e.chain(), "lake scan failed"),
                    }
                }
            },
        );
    }
    {
        let dispatcher = Arc::new(dispatcher);
        spawn_rounds(&mut tasks, "lake dispatcher", stop(), move || {
            let dispatcher = dispatcher.clone();
            async move { dispatcher.round().await.map_err(|e| e.chain()) }
        });
    }
    for _ in 0..cfg.event_workers.max(1) {
        // The events worker, as the SQS-triggered Lambda does it in AWS.
        let (pool, queue) = (pool.clone(), events_queue.clone());
        spawn_rounds(&mut tasks, "events worker", stop(), move || {
            let (pool, queue) = (pool.clone(), queue.clone());
            async move {
                muara_events::worker::round(&pool, queue.as_ref(), Duration::from_secs(1))
                    .await
                    .map_err(|e| e.chain())
            }
        });
    }
    for _ in 0..2 {
        // The funnel worker, as the SQS-triggered Lambda does it in AWS.
        let (worker, queue) = (funnel_worker.clone(), funnel_queue.clone());
        spawn_rounds(&mut tasks, "funnel worker", stop(), move || {
            let (worker, queue) = (worker.clone(), queue.clone());
            async move {
                muara_funnel::worker::round(&worker, queue.as_ref(), Duration::from_secs(1))
                    .await
                    .map_err(|e| e.chain())
            }
        });
    }
    {
        // The pending gauge, read every few seconds (a count of the queue, kept off the
        // workers' rounds).
        let (observe, queue) = (funnel_worker.observe.clone(), funnel_queue.clone());
        spawn_every(
            &mut tasks,
            "funnel pending",
            Duration::from_secs(5),
            stop(),
            move || {
                let (observe, queue) = (observe.clone(), queue.clone());
                async move {
                    if let Ok(depth) = queue.depth().await {
                        observe.pending(depth);
                    }
                }
            },
        );
    }
    {
        // The ledgers of pipelines A and D, as their scheduled Lambdas do it in AWS: every
        // sidecar and kept message of the last two days indexed/stored or refused with a
        // reason; what is neither is indexed or queued again (and logged as an error).
        let (recordings, store, pool, queue) = (
            recordings.clone(),
            store.clone(),
            pool.clone(),
            funnel_queue.clone(),
        );
        spawn_every(&mut tasks, "ledgers", RECONCILE_EVERY, stop(), move || {
            let (recordings, store, pool, queue) = (
                recordings.clone(),
                store.clone(),
                pool.clone(),
                queue.clone(),
            );
            async move {
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
                if let Err(e) = muara_recordings::ledger::reconcile(
                    &recordings,
                    muara_recordings::key::PREFIX,
                    Some(since),
                    muara_recordings::ledger::SETTLE,
                    true,
                )
                .await
                {
                    tracing::error!(error = %e.chain(), "recordings ledger not reconciled");
                }
                if let Err(e) = muara_funnel::ledger::reconcile(
                    &store,
                    &pool,
                    Some(queue.as_ref()),
                    Some(since),
                    muara_funnel::ledger::SETTLE,
                )
                .await
                {
                    tracing::error!(error = %e.chain(), "funnel ledger not reconciled");
                }
            }
        });
    }
    if let Some(url) = cfg.funnel.sheet_url.clone() {
        // The keyword sheet, as the scheduled sync Lambda does it in AWS.
        let pool = pool.clone();
        spawn_every(
            &mut tasks,
            "keyword sheet",
            cfg.funnel.sheet_interval,
            stop(),
            move || {
                let (pool, url) = (pool.clone(), url.clone());
                async move {
                    // Failures are recorded in funnel.keyword_sync and logged; the set stays.
                    let _ = muara_funnel::sheet::sync(&pool, &url).await;
                }
            },
        );
    }
    {
        // Housekeeping: pending failure mail, old log rows, old archived files.
        let deps = batch.clone();
        let retention = muara_batch::housekeeping::Retention {
            max_age: cfg.retention,
            purge_archives: true,
        };
        spawn_every(
            &mut tasks,
            "housekeeping",
            cfg.housekeeping_interval,
            stop(),
            move || {
                let (deps, retention) = (deps.clone(), retention.clone());
                async move {
                    if let Err(e) = muara_batch::housekeeping::run(&deps, &retention).await {
                        tracing::error!(error = %e.chain(), "housekeeping failed");
                    }
                }
            },
        );
    }

    if cfg.demo {
        muara_demo::batch::seed(&batch).await?;
        {
            let base = format!("http://{http}");
            let (secret, pool) = (cfg.funnel.secret.clone(), pool.clone());
            tasks.spawn(async move {
                if let Err(e) = crate::pipelines::funnel_demo(&base, secret.as_deref(), &pool).await
                {
                    tracing::error!(error = %e.chain(), "demo funnel failed");
                }
            });
        }
        let (data_dir, lake_dir) = (cfg.data_dir.clone(), cfg.lake_dir.clone());
        tasks.spawn(async move {
            match crate::pipelines::recordings_demo(&data_dir, &lake_dir).await {
                Ok((_, s)) => {
                    let c = &s.report.counts;
                    tracing::info!(
                        uploaded = c.uploaded,
                        already_present = c.already_present,
                        failed = c.failed,
                        orphans = c.orphans,
                        "demo recordings: agent pass finished"
                    )
                }
                Err(e) => tracing::error!(error = %e.chain(), "demo recordings failed"),
            }
        });
    }

    on_ready(&Running {
        http,
        database_url: database_url.to_string(),
        lake_dir: cfg.lake_dir.clone(),
        outbox,
        machines,
        metrics: metrics.clone(),
        admin_token,
    });

    let app = muara_api::app(state, routes);
    let mut stop = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
        .map_err(|e| Error::with_source(ErrorKind::Fatal, "HTTP server failed", e))?;
    let _ = shutdown.changed().await;
    while tasks.join_next().await.is_some() {}
    pool.close();
    tracing::info!("local runtime stopped");
    Ok(())
}

/// The first start makes an admin token, so a newcomer can open the console; later starts
/// (or any start after tokens were made) make none.
async fn first_admin_token(tokens: &muara_console::TokenStore) -> Result<Option<String>> {
    if tokens.any().await? {
        return Ok(None);
    }
    let system = muara_api::Principal::system("muara up", "local");
    let made = tokens
        .create_token(&system, "admin", muara_api::Role::Admin, None)
        .await?;
    tracing::info!("no API token existed: an admin token named \"admin\" was made");
    Ok(Some(made.token))
}

/// A queue with its dead-letter queue (`<name>-dlq`) after `max_receives` deliveries.
async fn dead_lettered_queue(
    pool: &deadpool_postgres::Pool,
    name: &str,
    visibility: Duration,
    max_receives: u32,
) -> Result<Arc<PgQueue>> {
    let dlq = format!("{name}-dlq");
    PgQueue::ensure(
        pool,
        &QueueSpec {
            name: dlq.clone(),
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        },
    )
    .await?;
    Ok(Arc::new(
        PgQueue::ensure(
            pool,
            &QueueSpec {
                name: name.into(),
                visibility_timeout: visibility,
                redrive: Some((dlq, max_receives)),
            },
        )
        .await?,
    ))
}
