//! The local adapters `muara up` runs the pipelines on: the lake folder, the PostgreSQL queues
//! (each with its dead-letter queue), mail (SMTP or the outbox folder) and the local state
//! machine interpreter, opened once per start; and the probes `/health` reports on them.

use crate::runtime::UpConfig;
use async_trait::async_trait;
use muara_core::Result;
use muara_core::health::{Probe, Unhealthy};
use muara_core::ports::{Mailer, Queue};
use muara_local::dirstore::DirStore;
use muara_local::mailer::{OutboxMailer, SmtpMailer};
use muara_local::orchestrator::LocalOrchestrator;
use muara_local::pgqueue::{PgQueue, QueueSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The queue that carries lake notifications, as the S3 → SQS notification does in AWS.
pub const LAKE_EVENTS_QUEUE: &str = "lake-events";
/// Deliveries before a notification that keeps failing goes to the dead-letter queue.
pub const LAKE_EVENTS_MAX_RECEIVES: u32 = 5;
/// The queue between `POST /publish` and the events worker.
pub const EVENTS_QUEUE: &str = "events";
/// Deliveries before an events message that keeps failing goes to the dead-letter queue.
pub const EVENTS_MAX_RECEIVES: u32 = 5;
/// The queue between `POST /webhook/{channel}` and the funnel worker.
pub const FUNNEL_QUEUE: &str = "funnel";
/// Deliveries before a funnel message that keeps failing goes to the dead-letter queue.
pub const FUNNEL_MAX_RECEIVES: u32 = 5;

/// The local adapters, opened.
#[derive(Clone)]
pub struct LocalPorts {
    pub pool: deadpool_postgres::Pool,
    pub store: DirStore,
    pub mailer: Arc<dyn Mailer>,
    /// The outbox folder when mail is not sent over SMTP.
    pub outbox: Option<PathBuf>,
    /// Lake notifications (the S3 → SQS notification's stand-in).
    pub lake_queue: Arc<PgQueue>,
    pub events_queue: Arc<PgQueue>,
    pub funnel_queue: Arc<PgQueue>,
    pub orchestrator: Arc<LocalOrchestrator>,
}

impl std::fmt::Debug for LocalPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPorts")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl LocalPorts {
    /// Opens every local adapter on `pool` as `cfg` says.
    pub async fn open(cfg: &UpConfig, pool: &deadpool_postgres::Pool) -> Result<Self> {
        let (mailer, outbox): (Arc<dyn Mailer>, Option<PathBuf>) = match &cfg.smtp_url {
            Some(url) => (Arc::new(SmtpMailer::from_url(url)?), None),
            None => {
                let dir = cfg.data_dir.join("outbox");
                (Arc::new(OutboxMailer::open(&dir).await?), Some(dir))
            }
        };
        let queue =
            |name, visibility, receives| dead_lettered_queue(pool, name, visibility, receives);
        Ok(Self {
            pool: pool.clone(),
            store: DirStore::open(&cfg.lake_dir).await?,
            mailer,
            outbox,
            lake_queue: queue(
                LAKE_EVENTS_QUEUE,
                Duration::from_secs(60),
                LAKE_EVENTS_MAX_RECEIVES,
            )
            .await?,
            events_queue: queue(EVENTS_QUEUE, Duration::from_secs(30), EVENTS_MAX_RECEIVES).await?,
            funnel_queue: queue(FUNNEL_QUEUE, Duration::from_secs(60), FUNNEL_MAX_RECEIVES).await?,
            orchestrator: Arc::new(LocalOrchestrator::new(
                pool.clone(),
                Arc::new(muara_local::tasks::NoTasksYet),
            )),
        })
    }

    /// What `/health` checks: the database, the lake folder, the lake queue.
    pub fn probes(&self, lake_dir: PathBuf) -> Vec<Arc<dyn Probe>> {
        vec![
            Arc::new(muara_db::pool::DbProbe(self.pool.clone())),
            Arc::new(DirProbe(lake_dir)),
            Arc::new(QueueProbe(self.lake_queue.clone())),
        ]
    }
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
