//! `GET /stats` and `GET /events`: sums of the counter shards and small tables (never a scan
//! of the events), and keyset pagination, newest first.

use crate::counters::{self, CONFLICTS, DUPLICATES, PENDING, RECEIVED, REJECTED, UNIQUE};
use base64::Engine as _;
use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub received: i64,
    pub unique_processed: i64,
    pub duplicate_dropped: i64,
    pub topics_active: i64,
    pub uptime_seconds: u64,
    pub rejected: i64,
    pub conflicts: i64,
    /// Approximate: the API adds after queueing, the worker subtracts when storing.
    pub pending: i64,
    pub throughput: Throughput,
}

/// Events stored recently (from the per-minute table, never a scan of the events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub stored_last_2_minutes: i64,
    pub stored_last_5_minutes: i64,
    pub stored_per_second_5_minutes: f64,
}

/// One stored event as `GET /events` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub topic: String,
    pub event_id: String,
    /// RFC 3339.
    pub timestamp: String,
    pub source: String,
    pub payload: Value,
    /// RFC 3339.
    pub received_at: String,
}

/// A page of `GET /events`, newest first; `next_cursor` is `null` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}

pub async fn stats(pool: &Pool, uptime_seconds: u64) -> Result<Stats> {
    let totals = counters::totals(pool).await?;
    let get = |k: &str| totals.get(k).copied().unwrap_or(0);
    let c = pool.get().await.map_err(pool_error)?;
    let topics: i64 = c
        .query_one("SELECT count(*) FROM events.topic", &[])
        .await
        .map_err(|e| pg_error("counting topics", e))?
        .get(0);
    let row = c
        .query_one(
            "SELECT coalesce(sum(stored) FILTER (WHERE minute >= date_trunc('minute', now()) - interval '1 minute'), 0)::bigint,
                    coalesce(sum(stored), 0)::bigint
             FROM events.throughput WHERE minute >= date_trunc('minute', now()) - interval '5 minutes'",
            &[],
        )
        .await
        .map_err(|e| pg_error("reading events.throughput", e))?;
    let (last_minutes, last_five): (i64, i64) = (row.get(0), row.get(1));
    Ok(Stats {
        received: get(RECEIVED),
        unique_processed: get(UNIQUE),
        duplicate_dropped: get(DUPLICATES),
        topics_active: topics,
        uptime_seconds,
        rejected: get(REJECTED),
        conflicts: get(CONFLICTS),
        pending: get(PENDING).max(0),
        throughput: Throughput {
            stored_last_2_minutes: last_minutes,
            stored_last_5_minutes: last_five,
            stored_per_second_5_minutes: (last_five as f64 / 300.0 * 10.0).round() / 10.0,
        },
    })
}

/// The position after an event, for the next page.
fn cursor_of(ts: OffsetDateTime, topic: &str, id: &str) -> String {
    let t = ts.format(&Rfc3339).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!([t, topic, id])).unwrap_or_default())
}

fn parse_cursor(c: &str) -> Result<(OffsetDateTime, String, String)> {
    let bad = || Error::invalid("cursor is not one this API returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let v: (String, String, String) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let ts = OffsetDateTime::parse(&v.0, &Rfc3339).map_err(|_| bad())?;
    Ok((ts, v.1, v.2))
}

pub async fn events(
    pool: &Pool,
    topic: Option<&str>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<EventPage> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = cursor.map(parse_cursor).transpose()?;
    let (ts, t, id) = match &after {
        Some((ts, t, id)) => (Some(*ts), Some(t.as_str()), Some(id.as_str())),
        None => (None, None, None),
    };
    let c = pool.get().await.map_err(pool_error)?;
    // Fetch one more than asked to know whether a next page exists.
    let rows = c
        .query(
            "SELECT topic, event_id, ts, source, payload, received_at FROM events.event
             WHERE ($1::text IS NULL OR topic = $1)
               AND ($2::timestamptz IS NULL OR (ts, topic, event_id) < ($2, $3::text, $4::text))
             ORDER BY ts DESC, topic DESC, event_id DESC
             LIMIT $5",
            &[&topic, &ts, &t, &id, &(limit + 1)],
        )
        .await
        .map_err(|e| pg_error("reading events", e))?;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(0))];
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let events = page
        .iter()
        .map(|r| StoredEvent {
            topic: r.get(0),
            event_id: r.get(1),
            timestamp: fmt(r.get(2)),
            source: r.get(3),
            payload: r.get(4),
            received_at: fmt(r.get(5)),
        })
        .collect();
    let next = match (more, page.last()) {
        (true, Some(r)) => Some(cursor_of(
            r.get(2),
            &r.get::<_, String>(0),
            &r.get::<_, String>(1),
        )),
        _ => None,
    };
    Ok(EventPage {
        events,
        next_cursor: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let ts = OffsetDateTime::parse("2026-11-22T05:00:00.123456Z", &Rfc3339).unwrap();
        let c = cursor_of(ts, "orders", "e-1");
        assert_eq!(
            parse_cursor(&c).unwrap(),
            (ts, "orders".into(), "e-1".into())
        );
        assert!(parse_cursor("not a cursor").is_err());
        assert!(parse_cursor("W10").is_err());
    }
}
