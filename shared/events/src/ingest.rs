//! `POST /publish`: validate, claim each `(topic, event_id)` in the idempotency store, queue
//! the new events, answer. An event is acknowledged only once its queue message is durable.
//!
//! Counting: items the worker never sees (rejected, duplicates, conflicts) are counted here,
//! `received` with them in one statement; queued events are counted by the worker in the
//! transaction that stores them. Either way `received = unique_processed + duplicate_dropped +
//! conflicts + rejected` once nothing is pending, whatever is retried or redelivered.

use crate::counters::{self, Delta};
use crate::message::{EventsMessage, QueuedEvent};
use crate::model::{self, Body, BodyError, Event, FieldError};
use deadpool_postgres::Pool;
use futures::stream::{self, StreamExt};
use muara_core::ports::{Begin, IdempotencyStore, OutgoingMessage, Queue};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The publish path's ports and settings.
#[derive(Clone)]
pub struct Ingest {
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub queue: Arc<dyn Queue>,
    pub pool: Pool,
    /// How long a claim holds before another request may take the id over.
    pub claim_ttl: Duration,
    /// How long a completed id answers `ignored` without reaching the worker.
    pub retention: Duration,
    /// How long a request waits for another request publishing the same id.
    pub in_progress_wait: Duration,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("claim_ttl", &self.claim_ttl)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    pub fn new(idempotency: Arc<dyn IdempotencyStore>, queue: Arc<dyn Queue>, pool: Pool) -> Self {
        Self {
            idempotency,
            queue,
            pool,
            claim_ttl: Duration::from_secs(30),
            retention: Duration::from_secs(30 * 24 * 3600),
            in_progress_wait: Duration::from_secs(2),
        }
    }
}

/// What a publish request came to. The HTTP routes (`crate::http`) answer it.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    /// The body is larger than a publish may be.
    TooLarge(String),
    /// The body is not an event, nor a list of events.
    Invalid(String),
    /// A store was unavailable: nothing new was acknowledged; the publisher retries.
    Unavailable(String),
    /// A single event (the body was one object).
    One(Item),
    /// A list of events, in the order sent.
    Many(Vec<Item>),
}

/// One published item: what happened to it, and the ids it was sent with (as sent, even when
/// they are not valid).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub outcome: Outcome,
    pub topic: Option<Value>,
    pub event_id: Option<Value>,
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    New,
    Duplicate,
    Conflict,
    Rejected(Vec<FieldError>),
    /// Another request holds the id and did not finish in time: the publisher retries.
    Retry,
}

impl Outcome {
    /// The stable name publishers see.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::New => "success",
            Outcome::Duplicate => "ignored",
            Outcome::Conflict => "conflict",
            Outcome::Rejected(_) => "rejected",
            Outcome::Retry => "retry",
        }
    }
}

/// What claiming an id found.
#[derive(Debug, Clone, PartialEq)]
enum Claim {
    New,
    /// Another request holds it: look again once this request's own events are queued.
    Deferred,
    Done(Outcome),
}

impl Claim {
    fn from_begin(b: Begin) -> Self {
        match b {
            Begin::Started => Claim::New,
            Begin::Completed(_) => Claim::Done(Outcome::Duplicate),
            Begin::Conflict { .. } => Claim::Done(Outcome::Conflict),
            Begin::InProgress => Claim::Deferred,
        }
    }
}

/// Room left in a queue message (SQS allows 256 KiB).
const MESSAGE_BUDGET: usize = 200 * 1024;

impl Ingest {
    #[tracing::instrument(name = "publish", skip_all, fields(bytes = body.len()))]
    pub async fn publish(&self, body: &[u8]) -> Published {
        let (items, single) = match model::parse_body(body) {
            Ok(Body::Single(v)) => (vec![v], true),
            Ok(Body::Batch(v)) => (v, false),
            Err(BodyError::TooLarge(m)) => return Published::TooLarge(m),
            Err(BodyError::Invalid(m)) => {
                self.count_rejected_body().await;
                return Published::Invalid(m);
            }
        };
        let checked: Vec<Result<Event, Vec<FieldError>>> =
            items.iter().map(model::validate).collect();

        // Within the request: a repeated id is a duplicate (same payload) or a conflict.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut hashes: Vec<Option<String>> = vec![None; items.len()];
        let mut first: std::collections::HashMap<String, (usize, String)> = Default::default();
        for (i, c) in checked.iter().enumerate() {
            match c {
                Err(errors) => outcomes[i] = Some(Outcome::Rejected(errors.clone())),
                Ok(e) => {
                    let hash = e.payload_hash();
                    match first.get(&e.key()) {
                        Some((_, h)) if *h == hash => outcomes[i] = Some(Outcome::Duplicate),
                        Some(_) => outcomes[i] = Some(Outcome::Conflict),
                        None => {
                            first.insert(e.key(), (i, hash.clone()));
                        }
                    }
                    hashes[i] = Some(hash);
                }
            }
        }

        // Claim every other id, a few at a time, without waiting: an id another request holds
        // is deferred until this request has queued and completed its own new events — two
        // requests holding ids the other wants would otherwise wait on each other.
        let to_claim: Vec<usize> = (0..items.len())
            .filter(|i| outcomes[*i].is_none())
            .collect();
        let mut waiting = to_claim;
        let mut queued = 0usize;
        for wait in [false, true] {
            if waiting.is_empty() {
                break;
            }
            let claimed: Vec<(usize, muara_core::Result<Claim>)> = if wait {
                stream::iter(waiting)
                    .map(|i| {
                        let key = checked[i].as_ref().map(Event::key).unwrap_or_default();
                        let hash = hashes[i].clone().unwrap_or_default();
                        async move { (i, self.claim(&key, &hash).await) }
                    })
                    .buffer_unordered(16)
                    .collect()
                    .await
            } else {
                // First pass: every id in one round trip where the store allows it.
                let items: Vec<(String, String)> = waiting
                    .iter()
                    .map(|i| {
                        (
                            checked[*i].as_ref().map(Event::key).unwrap_or_default(),
                            hashes[*i].clone().unwrap_or_default(),
                        )
                    })
                    .collect();
                match self.idempotency.begin_many(&items, self.claim_ttl).await {
                    Ok(answers) => waiting
                        .iter()
                        .zip(answers)
                        .map(|(i, b)| (*i, Ok(Claim::from_begin(b))))
                        .collect(),
                    Err(e) => vec![(waiting[0], Err(e))],
                }
            };
            let mut failure = None;
            let mut new = Vec::new();
            waiting = Vec::new();
            for (i, r) in claimed {
                match r {
                    Ok(Claim::New) => {
                        outcomes[i] = Some(Outcome::New);
                        new.push(i);
                    }
                    Ok(Claim::Deferred) => waiting.push(i),
                    Ok(Claim::Done(o)) => outcomes[i] = Some(o),
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                self.abandon(&checked, &new).await;
                tracing::error!(error = %e.chain(), "idempotency store failed; the new events were not acknowledged");
                return Published::Unavailable(format!(
                    "the idempotency store is unavailable: {}",
                    e.chain()
                ));
            }
            if let Err(r) = self.enqueue(&checked, &hashes, &new).await {
                return r;
            }
            queued += new.len();
        }
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Retry))
            .collect();

