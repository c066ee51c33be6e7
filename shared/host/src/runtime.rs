//! The local runtime behind `muara up`: one process that hosts what AWS spreads over
//! services — database (a cluster from the system's binaries unless `DATABASE_URL` is given),
//! lake folder, queue, lake watcher and dispatcher, outbox, state machines, and the HTTP API.

use crate::every::{spawn_every, spawn_rounds};
use crate::pipelines::Wired;
use crate::ports::LocalPorts;
use crate::watcher::LakeWatcher;
use async_trait::async_trait;
use muara_api::AppState;
use muara_console::http::ConsoleRoutes;
use muara_core::metrics::Metrics;
use muara_core::ports::Queue;
use muara_core::s3event::S3Event;
use muara_core::{Error, ErrorKind, Result};
use muara_local::pgqueue::PgQueue;
use muara_local::postgres::Cluster;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
    mut handlers: Vec<Arc<dyn ObjectEventHandler>>,
    on_ready: impl FnOnce(&Running),
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let pool = muara_db::connect(database_url, 32, cfg.db_connect_timeout).await?;
    muara_db::PLATFORM.apply(&pool).await?;
    muara_local::LOCAL_MIGRATIONS.apply(&pool).await?;
    let ports = LocalPorts::open(cfg, &pool).await?;
    let metrics = Arc::new(Metrics::new());
    let wired = Wired::wire(cfg, &ports, &metrics, database_url)?;
    handlers.extend(wired.lake_handlers());
    let machines = match &cfg.statemachines_dir {
        Some(dir) if dir.is_dir() => ports
            .orchestrator
            .register_dir(dir, &muara_batch::tasks::local_substitutions())?,
        _ => vec![],
    };

    // The HTTP API: the pipelines' routes and the console's, behind local tokens.
    let mut state = muara_api::AppState::new("local", metrics.clone());
    let tokens = Arc::new(muara_console::TokenStore::new(pool.clone()));
    let admin_token = first_admin_token(&tokens).await?;
    let dead_letters = Arc::new(muara_local::deadletters::PgDeadLetters::new(pool.clone()));
    let mut console =
        ConsoleRoutes::without_tokens(pool.clone(), json!({"auth": "token"}), dead_letters);
    state.auth = Some(tokens.clone());
    state.audit = Some(console.audit.clone());
    console.tokens = Some(tokens);
    state.allowed_origins = muara_core::config::list("MUARA_CONSOLE_ORIGIN");
    let state = ports
        .probes(cfg.lake_dir.clone())
        .into_iter()
        .fold(state, AppState::with_probe);
    let mut routes = wired.routes();
    routes.extend(muara_console::http::routes(console));
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

    let mut tasks = tokio::task::JoinSet::new();
    spawn_lake(&mut tasks, cfg, &ports, handlers, &metrics, shutdown);
    wired.spawn(&mut tasks, cfg, shutdown);
    if cfg.demo {
        muara_demo::batch::seed(&wired.batch.deps).await?;
        spawn_demo(&mut tasks, cfg, format!("http://{http}"), pool.clone());
    }
    on_ready(&Running {
        http,
        database_url: database_url.to_string(),
        lake_dir: cfg.lake_dir.clone(),
        outbox: ports.outbox.clone(),
        machines,
        metrics: metrics.clone(),
        admin_token,
    });

    let mut stop = shutdown.clone();
    axum::serve(listener, muara_api::app(state, routes))
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

/// The host's own loops: resuming interrupted executions, the lake watcher (S3's notifications
/// here) and the dispatcher that feeds the pipelines' object-created triggers.
fn spawn_lake(
    tasks: &mut tokio::task::JoinSet<()>,
    cfg: &UpConfig,
    ports: &LocalPorts,
    handlers: Vec<Arc<dyn ObjectEventHandler>>,
    metrics: &Arc<Metrics>,
    stop: &watch::Receiver<bool>,
) {
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
    // Durable executions: adopt and resume what a stopped host (this one, before a crash or
    // kill, or another sharing the database) left running.
    let orchestrator = ports.orchestrator.clone();
    let every = muara_local::orchestrator::HEARTBEAT_EVERY;
    spawn_every(
        tasks,
        "recover executions",
        every,
        stop.clone(),
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
    // Only the prefixes a pipeline handles are announced, as the bucket's notification
    // filters do in AWS (raw-messages/ and data/, say, are not).
    let prefixes: Vec<String> = if handlers.iter().any(|h| h.prefix().is_empty()) {
        vec![]
    } else {
        handlers.iter().map(|h| h.prefix().to_string()).collect()
    };
    let watcher = Arc::new(LakeWatcher::new(
        ports.store.clone(),
        ports.pool.clone(),
        ports.lake_queue.clone(),
        LOCAL_BUCKET,
        prefixes,
    ));
    let announced = metrics.clone();
    spawn_every(
        tasks,
        "lake scan",
        cfg.scan_interval,
        stop.clone(),
        move || {
            let (watcher, metrics) = (watcher.clone(), announced.clone());
            async move {
                match watcher.scan_once().await {
                    Ok(keys) => {
                        metrics.add("muara_lake_objects_announced_total", &[], keys.len() as f64)
                    }
                    Err(e) => tracing::error!(error = %e.chain(), "lake scan failed"),
                }
            }
        },
    );
    let dispatcher = Arc::new(Dispatcher {
        queue: ports.lake_queue.clone(),
        handlers,
        metrics: metrics.clone(),
    });
    spawn_rounds(tasks, "lake dispatcher", stop.clone(), move || {
        let dispatcher = dispatcher.clone();
        async move { dispatcher.round().await.map_err(|e| e.chain()) }
    });
}

/// The demo: sample batch data is seeded by the caller; here the funnel's webhook traffic and
/// a day of recordings through the agent.
fn spawn_demo(
    tasks: &mut tokio::task::JoinSet<()>,
    cfg: &UpConfig,
    base: String,
    pool: deadpool_postgres::Pool,
) {
    let secret = cfg.funnel.secret.clone();
    tasks.spawn(async move {
        if let Err(e) = crate::pipelines::funnel_demo(&base, secret.as_deref(), &pool).await {
            tracing::error!(error = %e.chain(), "demo funnel failed");
        }
    });
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
