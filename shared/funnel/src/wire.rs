//! Pipeline D's one wiring: the funnel built from its ports and settings, the same way by every
//! host (the funnel Lambdas, `muara up`, the tests), and the entry points those hosts serve.

use crate::classify::default_precedence;
use crate::ingest::Ingest;
use crate::observe::Observe;
use crate::service::Service;
use crate::store::PgIngestLedger;
use crate::worker::{KeywordCache, Worker};
use deadpool_postgres::Pool;
use muara_core::ports::{IdempotencyStore, ObjectStore, Queue};
use std::sync::Arc;
use std::time::Duration;

/// What the funnel needs.
#[derive(Clone)]
pub struct Ports {
    /// The lake: raw bodies are kept before anything is acknowledged.
    pub store: Arc<dyn ObjectStore>,
    /// The funnel queue between the webhook and the worker.
    pub queue: Arc<dyn Queue>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub pool: Pool,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
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
    /// The published keyword sheet (CSV) the keyword set is synced from, if any.
    pub sheet_url: Option<String>,
}

impl Settings {
    /// The settings from `MUARA_FUNNEL_TIMEZONE`, `MUARA_KEYWORDS_TTL_SECS` and
    /// `MUARA_KEYWORDS_SHEET_URL`, with the
    /// webhook's secrets as the host read them.
    pub fn from_env(
        secret: Option<String>,
        verify_token: Option<String>,
        observe: Observe,
    ) -> muara_core::Result<Self> {
        Ok(Self {
            secret: secret.map(String::into_bytes),
            verify_token,
            timezone: muara_core::config::optional("MUARA_FUNNEL_TIMEZONE")
                .unwrap_or_else(|| crate::report::DEFAULT_TIMEZONE.into()),
            keywords_ttl: muara_core::config::seconds_or(
                "MUARA_KEYWORDS_TTL_SECS",
                Duration::from_secs(30),
            )?,
            observe,
            sheet_url: muara_core::config::optional("MUARA_KEYWORDS_SHEET_URL"),
        })
    }
}

/// A keyword sheet sync's outcome.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Synced {
    /// How many keywords the set holds now.
    pub keywords: usize,
}

/// The wired funnel: its routes, its worker and its scheduled work.
#[derive(Clone)]
pub struct Funnel {
    /// The webhook, report, export and keyword service.
    pub service: Arc<Service>,
    /// The queue worker: a kept body → classified message → funnel rows.
    pub worker: Arc<Worker>,
    ports: Ports,
    sheet_url: Option<String>,
}

impl std::fmt::Debug for Funnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Funnel").finish_non_exhaustive()
    }
}

/// The funnel from its ports and settings.
pub fn wire(ports: Ports, settings: &Settings) -> Funnel {
    let service = Service {
        ingest: Ingest {
            store: ports.store.clone(),
            queue: ports.queue.clone(),
            idem: ports.idempotency.clone(),
            ledger: Arc::new(PgIngestLedger::new(ports.pool.clone())),
            secret: settings.secret.clone(),
            verify_token: settings.verify_token.clone(),
            observe: settings.observe.clone(),
        },
        pool: ports.pool.clone(),
        timezone: settings.timezone.clone(),
    };
    let worker = Worker {
        store: ports.store.clone(),
        pool: ports.pool.clone(),
        keywords: Arc::new(KeywordCache::new(
            ports.pool.clone(),
            settings.keywords_ttl,
            default_precedence(),
        )),
        observe: settings.observe.clone(),
    };
    Funnel {
        service: Arc::new(service),
        worker: Arc::new(worker),
        ports,
        sheet_url: settings.sheet_url.clone(),
    }
}

impl Funnel {
    /// The webhook, report, export and keyword routes.
    pub fn routes(&self) -> Vec<muara_api::Route> {
        crate::http::routes(self.service.clone())
    }

    /// The worker as the queue's Lambda event source runs it.
    pub async fn on_sqs_event(&self, payload: serde_json::Value) -> muara_core::sqs::BatchResponse {
        crate::worker::on_sqs_event(&self.worker, payload).await
    }

    /// One round of the worker as a local host runs it: receive, handle, delete.
    pub async fn round(&self, wait: Duration) -> muara_core::Result<usize> {
        crate::worker::round(&self.worker, self.ports.queue.as_ref(), wait).await
    }

    /// The published keyword sheet replaces the keyword set (or, when it cannot be read or
    /// checked, the attempt is recorded and the set stays).
    pub async fn sync_sheet(&self) -> muara_core::Result<Synced> {
        let url = self.sheet_url.as_deref().ok_or_else(|| {
            muara_core::Error::config("MUARA_KEYWORDS_SHEET_URL is not set: no sheet to sync")
        })?;
        let keywords = crate::sheet::sync(&self.ports.pool, url).await?;
        Ok(Synced { keywords })
    }

    /// Whether a keyword sheet is configured (a local host syncs it only then).
    pub fn has_sheet(&self) -> bool {
        self.sheet_url.is_some()
    }

    /// The ledger of the last two days: every kept body stored or refused with a reason; one
    /// that is neither is queued again (and logged as an error).
    pub async fn reconcile(&self) -> muara_core::Result<crate::ledger::Ledger> {
        let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
        crate::ledger::reconcile(
            self.ports.store.as_ref(),
            &self.ports.pool,
            Some(self.ports.queue.as_ref()),
            Some(since),
            crate::ledger::SETTLE,
        )
        .await
    }

    /// The pending gauge: the queue's depth, when it can be counted.
    pub async fn observe_pending(&self) {
        if let Ok(depth) = self.ports.queue.depth().await {
            self.worker.observe.pending(depth);
        }
    }
}
