//! The worker: a queued reference → the raw body from the lake → the message → E.164 phone,
//! keyword class, amount → [`store::apply`]. Bad messages are recorded in `funnel.rejected` and
//! acknowledged; transient faults are errors, so the queue redelivers.

use crate::classify::{Classifier, Keyword, Kind};
use crate::store::{self, Classified};
use crate::webhook::{self, Body};
use deadpool_postgres::Pool;
use muara_core::ports::ObjectStore;
use muara_core::{ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the webhook queues for each message: where its raw body is, and its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRef {
    pub key: String,
    pub message_id: String,
    pub channel: String,
    /// The WhatsApp number it was sent to (empty for generic messages and older references).
    #[serde(default)]
    pub source: String,
    /// The channel of the webhook path the body came in on (the default channel of generic
    /// messages without their own); `None` in older references, which used `channel`.
    #[serde(default)]
    pub route: Option<String>,
}

/// What handling one queued message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Applied { kind: Option<Kind> },
    Duplicate,
    Rejected { stage: &'static str, reason: String },
}

/// The keyword set from PostgreSQL, reloaded when older than `ttl`, so an edit (API or sheet
/// sync) reaches every worker within that time without a deploy.
#[derive(Debug)]
pub struct KeywordCache {
    pool: Pool,
    ttl: Duration,
    precedence: Vec<Kind>,
    cached: tokio::sync::RwLock<Option<(Instant, Arc<Classifier>)>>,
}

impl KeywordCache {
    pub fn new(pool: Pool, ttl: Duration, precedence: Vec<Kind>) -> Self {
        Self {
            pool,
            ttl,
            precedence,
            cached: tokio::sync::RwLock::new(None),
        }
    }

    pub async fn get(&self) -> Result<Arc<Classifier>> {
        if let Some((at, c)) = self.cached.read().await.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(c.clone());
        }
        let keywords = load_keywords(&self.pool).await?;
        let c = Arc::new(
            Classifier::new(&keywords, &self.precedence)
                .map_err(|e| muara_core::Error::invalid(e.to_string()))?,
        );
        *self.cached.write().await = Some((Instant::now(), c.clone()));
        Ok(c)
    }
}

/// The current keyword set.
pub async fn load_keywords(pool: &Pool) -> Result<Vec<Keyword>> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT kind, keyword, channel FROM funnel.keyword ORDER BY kind, keyword, channel",
            &[],
        )
        .await
        .map_err(|e| pg_error("reading keywords", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Keyword {
                kind: Kind::parse(r.get::<_, &str>(0))?,
                keyword: r.get(1),
                channel: r.get(2),
            })
        })
        .collect())
}

