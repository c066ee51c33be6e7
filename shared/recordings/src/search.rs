//! The read side: `GET /recordings?from=&to=&agent=&number=&direction=&limit=`.

use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// The most rows one search returns.
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
    /// Agent id or name, exact (case-insensitive).
    pub agent: Option<String>,
    /// A phone number in any notation: matches caller or callee by digits.
    pub number: Option<String>,
    pub direction: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub call_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: i64,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub extension: Option<String>,
    pub caller: Option<String>,
    pub callee: Option<String>,
    pub direction: String,
    pub queue: Option<String>,
    pub audio_key: String,
    pub audio_size: i64,
    pub codec: String,
    pub audio_ms: i64,
}

/// Newest first.
pub async fn search(pool: &Pool, f: &Filter) -> Result<Vec<Row>> {
    let limit = f.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!("limit must be 1..={MAX_LIMIT}")));
    }
    let direction = match f.direction.as_deref() {
        None | Some("") => None,
        Some(d) => Some(
            crate::model::Direction::parse(d)
                .ok_or_else(|| Error::invalid(format!("unknown direction {d:?}")))?
                .as_str(),
        ),
    };
    let digits = match f.number.as_deref() {
        None | Some("") => None,
        Some(n) => {
            let d: String = n.chars().filter(char::is_ascii_digit).collect();
            if d.is_empty() {
                return Err(Error::invalid(format!("number {n:?} has no digits")));
            }
            Some(d)
        }
    };
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT call_id, started_at, duration_ms, agent_id, agent_name, extension, caller, callee,
                    direction, queue, audio_key, audio_size, codec, audio_ms
               FROM recordings.recording
              WHERE ($1::timestamptz IS NULL OR started_at >= $1)
                AND ($2::timestamptz IS NULL OR started_at < $2)
                AND ($3::text IS NULL OR lower(agent_id) = lower($3) OR lower(agent_name) = lower($3))
                AND ($4::text IS NULL OR caller_digits = $4 OR callee_digits = $4)
                AND ($5::text IS NULL OR direction = $5)
              ORDER BY started_at DESC, call_id DESC
              LIMIT $6",
            &[&f.from, &f.to, &f.agent, &digits, &direction, &limit],
        )
        .await
        .map_err(|e| pg_error("searching recordings", e))?;
    Ok(rows
        .iter()
        .map(|r| Row {
            call_id: r.get(0),
            started_at: r.get(1),
            duration_ms: r.get(2),
            agent_id: r.get(3),
            agent_name: r.get(4),
            extension: r.get(5),
            caller: r.get(6),
            callee: r.get(7),
            direction: r.get(8),
            queue: r.get(9),
            audio_key: r.get(10),
            audio_size: r.get(11),
            codec: r.get(12),
            audio_ms: r.get(13),
        })
        .collect())
}

/// One page of [`search`] results, as `GET /recordings` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingPage {
    /// How many recordings the page holds.
    pub count: usize,
    /// Newest first.
    pub recordings: Vec<Row>,
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// One day of [`DailyCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The day (`2026-11-22`), in the database's time zone.
    #[serde(with = "iso_date")]
    pub day: Date,
    /// Recordings indexed that day.
    pub migrated: i64,
    /// Files the agents reported failing that day plus sidecars the indexer refused.
    pub failed: i64,
}

/// Recordings indexed and files that failed per day, as `GET /recordings/daily` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyCounts {
    /// Oldest first, today last.
    pub days: Vec<DayCount>,
}

/// The search as its routes (`crate::http`) serve it.
#[derive(Debug, Clone)]
pub struct Service {
    pub pool: Pool,
}

impl Service {
    /// Recordings indexed and files that failed, per day, for the last `days` days (today
    /// included), oldest first; none when `days` is below 1.
    pub async fn daily(&self, days: i64) -> Result<DailyCounts> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let days = i32::try_from(days).map_err(|_| Error::invalid("days out of range"))?;
        // Migrated: recordings indexed that day. Failed: files the agents reported failing
        // plus sidecars the indexer refused.
        let rows = c
            .query(
                "WITH span AS (SELECT generate_series(current_date - ($1::int - 1), current_date, '1 day')::date AS day)
                 SELECT s.day,
                        (SELECT count(*) FROM recordings.recording r
                          WHERE r.indexed_at >= s.day AND r.indexed_at < s.day + 1),
                        (SELECT coalesce(sum(a.failures), 0)::bigint FROM recordings.agent_run a
                          WHERE a.finished_at >= s.day AND a.finished_at < s.day + 1)
                      + (SELECT count(*) FROM recordings.index_error e
                          WHERE e.at >= s.day AND e.at < s.day + 1)
                   FROM span s ORDER BY s.day",
                &[&days],
            )
            .await
            .map_err(|e| pg_error("reading recordings per day", e))?;
        Ok(DailyCounts {
            days: rows
                .iter()
                .map(|r| DayCount {
                    day: r.get(0),
                    migrated: r.get(1),
                    failed: r.get(2),
                })
                .collect(),
        })
    }

    /// Recordings matching the query parameters, newest first.
    pub async fn search(
        &self,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<RecordingPage> {
        let time = |name: &str| -> Result<Option<OffsetDateTime>> {
            match params.get(name).map(String::as_str) {
                None | Some("") => Ok(None),
                Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                    Error::invalid(format!(
                        "{name}={v:?} is not a date (2026-11-22) or an RFC 3339 time"
                    ))
                }),
            }
        };
        let known = ["from", "to", "agent", "number", "direction", "limit"];
        if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::invalid(format!(
                "unknown parameter {k:?}; use {}",
                known.join(", ")
            )));
        }
        let limit = match params.get("limit") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| Error::invalid(format!("limit={v:?} is not a number")))?,
            ),
        };
        let filter = Filter {
            from: time("from")?,
            to: time("to")?,
            agent: params.get("agent").cloned().filter(|s| !s.is_empty()),
            number: params.get("number").cloned(),
            direction: params.get("direction").cloned(),
            limit,
        };
        let recordings = search(&self.pool, &filter).await?;
        Ok(RecordingPage {
            count: recordings.len(),
            recordings,
        })
    }
}

/// An RFC 3339 time, or a date (`2026-11-22`, midnight UTC).
fn parse_time(v: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t);
    }
    let d = time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_count_is_a_date_string_and_two_numbers() {
        let counts = DailyCounts {
            days: vec![DayCount {
                day: time::macros::date!(2026 - 11 - 02),
                migrated: 17,
                failed: 0,
            }],
        };
        assert_eq!(
            serde_json::to_value(&counts).ok(),
            Some(serde_json::json!({"days": [{"day": "2026-11-02", "migrated": 17, "failed": 0}]}))
        );
    }
}
