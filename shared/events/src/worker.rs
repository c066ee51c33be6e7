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
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("starting the worker transaction", e))?;
    let applied = apply_in(&tx, msg).await?;
    tx.commit()
        .await
        .map_err(|e| pg_error("committing the worker transaction", e))?;
    Ok(applied)
}

/// Applies several messages in one transaction (one commit for all); if that fails, each on
/// its own, so one bad message cannot hold back the others. Answers in the same order.
pub async fn apply_all(pool: &Pool, bodies: &[&str]) -> Vec<Result<Applied>> {
    if bodies.len() > 1 {
        match apply_together(pool, bodies).await {
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

async fn apply_together(pool: &Pool, bodies: &[&str]) -> Result<Vec<Applied>> {
    let msgs = bodies
        .iter()
        .map(|b| parse(b))
        .collect::<Result<Vec<_>>>()?;
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("starting the worker transaction", e))?;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        out.push(apply_in(&tx, m).await?);
    }
    tx.commit()
        .await
        .map_err(|e| pg_error("committing the worker transaction", e))?;
    Ok(out)
}

async fn apply_in(tx: &tokio_postgres::Transaction<'_>, mut msg: EventsMessage) -> Result<Applied> {
    // One lock order for every transaction.
    msg.events
        .sort_by(|a, b| (&a.topic, &a.event_id).cmp(&(&b.topic, &b.event_id)));
    let mut ts = Vec::with_capacity(msg.events.len());
    for e in &msg.events {
        ts.push(
            OffsetDateTime::parse(&e.timestamp, &Rfc3339).map_err(|err| {
                Error::with_source(
                    ErrorKind::Invalid,
                    format!("event {}/{} has a bad timestamp", e.topic, e.event_id),
                    err,
                )
            })?,
        );
    }
    let topics: Vec<&str> = msg.events.iter().map(|e| e.topic.as_str()).collect();
    let ids: Vec<&str> = msg.events.iter().map(|e| e.event_id.as_str()).collect();
    let sources: Vec<&str> = msg.events.iter().map(|e| e.source.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = msg.events.iter().map(|e| &e.payload).collect();
    let hashes: Vec<&str> = msg.events.iter().map(|e| e.payload_hash.as_str()).collect();

    let fresh = tx
        .query_opt(
            "INSERT INTO events.applied_message (message_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
            &[&msg.message_id],
        )
        .await
        .map_err(|e| pg_error("recording the message", e))?;
    if fresh.is_none() {
        return Ok(Applied {
            already_applied: true,
            ..Default::default()
        });
    }
    let inserted: Vec<(String, String)> = tx
        .query(
            "INSERT INTO events.event (topic, event_id, ts, source, payload, payload_hash)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[], $6::text[])
             ON CONFLICT (topic, event_id) DO NOTHING
             RETURNING topic, event_id",
            &[&topics, &ids, &ts, &sources, &payloads, &hashes],
        )
        .await
        .map_err(|e| pg_error("storing events", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut applied = Applied {
        stored: inserted.len(),
        ..Default::default()
    };
    if inserted.len() < msg.events.len() {
        // Stored before (an id whose idempotency record had expired, or a publish retried
        // after a crash): the same payload is a duplicate, another payload a conflict.
        let existing: HashMap<(String, String), String> = tx
            .query(
                "SELECT e.topic, e.event_id, e.payload_hash FROM events.event e
                 JOIN unnest($1::text[], $2::text[]) AS k(topic, event_id) USING (topic, event_id)",
                &[&topics, &ids],
            )
            .await
            .map_err(|e| pg_error("reading stored events", e))?
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect();
        for e in &msg.events {
            let key = (e.topic.clone(), e.event_id.clone());
            if inserted.contains(&key) {
                continue;
            }
            match existing.get(&key) {
                Some(h) if *h == e.payload_hash => applied.duplicates += 1,
                _ => applied.conflicts += 1,
            }
        }
    }
    if !inserted.is_empty() {
        let mut per_topic: BTreeMap<&str, (i64, OffsetDateTime)> = BTreeMap::new();
        for (i, e) in msg.events.iter().enumerate() {
            if inserted
                .iter()
                .any(|(t, id)| *t == e.topic && *id == e.event_id)
            {
                let entry = per_topic.entry(e.topic.as_str()).or_insert((0, ts[i]));
                entry.0 += 1;
                entry.1 = entry.1.max(ts[i]);
            }
        }
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
        let stored = i64::try_from(inserted.len()).unwrap_or(i64::MAX);
        let shard = i16::try_from(u16::from(uuid::Uuid::new_v4().as_bytes()[15]) % 16).unwrap_or(0);
        tx.execute(
            "INSERT INTO events.throughput (minute, shard, stored) VALUES (date_trunc('minute', now()), $1, $2)
             ON CONFLICT (minute, shard) DO UPDATE SET stored = events.throughput.stored + excluded.stored",
            &[&shard, &stored],
        )
        .await
        .map_err(|e| pg_error("updating events.throughput", e))?;
    }
    let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
    let mut delta = Delta::default();
    delta.add(RECEIVED, n(msg.events.len()));
    delta.add(UNIQUE, n(applied.stored));
    delta.add(DUPLICATES, n(applied.duplicates));
    delta.add(CONFLICTS, n(applied.conflicts));
    delta.add(PENDING, -n(msg.events.len()));
    counters::add_in(tx, &delta).await?;
    Ok(applied)
}

/// One receive-and-apply round on a queue (the local runtime's loop); returns how many
/// messages were received. Failed messages stay and come back after the visibility timeout.
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

/// Removes applied-message records older than `age` (redeliveries come within minutes).
pub async fn forget_applied(pool: &Pool, age: std::time::Duration) -> Result<u64> {
    let c = pool.get().await.map_err(pool_error)?;
    let secs = age.as_secs_f64();
    c.execute(
        "DELETE FROM events.applied_message WHERE applied_at < now() - ($1::float8 * interval '1 second')",
        &[&secs],
    )
    .await
    .map_err(|e| pg_error("purging events.applied_message", e))
}
