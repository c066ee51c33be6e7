//! The funnel's one wiring: its services built from ports and settings, the same way by every
//! host (the funnel Lambdas, `muara up`, the tests).

use crate::classify::default_precedence;
use crate::ingest::Ingest;
use crate::observe::Observe;
use crate::service::Service;
use crate::worker::{KeywordCache, Worker};
use deadpool_postgres::Pool;
use muara_core::ports::{IdempotencyStore, ObjectStore, Queue};
use std::sync::Arc;
use std::time::Duration;

/// What the webhook's side needs.
#[derive(Clone)]
pub struct IngestPorts {
    /// The lake: raw bodies are kept before anything is acknowledged.
    pub store: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub pool: Pool,
}

impl std::fmt::Debug for IngestPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestPorts").finish_non_exhaustive()
    }
}

/// What the worker's side needs.
#[derive(Clone)]
pub struct WorkerPorts {
    pub store: Arc<dyn ObjectStore>,
    pub pool: Pool,
}

impl std::fmt::Debug for WorkerPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPorts").finish_non_exhaustive()
    }
}

/// The funnel's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The webhook's HMAC secret (`X-Hub-Signature-256`); none: bodies are not signed.
    pub secret: Option<Vec<u8>>,
    /// WhatsApp's verification token for `GET /webhook/{channel}`.
    pub verify_token: Option<String>,
    /// The time zone report days are counted in.
    pub timezone: String,
    /// How long the worker trusts its copy of the keyword set.
    pub keywords_ttl: Duration,
    /// Where metrics go (`/metrics` locally, CloudWatch EMF in Lambda).
    pub observe: Observe,
}

/// The webhook, report, export and keyword service (its routes: [`crate::http::routes`]).
pub fn service(ports: IngestPorts, settings: &Settings) -> Service {
    Service {
        ingest: Ingest {
            store: ports.store,
            queue: ports.queue,
            idem: ports.idempotency,
            pool: ports.pool.clone(),
            secret: settings.secret.clone(),
            verify_token: settings.verify_token.clone(),
            observe: settings.observe.clone(),
        },
        pool: ports.pool,
        timezone: settings.timezone.clone(),
    }
}

/// The queue worker: a kept body → classified message → funnel rows.
pub fn worker(ports: WorkerPorts, settings: &Settings) -> Worker {
    Worker {
        store: ports.store,
        pool: ports.pool.clone(),
        keywords: Arc::new(KeywordCache::new(
            ports.pool,
            settings.keywords_ttl,
            default_precedence(),
        )),
        observe: settings.observe.clone(),
    }
}
