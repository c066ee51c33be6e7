//! The worker: applies queue messages to PostgreSQL. One message, one transaction: the events
//! (the primary key decides what is new), their topics, the counters, and the message's id —
//! so a message redelivered after a crash (stored, not yet deleted) changes nothing.

use crate::counters::{self, CONFLICTS, DUPLICATES, Delta, PENDING, RECEIVED, UNIQUE};
use crate::message::EventsMessage;
use deadpool_postgres::Pool;
use muara_core::ports::Queue;
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What applying one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub stored: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    /// The message had been applied before (a redelivery): nothing changed.
    pub already_applied: bool,
}

fn parse(body: &str) -> Result<EventsMessage> {
    serde_json::from_str(body)
        .map_err(|e| Error::with_source(ErrorKind::Invalid, "not an events queue message", e))
}

/// Applies one message in its own transaction.
pub async fn apply(pool: &Pool, body: &str) -> Result<Applied> {
    let msg = parse(body)?;
    let mut out = apply_tx(pool, vec![msg]).await?;
    out.pop()
        .ok_or_else(|| Error::fatal("no result for the applied message"))
}

/// The events queue's Lambda event: the batch's messages are applied in one transaction when
/// they all go through ([`apply_all`]); a message that fails (database down, a transient
/// conflict) is reported and redelivered by SQS, and one that can never be applied ends in the
/// dead-letter queue after its receives (`muara_core::sqs::handle_all`).
pub async fn on_sqs_event(
    pool: &Pool,
    payload: serde_json::Value,
) -> muara_core::sqs::BatchResponse {
    let (response, applied) =
        muara_core::sqs::handle_all(payload, "events worker", |messages| async move {
            let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
            apply_all(pool, &bodies).await
        })
        .await;
    for (message_id, a) in applied {
        tracing::info!(%message_id, stored = a.stored, duplicates = a.duplicates, conflicts = a.conflicts, already_applied = a.already_applied, "events applied");
    }
    response
}

/// Applies several messages in one transaction (one commit for all); if that fails, each on
/// its own, so one bad message cannot hold back the others. Answers in the same order.
pub async fn apply_all(pool: &Pool, bodies: &[&str]) -> Vec<Result<Applied>> {
    // Now and then (about one round with messages in 256), trim the worker's own bookkeeping.
    if !bodies.is_empty()
        && uuid::Uuid::new_v4().as_bytes()[0] == 0
        && let Err(e) = forget_applied(pool, APPLIED_KEPT).await
    {
        tracing::warn!(error = %e.chain(), "could not trim the worker's bookkeeping");
    }
    if bodies.len() > 1 {
        let together = match bodies.iter().map(|b| parse(b)).collect::<Result<Vec<_>>>() {
            Ok(msgs) => apply_tx(pool, msgs).await,
            Err(e) => Err(e),
        };
        match together {
            Ok(all) => return all.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "applying the messages together failed; one by one");
            }
        }
    }
    let mut out = Vec::with_capacity(bodies.len());
    for b in bodies {
        out.push(apply(pool, b).await);
    }
    out
}

/// One event of the set being applied, with the message it came in.
struct Row<'m> {
    msg: usize,
    event: &'m crate::message::QueuedEvent,
    ts: OffsetDateTime,
}

