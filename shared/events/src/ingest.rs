//! `POST /publish`: validate, claim each `(topic, event_id)` in the idempotency store, queue
//! the new events, answer. An event is acknowledged only once its queue message is durable.
//!
//! Counting: items the worker never sees (rejected, duplicates, conflicts) are counted here,
//! `received` with them in one statement; queued events are counted by the worker in the
//! transaction that stores them. Either way `received = unique_processed + duplicate_dropped +
//! conflicts + rejected` once nothing is pending, whatever is retried or redelivered.

use crate::counters::{self, Counters, Delta};
use crate::message::{EventsMessage, QueuedEvent};
use crate::model::{self, Body, BodyError, Event, FieldError};
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
    /// What the publish path counts (`received` and what the worker never sees).
    pub counters: Arc<dyn Counters>,
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
    pub fn new(
        idempotency: Arc<dyn IdempotencyStore>,
        queue: Arc<dyn Queue>,
        counters: Arc<dyn Counters>,
    ) -> Self {
        Self {
            idempotency,
            queue,
            counters,
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
        if let Err(e) = self.counters.add(&delta).await {
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
        if let Err(e) = self.counters.add(&Delta::from_api(1, 0, 0)).await {
            tracing::warn!(error = %e.chain(), "could not count a rejected body");
        }
    }
}

#[cfg(test)]
mod tests {
    //! The publish path on the memory twins: claims in `MemLocks`, messages in `MemQueue`,
    //! counts in `MemCounters`; no database.

    use super::*;
    use crate::counters::{CONFLICTS, DUPLICATES, MemCounters, PENDING, RECEIVED, REJECTED};
    use crate::message::{EventsMessage, QueuedEvent};
    use crate::model::MAX_BODY_BYTES;
    use muara_core::memory::{MemLocks, MemQueue};
    use muara_core::ports::ReceivedMessage;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The events queue, refusing every send while `down` is set.
    #[derive(Debug)]
    struct FlakyQueue {
        inner: MemQueue,
        down: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Queue for FlakyQueue {
        async fn send_batch(
            &self,
            messages: &[OutgoingMessage],
        ) -> muara_core::Result<Vec<String>> {
            if self.down.load(Ordering::SeqCst) {
                return Err(muara_core::Error::retryable("the queue is down"));
            }
            self.inner.send_batch(messages).await
        }
        async fn receive(
            &self,
            max: usize,
            wait: Duration,
        ) -> muara_core::Result<Vec<ReceivedMessage>> {
            self.inner.receive(max, wait).await
        }
        async fn delete_batch(&self, receipts: &[String]) -> muara_core::Result<()> {
            self.inner.delete_batch(receipts).await
        }
        async fn change_visibility(
            &self,
            receipt: &str,
            timeout: Duration,
        ) -> muara_core::Result<()> {
            self.inner.change_visibility(receipt, timeout).await
        }
        async fn depth(&self) -> muara_core::Result<u64> {
            self.inner.depth().await
        }
    }

    /// The memory counters, refusing every delta while `down` is set.
    #[derive(Debug, Default)]
    struct FlakyCounters {
        inner: MemCounters,
        down: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Counters for FlakyCounters {
        async fn add(&self, delta: &Delta) -> muara_core::Result<()> {
            if self.down.load(Ordering::SeqCst) {
                return Err(muara_core::Error::retryable("the counters are down"));
            }
            self.inner.add(delta).await
        }
    }

    struct Fx {
        ingest: Ingest,
        claims: Arc<MemLocks>,
        queue: Arc<FlakyQueue>,
        counters: Arc<FlakyCounters>,
    }

    fn fx() -> Fx {
        let claims = Arc::new(MemLocks::default());
        let queue = Arc::new(FlakyQueue {
            inner: MemQueue::new("events", Duration::from_secs(300)),
            down: AtomicBool::new(false),
        });
        let counters = Arc::new(FlakyCounters::default());
        let mut ingest = Ingest::new(claims.clone(), queue.clone(), counters.clone());
        // A held id is answered `retry` after this (2 s in service).
        ingest.in_progress_wait = Duration::from_millis(100);
        Fx {
            ingest,
            claims,
            queue,
            counters,
        }
    }

    impl Fx {
        async fn publish(&self, body: &Value) -> Published {
            self.ingest.publish(body.to_string().as_bytes()).await
        }

        /// The messages queued since the last look (each is received once: it stays in
        /// flight, so `depth` still counts it).
        async fn queued(&self) -> Vec<EventsMessage> {
            let mut out = Vec::new();
            loop {
                let got = self.queue.receive(10, Duration::ZERO).await.unwrap();
                if got.is_empty() {
                    return out;
                }
                out.extend(
                    got.iter()
                        .map(|m| serde_json::from_str::<EventsMessage>(&m.body).unwrap()),
                );
            }
        }

        async fn depth(&self) -> u64 {
            self.queue.depth().await.unwrap()
        }

        fn totals(&self) -> BTreeMap<String, i64> {
            self.counters.inner.totals()
        }

        /// What the idempotency store answers for `e` now (claiming it if it is free).
        async fn claim(&self, e: &Value) -> Begin {
            let e = model::validate(e).unwrap();
            self.claims
                .begin(&e.key(), &e.payload_hash(), Duration::from_secs(60))
                .await
                .unwrap()
        }
    }

    fn event(topic: &str, id: &str, n: i64) -> Value {
        json!({"topic": topic, "event_id": id, "timestamp": "2026-11-22T12:00:00+07:00",
               "source": "test", "payload": {"n": n}})
    }

    fn item(outcome: Outcome, topic: &str, id: &str) -> Item {
        Item {
            outcome,
            topic: Some(json!(topic)),
            event_id: Some(json!(id)),
        }
    }

    fn field(field: &str, reason: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// `(topic, event_id)` of every queued event, message by message.
    fn ids(messages: &[EventsMessage]) -> Vec<Vec<(String, String)>> {
        messages
            .iter()
            .map(|m| {
                m.events
                    .iter()
                    .map(|e| (e.topic.clone(), e.event_id.clone()))
                    .collect()
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, i)| (t.to_string(), i.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn new_events_are_queued_once_in_one_message_and_counted_pending() {
        let fx = fx();
        let answer = fx
            .publish(&json!([
                event("orders", "a", 1),
                event("orders", "b", 2),
                event("payments", "a", 1)
            ]))
            .await;
        assert_eq!(
            answer,
            Published::Many(vec![
                item(Outcome::New, "orders", "a"),
                item(Outcome::New, "orders", "b"),
                item(Outcome::New, "payments", "a"),
            ])
        );
        let messages = fx.queued().await;
        assert_eq!(
            ids(&messages),
            [pairs(&[
                ("orders", "a"),
                ("orders", "b"),
                ("payments", "a")
            ])]
        );
        let first = model::validate(&event("orders", "a", 1)).unwrap();
        assert_eq!(
            messages[0].events[0],
            QueuedEvent::from_event(&first, first.payload_hash())
        );
        assert_eq!(messages[0].events[0].timestamp, "2026-11-22T12:00:00+07:00");
        // The worker counts them as it stores them; until then they are pending.
        assert_eq!(fx.totals(), counts(&[(PENDING, 3)]));
        // Each claim is completed: the id answers `ignored` without reaching the worker.
        assert_eq!(
            fx.claim(&event("orders", "a", 1)).await,
            Begin::Completed(json!({"status": "queued"}))
        );

        // One object is answered as one item.
        assert_eq!(
            fx.publish(&event("orders", "c", 1)).await,
            Published::One(item(Outcome::New, "orders", "c"))
        );
        assert_eq!(ids(&fx.queued().await), [pairs(&[("orders", "c")])]);
        assert_eq!(fx.depth().await, 2);
        assert_eq!(fx.totals(), counts(&[(PENDING, 4)]));
    }

    #[tokio::test]
    async fn a_large_batch_is_split_into_messages_under_the_budget() {
        let fx = fx();
        let pad = "x".repeat(90 * 1024);
        let batch: Vec<Value> = (0..5)
            .map(|i| {
                let mut e = event("big", &format!("e{i}"), i);
                e["payload"]["pad"] = json!(pad);
                e
            })
            .collect();
        let body = json!(batch).to_string();
        assert!(body.len() < MAX_BODY_BYTES);
        let Published::Many(items) = fx.ingest.publish(body.as_bytes()).await else {
            panic!("a batch")
        };
        assert!(items.iter().all(|i| i.outcome == Outcome::New), "{items:?}");
        let messages = fx.queued().await;
        // Two ~90 KiB events fit in the 200 KiB budget, a third does not.
        assert_eq!(
            ids(&messages),
            [
                pairs(&[("big", "e0"), ("big", "e1")]),
                pairs(&[("big", "e2"), ("big", "e3")]),
                pairs(&[("big", "e4")]),
            ]
        );
        assert!(messages.iter().all(|m| m.to_json().len() <= 256 * 1024));
        assert_eq!(fx.totals(), counts(&[(PENDING, 5)]));
    }

    #[tokio::test]
    async fn a_repeat_with_the_same_payload_is_a_duplicate_and_queues_nothing() {
        let fx = fx();
        let e = json!({"topic": "orders", "event_id": "o-1", "timestamp": "2026-11-22T12:00:00+07:00",
                       "source": "test", "payload": {"a": 1, "b": [1, 2]}});
        assert_eq!(
            fx.publish(&e).await,
            Published::One(item(Outcome::New, "orders", "o-1"))
        );
        assert_eq!(fx.queued().await.len(), 1);
        // The same payload with its keys in another order is the same payload.
        let mut again = e.clone();
        again["payload"] = json!({"b": [1, 2], "a": 1});
        for repeat in [&e, &again] {
            let answer = fx.publish(repeat).await;
            assert_eq!(
                answer,
                Published::One(item(Outcome::Duplicate, "orders", "o-1"))
            );
        }
        assert_eq!(Outcome::Duplicate.status(), "ignored");
        assert!(fx.queued().await.is_empty());
        assert_eq!(fx.depth().await, 1);

        // Within one body: the repeat of a new event is a duplicate of its first occurrence.
        let answer = fx
            .publish(&json!([
                event("orders", "o-2", 1),
                event("orders", "o-2", 1)
            ]))
            .await;
        assert_eq!(
            answer,
            Published::Many(vec![
                item(Outcome::New, "orders", "o-2"),
                item(Outcome::Duplicate, "orders", "o-2"),
            ])
        );
        assert_eq!(ids(&fx.queued().await), [pairs(&[("orders", "o-2")])]);
        assert_eq!(fx.depth().await, 2);
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 3), (DUPLICATES, 3), (PENDING, 2)])
        );
    }

    #[tokio::test]
    async fn the_same_id_with_another_payload_is_a_conflict_not_a_duplicate() {
        let fx = fx();
        assert_eq!(
            fx.publish(&event("orders", "o-1", 1)).await,
            Published::One(item(Outcome::New, "orders", "o-1"))
        );
        assert_eq!(
            fx.publish(&event("orders", "o-1", 2)).await,
            Published::One(item(Outcome::Conflict, "orders", "o-1"))
        );
        assert_eq!(Outcome::Conflict.status(), "conflict");
        // The same id under another topic is another event.
        assert_eq!(
            fx.publish(&event("payments", "o-1", 2)).await,
            Published::One(item(Outcome::New, "payments", "o-1"))
        );
        // Within one body too.
        assert_eq!(
            fx.publish(&json!([event("t", "x", 1), event("t", "x", 2)]))
                .await,
            Published::Many(vec![
                item(Outcome::New, "t", "x"),
                item(Outcome::Conflict, "t", "x"),
            ])
        );
        assert_eq!(
            ids(&fx.queued().await),
            [
                pairs(&[("orders", "o-1")]),
                pairs(&[("payments", "o-1")]),
                pairs(&[("t", "x")]),
            ]
        );
        // The first payload stays the id's.
        let first = model::validate(&event("orders", "o-1", 1)).unwrap();
        assert_eq!(
            fx.claim(&event("orders", "o-1", 2)).await,
            Begin::Conflict {
                existing_hash: first.payload_hash()
            }
        );
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 2), (CONFLICTS, 2), (PENDING, 3)])
        );
    }

    #[tokio::test]
    async fn invalid_events_are_rejected_with_their_field_errors_while_the_valid_ones_go_through() {
        let fx = fx();
        let answer = fx
            .publish(&json!([
                event("t", "a", 1),
                {"topic": "has space", "event_id": "b", "timestamp": "2026-11-22T12:00:00+07:00",
                 "source": "s", "payload": [1]},
                {"topic": "t", "event_id": "c", "timestamp": "yesterday", "source": "s", "payload": {}},
                event("t", "d", 1),
            ]))
            .await;
        assert_eq!(
            answer,
            Published::Many(vec![
                item(Outcome::New, "t", "a"),
                item(
                    Outcome::Rejected(vec![
                        field("topic", "may hold only letters, digits and . _ - : /"),
                        field("payload", "must be a JSON object"),
                    ]),
                    "has space",
                    "b"
                ),
                item(
                    Outcome::Rejected(vec![field(
                        "timestamp",
                        "must be ISO 8601 with a UTC offset, e.g. 2026-11-22T05:00:00Z or 2026-11-22T12:00:00+07:00"
                    )]),
                    "t",
                    "c"
                ),
                item(Outcome::New, "t", "d"),
            ])
        );
        assert_eq!(ids(&fx.queued().await), [pairs(&[("t", "a"), ("t", "d")])]);
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 2), (REJECTED, 2), (PENDING, 2)])
        );
        // A rejected event claims nothing: fixed, it is new.
        assert_eq!(
            fx.publish(&event("t", "c", 1)).await,
            Published::One(item(Outcome::New, "t", "c"))
        );

        // One invalid object: every missing field, the ids as sent.
        assert_eq!(
            fx.publish(&json!({"topic": "t"})).await,
            Published::One(Item {
                outcome: Outcome::Rejected(vec![
                    field("event_id", "is required"),
                    field("source", "is required"),
                    field("timestamp", "is required"),
                    field("payload", "is required"),
                ]),
                topic: Some(json!("t")),
                event_id: None,
            })
        );
        // A body that is no event at all is one received, rejected request; one too large
        // is refused before it is read, and not counted.
        let Published::Invalid(m) = fx.ingest.publish(b"{nope").await else {
            panic!("not JSON")
        };
        assert!(m.starts_with("the body is not valid JSON"), "{m}");
        assert_eq!(
            fx.publish(&json!([])).await,
            Published::Invalid("the batch is empty".into())
        );
        let Published::TooLarge(_) = fx.ingest.publish(&vec![b' '; MAX_BODY_BYTES + 1]).await
        else {
            panic!("too large")
        };
        assert_eq!(ids(&fx.queued().await), [pairs(&[("t", "c")])]);
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 5), (REJECTED, 5), (PENDING, 3)])
        );
    }

    #[tokio::test]
    async fn a_queue_failure_abandons_the_claims_so_a_retry_succeeds() {
        let fx = fx();
        let batch = json!([event("t", "a", 1), event("t", "b", 1), event("t", "a", 1)]);
        fx.queue.down.store(true, Ordering::SeqCst);
        assert_eq!(
            fx.publish(&batch).await,
            Published::Unavailable("the queue is unavailable: Retryable: the queue is down".into())
        );
        assert_eq!(fx.depth().await, 0);
        // Nothing is counted: the publisher retries, and every item is counted then.
        assert_eq!(fx.totals(), counts(&[]));

        // The claims were freed at once: the retry takes them (a held claim would answer
        // `retry`), and queues each event once.
        fx.queue.down.store(false, Ordering::SeqCst);
        assert_eq!(
            fx.publish(&batch).await,
            Published::Many(vec![
                item(Outcome::New, "t", "a"),
                item(Outcome::New, "t", "b"),
                item(Outcome::Duplicate, "t", "a"),
            ])
        );
        assert_eq!(ids(&fx.queued().await), [pairs(&[("t", "a"), ("t", "b")])]);
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 1), (DUPLICATES, 1), (PENDING, 2)])
        );
    }

    #[tokio::test]
    async fn an_id_another_request_holds_is_answered_retry_and_not_counted() {
        let fx = fx();
        let held = event("t", "held", 1);
        assert_eq!(fx.claim(&held).await, Begin::Started);
        let answer = fx
            .publish(&json!([held.clone(), event("t", "free", 1)]))
            .await;
        assert_eq!(
            answer,
            Published::Many(vec![
                item(Outcome::Retry, "t", "held"),
                item(Outcome::New, "t", "free"),
            ])
        );
        assert_eq!(Outcome::Retry.status(), "retry");
        assert_eq!(ids(&fx.queued().await), [pairs(&[("t", "free")])]);
        assert_eq!(fx.totals(), counts(&[(PENDING, 1)]));
        // Once the holder gives up, the publisher's retry stores it.
        let key = model::validate(&held).unwrap().key();
        fx.claims.abandon(&key).await.unwrap();
        assert_eq!(
            fx.publish(&held).await,
            Published::One(item(Outcome::New, "t", "held"))
        );
        assert_eq!(fx.totals(), counts(&[(PENDING, 2)]));
    }

    #[tokio::test]
    async fn a_counting_failure_asks_for_a_retry_which_counts_the_items_as_they_are_by_then() {
        let fx = fx();
        let body = json!([event("t", "a", 1), {"topic": "t"}]);
        fx.counters.down.store(true, Ordering::SeqCst);
        assert_eq!(
            fx.publish(&body).await,
            Published::Unavailable(
                "the database is unavailable: Retryable: the counters are down".into()
            )
        );
        // The new event was queued (durably) before counting: it stays queued.
        assert_eq!(ids(&fx.queued().await), [pairs(&[("t", "a")])]);
        assert_eq!(fx.totals(), counts(&[]));
        // A body that is no event is answered as such even when it cannot be counted.
        let Published::Invalid(_) = fx.ingest.publish(b"{nope").await else {
            panic!("not JSON")
        };

        fx.counters.down.store(false, Ordering::SeqCst);
        let Published::Many(items) = fx.publish(&body).await else {
            panic!("a batch")
        };
        let outcomes: Vec<&str> = items.iter().map(|i| i.outcome.status()).collect();
        assert_eq!(outcomes, ["ignored", "rejected"]);
        assert!(fx.queued().await.is_empty());
        assert_eq!(
            fx.totals(),
            counts(&[(RECEIVED, 2), (DUPLICATES, 1), (REJECTED, 1)])
        );
    }

    #[tokio::test]
    async fn counters_reflect_accepted_duplicates_conflicts_and_rejections() {
        let fx = fx();
        let batch = json!([
            event("t", "a", 1),
            event("t", "b", 1),
            event("t", "a", 1),
            event("t", "b", 2),
            {"topic": "t", "event_id": "c", "timestamp": "yesterday", "source": "s", "payload": {}},
            event("t", "d", 1),
        ]);
        let Published::Many(items) = fx.publish(&batch).await else {
            panic!("a batch")
        };
        let outcomes: Vec<&str> = items.iter().map(|i| i.outcome.status()).collect();
        assert_eq!(
            outcomes,
            [
                "success", "success", "ignored", "conflict", "rejected", "success"
            ]
        );
        assert_eq!(
            fx.totals(),
            counts(&[
                (RECEIVED, 3),
                (DUPLICATES, 1),
                (CONFLICTS, 1),
                (REJECTED, 1),
                (PENDING, 3)
            ])
        );
        // The same body again: the new ones are duplicates now, the rest as before.
        let Published::Many(items) = fx.publish(&batch).await else {
            panic!("a batch")
        };
        let outcomes: Vec<&str> = items.iter().map(|i| i.outcome.status()).collect();
        assert_eq!(
            outcomes,
            [
                "ignored", "ignored", "ignored", "conflict", "rejected", "ignored"
            ]
        );
        assert_eq!(fx.depth().await, 1);
        // received = (queued, counted by the worker as unique) + duplicates + conflicts +
        // rejected, once the worker has stored the pending ones.
        let t = fx.totals();
        assert_eq!(
            t,
            counts(&[
                (RECEIVED, 9),
                (DUPLICATES, 5),
                (CONFLICTS, 2),
                (REJECTED, 2),
                (PENDING, 3)
            ])
        );
        assert_eq!(
            t[RECEIVED] + t[PENDING],
            items.len() as i64 * 2,
            "every item of both bodies"
        );
    }
}