        // Count what the worker will not see, `received` with it (the worker counts the queued
        // events as it stores them).
        let mut delta = Delta::from_api(
            outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Rejected(_)))
                .count(),
            outcomes
                .iter()
                .filter(|o| **o == Outcome::Duplicate)
                .count(),
            outcomes.iter().filter(|o| **o == Outcome::Conflict).count(),
        );
        // `pending` rides along (the worker takes it off as it stores).
        delta.add(counters::PENDING, queued as i64);
        if let Err(e) = counters::add(&self.pool, &delta).await {
            // Answer an error so the publisher retries: every item is then received (and
            // counted) again, as what it is by then.
            tracing::error!(error = %e.chain(), "counting failed; the publisher is asked to retry");
            return Published::Unavailable(format!("the database is unavailable: {}", e.chain()));
        }

        let mut answered: Vec<Item> = outcomes
            .into_iter()
            .zip(&items)
            .map(|(outcome, item)| Item {
                outcome,
                topic: item.get("topic").cloned(),
                event_id: item.get("event_id").cloned(),
            })
            .collect();
        if single
            && answered.len() == 1
            && let Some(one) = answered.pop()
        {
            return Published::One(one);
        }
        Published::Many(answered)
    }

    /// A deferred id's claim, waited for a little (the request holding it is queueing it) and
    /// answered `retry` if it is still held.
    async fn claim(&self, key: &str, hash: &str) -> muara_core::Result<Claim> {
        let deadline = tokio::time::Instant::now() + self.in_progress_wait;
        loop {
            match Claim::from_begin(self.idempotency.begin(key, hash, self.claim_ttl).await?) {
                Claim::Deferred if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Claim::Deferred => return Ok(Claim::Done(Outcome::Retry)),
                other => return Ok(other),
            }
        }
    }

    /// Queues new events (acknowledged only once their messages are durable) and completes
    /// their claims. On failure the claims are freed and the error answer returned.
    async fn enqueue(
        &self,
        checked: &[Result<Event, Vec<FieldError>>],
        hashes: &[Option<String>],
        new: &[usize],
    ) -> Result<(), Published> {
        if new.is_empty() {
            return Ok(());
        }
        let events: Vec<QueuedEvent> = new
            .iter()
            .filter_map(|i| {
                checked[*i]
                    .as_ref()
                    .ok()
                    .map(|e| QueuedEvent::from_event(e, hashes[*i].clone().unwrap_or_default()))
            })
            .collect();
        let messages: Vec<OutgoingMessage> = EventsMessage::chunk(events, MESSAGE_BUDGET)
            .iter()
            .map(|m| OutgoingMessage::new(m.to_json()))
            .collect();
        let keys: Vec<String> = new
            .iter()
            .filter_map(|i| checked[*i].as_ref().ok().map(Event::key))
            .collect();
        let sent = muara_core::idempotent::send_claimed(
            self.idempotency.as_ref(),
            &keys,
            &json!({"status": "queued"}),
            self.retention,
            self.queue.send_batch(&messages),
        )
        .await;
        if let Err(e) = sent {
            tracing::error!(error = %e.chain(), "queueing failed; the new events were not acknowledged");
            return Err(Published::Unavailable(format!(
                "the queue is unavailable: {}",
                e.chain()
            )));
        }
        Ok(())
    }

    /// Frees the claims of events that were not acknowledged, so a retry can take them now.
    async fn abandon(&self, checked: &[Result<Event, Vec<FieldError>>], new: &[usize]) {
        let keys: Vec<String> = new
            .iter()
            .filter_map(|i| {
                checked
                    .get(*i)
                    .and_then(|c| c.as_ref().ok())
                    .map(Event::key)
            })
            .collect();
        for key in keys {
            if let Err(err) = self.idempotency.abandon(&key).await {
                tracing::warn!(error = %err.chain(), "could not abandon a claim; it expires on its own");
            }
        }
    }

    /// A body that is not JSON at all still counts as one received, rejected request.
    async fn count_rejected_body(&self) {
        if let Err(e) = counters::add(&self.pool, &Delta::from_api(1, 0, 0)).await {
            tracing::warn!(error = %e.chain(), "could not count a rejected body");
        }
    }
}