/// The messages in one transaction, set-based: one statement per table, rows in key order, one
/// counter shard — so concurrent workers take their row locks in the same order and never
/// deadlock on each other.
async fn apply_tx(pool: &Pool, msgs: Vec<EventsMessage>) -> Result<Vec<Applied>> {
    let mut out = vec![Applied::default(); msgs.len()];
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("starting the worker transaction", e))?;
    let ids: Vec<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
    let fresh: std::collections::HashSet<String> = tx
        .query(
            "INSERT INTO events.applied_message (message_id)
             SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING message_id",
            &[&ids],
        )
        .await
        .map_err(|e| pg_error("recording the messages", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        if !fresh.contains(&m.message_id) {
            out[i].already_applied = true;
            continue;
        }
        for e in &m.events {
            let ts = OffsetDateTime::parse(&e.timestamp, &Rfc3339).map_err(|err| {
                Error::with_source(
                    ErrorKind::Invalid,
                    format!("event {}/{} has a bad timestamp", e.topic, e.event_id),
                    err,
                )
            })?;
            rows.push(Row {
                msg: i,
                event: e,
                ts,
            });
        }
    }
    rows.sort_by(|a, b| {
        (&a.event.topic, &a.event.event_id).cmp(&(&b.event.topic, &b.event.event_id))
    });
    if rows.is_empty() {
        tx.commit()
            .await
            .map_err(|e| pg_error("committing the worker transaction", e))?;
        return Ok(out);
    }
    let topics: Vec<&str> = rows.iter().map(|r| r.event.topic.as_str()).collect();
    let event_ids: Vec<&str> = rows.iter().map(|r| r.event.event_id.as_str()).collect();
    let ts: Vec<OffsetDateTime> = rows.iter().map(|r| r.ts).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.event.source.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = rows.iter().map(|r| &r.event.payload).collect();
    let hashes: Vec<&str> = rows.iter().map(|r| r.event.payload_hash.as_str()).collect();
    let mut inserted: std::collections::HashSet<(String, String)> = tx
        .query(
            "INSERT INTO events.event (topic, event_id, ts, source, payload, payload_hash)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[], $6::text[])
             ON CONFLICT (topic, event_id) DO NOTHING
             RETURNING topic, event_id",
            &[&topics, &event_ids, &ts, &sources, &payloads, &hashes],
        )
        .await
        .map_err(|e| pg_error("storing events", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // Events already stored (before, or by another message of this set): the same payload
    // is a duplicate, another payload a conflict.
    let existing: HashMap<(String, String), String> = tx
        .query(
            "SELECT e.topic, e.event_id, e.payload_hash FROM events.event e
             JOIN unnest($1::text[], $2::text[]) AS k(topic, event_id) USING (topic, event_id)",
            &[&topics, &event_ids],
        )
        .await
        .map_err(|e| pg_error("reading stored events", e))?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let mut per_topic: BTreeMap<&str, (i64, OffsetDateTime)> = BTreeMap::new();
    let mut stored_total = 0i64;
    for r in &rows {
        let key = (r.event.topic.clone(), r.event.event_id.clone());
        // The first row of a key that this statement inserted is the stored one.
        if inserted.remove(&key) {
            out[r.msg].stored += 1;
            stored_total += 1;
            let entry = per_topic.entry(r.event.topic.as_str()).or_insert((0, r.ts));
            entry.0 += 1;
            entry.1 = entry.1.max(r.ts);
        } else {
            match existing.get(&key) {
                Some(h) if *h == r.event.payload_hash => out[r.msg].duplicates += 1,
                _ => out[r.msg].conflicts += 1,
            }
        }
    }
    if stored_total > 0 {
        let names: Vec<&str> = per_topic.keys().copied().collect();
        let counts: Vec<i64> = per_topic.values().map(|v| v.0).collect();
        let last: Vec<OffsetDateTime> = per_topic.values().map(|v| v.1).collect();
        tx.execute(
            "INSERT INTO events.topic (topic, events, last_event_at)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
             ON CONFLICT (topic) DO UPDATE
               SET events = events.topic.events + excluded.events,
                   last_event_at = greatest(events.topic.last_event_at, excluded.last_event_at)",
            &[&names, &counts, &last],
        )
        .await
        .map_err(|e| pg_error("updating events.topic", e))?;
        let shard = counters::shard();
        tx.execute(
            "INSERT INTO events.throughput (minute, shard, stored) VALUES (date_trunc('minute', now()), $1, $2)
             ON CONFLICT (minute, shard) DO UPDATE SET stored = events.throughput.stored + excluded.stored",
            &[&shard, &stored_total],
        )
        .await
        .map_err(|e| pg_error("updating events.throughput", e))?;
    }
    let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
    let mut delta = Delta::default();
    delta.add(RECEIVED, n(rows.len()));
    delta.add(UNIQUE, n(out.iter().map(|a| a.stored).sum()));
    delta.add(DUPLICATES, n(out.iter().map(|a| a.duplicates).sum()));
    delta.add(CONFLICTS, n(out.iter().map(|a| a.conflicts).sum()));
    delta.add(PENDING, -n(rows.len()));
    counters::add_in(&tx, &delta).await?;
    tx.commit()
        .await
        .map_err(|e| pg_error("committing the worker transaction", e))?;
    Ok(out)
}

/// One receive-and-apply round on a queue (the local runtime's loop); returns how many
/// messages were received. Failed messages stay and come back after the visibility timeout.
#[tracing::instrument(name = "worker round", skip_all, fields(queue = "events"))]
pub async fn round(pool: &Pool, queue: &dyn Queue, wait: std::time::Duration) -> Result<usize> {
    let msgs = queue.receive(10, wait).await?;
    let bodies: Vec<&str> = msgs.iter().map(|m| m.body.as_str()).collect();
    let results = apply_all(pool, &bodies).await;
    let mut done = Vec::new();
    for (m, r) in msgs.iter().zip(results) {
        match r {
            Ok(a) => {
                tracing::debug!(message_id = %m.id, ?a, "events applied");
                done.push(m.receipt.clone());
            }
            Err(e) => {
                tracing::error!(message_id = %m.id, receive_count = m.receive_count, error = %e.chain(), "events message failed; it will be redelivered");
            }
        }
    }
    queue.delete_batch(&done).await?;
    Ok(msgs.len())
}

/// How long a message's id is remembered: far longer than any redelivery (SQS keeps a message
/// four days at most).
pub const APPLIED_KEPT: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// Removes applied-message records older than `age`, and per-minute throughput rows older than
/// a day; returns how many rows went.
pub async fn forget_applied(pool: &Pool, age: std::time::Duration) -> Result<u64> {
    let c = pool.get().await.map_err(pool_error)?;
    let secs = age.as_secs_f64();
    let a = c
        .execute(
            "DELETE FROM events.applied_message WHERE applied_at < now() - ($1::float8 * interval '1 second')",
            &[&secs],
        )
        .await
        .map_err(|e| pg_error("purging events.applied_message", e))?;
    let b = c
        .execute(
            "DELETE FROM events.throughput WHERE minute < now() - interval '1 day'",
            &[],
        )
        .await
        .map_err(|e| pg_error("purging events.throughput", e))?;
    Ok(a + b)
}