/// The worker's dependencies; the same in Lambda and under `muara up`.
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn ObjectStore>,
    pub pool: Pool,
    pub keywords: Arc<KeywordCache>,
    pub observe: crate::observe::Observe,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    /// Handles one queue message body.
    #[tracing::instrument(
        name = "funnel message",
        skip_all,
        fields(channel = tracing::field::Empty, message_id = tracing::field::Empty)
    )]
    pub async fn handle(&self, body: &str) -> Result<Handled> {
        let r: QueuedRef = match serde_json::from_str::<QueuedRef>(body) {
            Ok(r) => {
                let span = tracing::Span::current();
                span.record("channel", r.channel.as_str());
                span.record("message_id", r.message_id.as_str());
                r
            }
            Err(e) => {
                return self
                    .rejected(
                        None,
                        "queue",
                        format!("not a queued message reference: {e}"),
                    )
                    .await;
            }
        };
        let raw = match self.store.get(&r.key).await {
            Ok(raw) => raw,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return self
                    .rejected(Some(&r), "raw", format!("the raw body {} is gone", r.key))
                    .await;
            }
            Err(e) => return Err(e),
        };
        let route = r.route.as_deref().unwrap_or(&r.channel);
        let incoming = match webhook::parse(&raw, route) {
            Ok(Body::Messages { messages, .. }) => {
                match messages.into_iter().find(|m| {
                    m.message_id == r.message_id && m.channel == r.channel && m.source == r.source
                }) {
                    Some(m) => m,
                    None => {
                        return self
                            .rejected(
                                Some(&r),
                                "parse",
                                format!("{} does not hold message {}", r.key, r.message_id),
                            )
                            .await;
                    }
                }
            }
            Ok(Body::Unknown(why)) => {
                return self.rejected(Some(&r), "parse", why).await;
            }
            Err(e) => {
                return self.rejected(Some(&r), "parse", e.to_string()).await;
            }
        };
        let phone = match crate::phone::normalize(&incoming.phone) {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("phone {:?}: {e}", incoming.phone);
                return self.rejected(Some(&r), "phone", reason).await;
            }
        };
        let classifier = self.keywords.get().await?;
        let matched = classifier.classify(&incoming.text, &incoming.channel);
        let kind = matched.as_ref().map(|m| m.kind);
        let mut amount = None;
        let mut unreadable_amount = None;
        if kind == Some(Kind::Transaction) {
            match crate::amount::find_amount(&incoming.text) {
                Ok(a) => amount = a,
                // Still a transaction; its value is unknown, and that is reported (once).
                Err(e) => unreadable_amount = Some(e.to_string()),
            }
        }
        let c = Classified {
            message_id: incoming.message_id,
            channel: incoming.channel,
            source: incoming.source,
            phone,
            sent_at: incoming.sent_at,
            kind,
            keyword: matched.map(|m| m.keyword),
            amount,
            campaign: incoming.campaign,
            raw_key: r.key.clone(),
        };
        if !store::apply(&self.pool, &c).await? {
            return Ok(Handled::Duplicate);
        }
        if let Some(reason) = unreadable_amount {
            store::reject(
                &self.pool,
                Some(&r.key),
                Some(&r.message_id),
                "amount",
                &reason,
            )
            .await?;
        }
        Ok(Handled::Applied { kind })
    }

    async fn rejected(
        &self,
        r: Option<&QueuedRef>,
        stage: &'static str,
        reason: String,
    ) -> Result<Handled> {
        tracing::warn!(key = r.map(|r| r.key.as_str()), message_id = r.map(|r| r.message_id.as_str()), %stage, %reason, "funnel message rejected");
        store::reject(
            &self.pool,
            r.map(|r| r.key.as_str()),
            r.map(|r| r.message_id.as_str()),
            stage,
            &reason,
        )
        .await?;
        Ok(Handled::Rejected { stage, reason })
    }
}

/// One receive-and-handle round on a queue (the local runtime's worker loop); returns how many
/// messages were received. A message that fails is left for redelivery (and the dead-letter
/// queue after its receives).
#[tracing::instrument(name = "worker round", skip_all, fields(queue = "funnel"))]
pub async fn round(
    worker: &Worker,
    queue: &dyn muara_core::ports::Queue,
    wait: Duration,
) -> Result<usize> {
    let msgs = queue.receive(10, wait).await?;
    let mut done = Vec::with_capacity(msgs.len());
    let mut outcomes = Vec::with_capacity(msgs.len());
    for m in &msgs {
        match worker.handle(&m.body).await {
            Ok(h) => {
                tracing::debug!(message_id = %m.id, outcome = ?h, "funnel message handled");
                outcomes.push(crate::observe::outcome(&h));
                done.push(m.receipt.clone());
            }
            Err(e) => {
                outcomes.push("failed".into());
                tracing::error!(message_id = %m.id, receive_count = m.receive_count, error = %e.chain(), "funnel message failed");
            }
        }
    }
    queue.delete_batch(&done).await?;
    worker.observe.worker(&crate::observe::tally(outcomes));
    Ok(msgs.len())
}

/// The funnel queue's Lambda event (SQS): each message handled; the ones that failed are
/// reported (`ReportBatchItemFailures`) and come back.
pub async fn on_sqs_event(
    worker: &Worker,
    payload: serde_json::Value,
) -> muara_core::sqs::BatchResponse {
    let (response, mut outcomes) =
        muara_core::sqs::handle_each(payload, "funnel", |m| async move {
            worker
                .handle(&m.body)
                .await
                .map(|h| crate::observe::outcome(&h))
        })
        .await;
    outcomes.extend(
        response
            .batch_item_failures
            .iter()
            .map(|_| "failed".to_string()),
    );
    worker.observe.worker(&crate::observe::tally(outcomes));
    response
}
