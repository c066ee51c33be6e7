//! `muara publish-sim`: a load generator for `POST /publish` that knows exactly what it sent —
//! N events over M topics with a chosen share of repeats — and afterwards checks `GET /stats`
//! against it.

use muara_core::lcg::Lcg;
use muara_core::{Error, Result};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The platform's API, `http://host:port`.
    pub url: String,
    /// A bearer token with the operator role (`POST /publish`).
    pub token: Option<String>,
    pub events: usize,
    pub topics: usize,
    /// Share of the events that repeat an earlier one (same id, same payload), 0.0–0.9.
    pub duplicate_rate: f64,
    /// Events per request; 1 sends single event objects.
    pub batch_size: usize,
    /// Requests in flight.
    pub concurrency: usize,
    pub seed: u64,
    /// How long to wait for the worker to store everything before checking.
    pub settle: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub events: usize,
    pub unique_events: usize,
    pub requests: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub latency_ms: Latency,
    /// What the answers said.
    pub accepted: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub rejected: u64,
    /// Items sent again after a `retry` or `503` answer, or after no (or a cut-off) answer.
    pub resent: u64,
    /// Events never acknowledged before the deadline (the server stayed away): not counted
    /// as sent anywhere above.
    pub undelivered: u64,
    /// `GET /stats` after minus before.
    pub stats_delta: Value,
    /// Seconds from the last answer until everything was stored.
    pub settle_seconds: f64,
    /// Empty when the stats add up to what was sent.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The events to send, in send order: `unique` distinct ones and repeats of them.
fn plan(cfg: &SimConfig, run: &str) -> (Vec<Value>, usize) {
    let rate = cfg.duplicate_rate.clamp(0.0, 0.9);
    let unique = ((cfg.events as f64) * (1.0 - rate)).round() as usize;
    let unique = unique.clamp(usize::from(cfg.events > 0), cfg.events);
    let mut r = Lcg(cfg.seed.wrapping_add(1));
    let topics = cfg.topics.max(1);
    let make = |k: usize| {
        json!({
            "topic": format!("sim.topic-{}", k % topics),
            "event_id": format!("{run}-{k}"),
            "timestamp": "2026-11-22T05:00:00Z",
            "source": "publish-sim",
            "payload": {"k": k, "amount": (k * 37) % 1000, "note": "simulated"},
        })
    };
    let mut out: Vec<Value> = (0..unique).map(make).collect();
    for _ in unique..cfg.events {
        out.push(make(r.next(unique as u64) as usize));
    }
    // Shuffle (Fisher–Yates): repeats land anywhere, also in the same request.
    for i in (1..out.len()).rev() {
        out.swap(i, r.next(i as u64 + 1) as usize);
    }
    (out, unique)
}

async fn get_stats(url: &str, auth: &str) -> Result<Value> {
    let (status, body) = muara_api::client::send(
        url,
        "GET",
        "/stats",
        "application/json",
        auth,
        "",
        Duration::from_secs(30),
    )
    .await?;
    if status != 200 {
        return Err(Error::retryable(format!(
            "GET /stats answered {status}: {body}"
        )));
    }
    serde_json::from_str(&body).map_err(|e| {
        Error::with_source(muara_core::ErrorKind::Invalid, "GET /stats is not JSON", e)
    })
}

#[derive(Debug, Default)]
struct Tally {
    accepted: u64,
    duplicates: u64,
    conflicts: u64,
    rejected: u64,
    resent: u64,
    undelivered: u64,
    latencies: Vec<f64>,
}

/// Sends one request's events until every one has an answer other than `retry`, or the
/// deadline passes (what is left then is reported undelivered).
async fn send(url: &str, auth: &str, items: Vec<Value>, single: bool) -> Result<Tally> {
    let mut t = Tally::default();
    let mut left = items;
    // A publisher keeps retrying what was not acknowledged (a database restart, an id another
    // request holds), with backoff, for up to two minutes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut attempt: u64 = 0;
    while !left.is_empty() && Instant::now() < deadline {
        if attempt > 0 {
            t.resent += left.len() as u64;
            tokio::time::sleep(Duration::from_millis((50 * attempt).min(1000))).await;
        }
        attempt += 1;
        let body = if single && left.len() == 1 {
            left[0].to_string()
        } else {
            Value::Array(left.clone()).to_string()
        };
        let started = Instant::now();
        let (status, answer) = match muara_api::client::send(
            url,
            "POST",
            "/publish",
            "application/json",
            auth,
            &body,
            Duration::from_secs(60),
        )
        .await
        {
            Ok(a) => a,
            // No answer, or one cut off (a server that died mid-answer): nothing is known to be
            // acknowledged, send again.
            Err(e) if e.is_retryable() => {
                tracing::debug!(error = %e.chain(), "no whole answer; sending again");
                continue;
            }
            Err(e) => return Err(e),
        };
        t.latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let v: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        match status {
            503 => continue, // not acknowledged: send the same items again
            200 | 409 | 422 if single && left.len() == 1 => {
                match v["status"].as_str() {
                    Some("success") => t.accepted += 1,
                    Some("ignored") => t.duplicates += 1,
                    Some("conflict") => t.conflicts += 1,
                    Some("rejected") => t.rejected += 1,
                    // Not an answer about this event (an unreadable body): send it again.
                    _ => continue,
                }
                left.clear();
            }
            200 => {
                let results = v["results"].as_array().cloned().unwrap_or_default();
                if results.len() != left.len() {
                    // Not an answer for these events (an unreadable body): none is known to
                    // be acknowledged, send them again.
                    continue;
                }
                let mut again = Vec::new();
                for (i, r) in results.iter().enumerate() {
                    match r["status"].as_str() {
                        Some("success") => t.accepted += 1,
                        Some("ignored") => t.duplicates += 1,
                        Some("conflict") => t.conflicts += 1,
                        Some("retry") => {
                            if let Some(item) = left.get(i) {
                                again.push(item.clone());
                            }
                        }
                        _ => t.rejected += 1,
                    }
                }
                left = again;
            }
            other => {
                return Err(Error::invalid(format!(
                    "POST /publish answered {other}: {answer}"
                )));
            }
        }
    }
    if !left.is_empty() {
        tracing::warn!(
            events = left.len(),
            attempts = attempt,
            "events still unacknowledged after two minutes"
        );
        t.undelivered = left.len() as u64;
    }
    Ok(t)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

pub async fn run(cfg: &SimConfig) -> Result<SimReport> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let (events, unique) = plan(cfg, &run);
    let auth = muara_api::client::bearer(cfg.token.as_deref());
    let before = get_stats(&cfg.url, &auth).await?;
    let single = cfg.batch_size <= 1;
    let chunks: Vec<Vec<Value>> = events
        .chunks(cfg.batch_size.max(1))
        .map(<[Value]>::to_vec)
        .collect();
    let requests = chunks.len();
    let url = Arc::new(cfg.url.clone());
    let started = Instant::now();
    use futures::stream::{self, StreamExt as _};
    let results: Vec<Result<Tally>> = stream::iter(chunks)
        .map(|c| {
            let (url, auth) = (url.clone(), auth.clone());
            async move { send(&url, &auth, c, single).await }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut total = Tally::default();
    for r in results {
        let t = r?;
        total.accepted += t.accepted;
        total.duplicates += t.duplicates;
        total.conflicts += t.conflicts;
        total.rejected += t.rejected;
        total.resent += t.resent;
        total.undelivered += t.undelivered;
        total.latencies.extend(t.latencies);
    }
    total.latencies.sort_by(f64::total_cmp);

    // Wait for the worker: nothing pending and everything sent stored.
    let settle_started = Instant::now();
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let mut after = get_stats(&cfg.url, &auth).await?;
    while settle_started.elapsed() < cfg.settle
        && (n(&after, "pending") > 0
            || n(&after, "unique_processed") - n(&before, "unique_processed") < unique as i64)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = get_stats(&cfg.url, &auth).await?;
    }
    let settle_seconds = settle_started.elapsed().as_secs_f64();
    let keys = [
        "received",
        "unique_processed",
        "duplicate_dropped",
        "conflicts",
        "rejected",
    ];
    let delta: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!(n(&after, k) - n(&before, k))))
        .collect();
    let d = |k: &str| delta.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut problems = Vec::new();
    if total.undelivered > 0 {
        problems.push(format!(
            "{} events were never acknowledged (the server did not answer them within two minutes)",
            total.undelivered
        ));
    }
    if d("unique_processed") != unique as i64 {
        problems.push(format!(
            "stored {} new events, sent {unique} distinct ones",
            d("unique_processed")
        ));
    }
    if d("received")
        != d("unique_processed") + d("duplicate_dropped") + d("conflicts") + d("rejected")
    {
        problems.push(format!("received does not add up: {delta:?}"));
    }
    if d("received") < cfg.events as i64 {
        problems.push(format!(
            "received {} of the {} events sent",
            d("received"),
            cfg.events
        ));
    }
    if d("conflicts") != 0 || d("rejected") != 0 {
        problems.push(format!("unexpected conflicts or rejections: {delta:?}"));
    }
    if n(&after, "pending") != 0 {
        problems.push(format!(
            "{} events still pending after {:.0} s",
            n(&after, "pending"),
            cfg.settle.as_secs_f64()
        ));
    }
    Ok(SimReport {
        events: cfg.events,
        unique_events: unique,
        requests,
        seconds: (seconds * 1000.0).round() / 1000.0,
        events_per_second: (cfg.events as f64 / seconds.max(1e-9)).round(),
        latency_ms: Latency {
            p50: percentile(&total.latencies, 0.50),
            p90: percentile(&total.latencies, 0.90),
            p99: percentile(&total.latencies, 0.99),
            max: percentile(&total.latencies, 1.0),
        },
        accepted: total.accepted,
        duplicates: total.duplicates,
        conflicts: total.conflicts,
        rejected: total.rejected,
        resent: total.resent,
        undelivered: total.undelivered,
        stats_delta: Value::Object(delta),
        settle_seconds: (settle_seconds * 1000.0).round() / 1000.0,
        problems,
    })
}

impl SimReport {
    /// The report as an operator reads it.
    pub fn render(&self) -> String {
        format!(
            "sent        {} events ({} distinct, {} repeats) in {} requests, {:.2} s\n\
             throughput  {} events/s\n\
             latency     p50 {} ms, p90 {} ms, p99 {} ms, max {} ms (per request)\n\
             answers     {} accepted, {} duplicates, {} conflicts, {} rejected, {} resent, {} undelivered\n\
             stats       {} (after minus before; stored within {:.2} s)\n\
             check       {}",
            self.events,
            self.unique_events,
            self.events - self.unique_events,
            self.requests,
            self.seconds,
            self.events_per_second,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.accepted,
            self.duplicates,
            self.conflicts,
            self.rejected,
            self.resent,
            self.undelivered,
            self.stats_delta,
            self.settle_seconds,
            if self.problems.is_empty() {
                "OK: every distinct event stored once, and the stats add up".to_string()
            } else {
                format!("FAILED: {}", self.problems.join("; "))
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_exactly_the_asked_share_of_repeats() {
        let cfg = SimConfig {
            url: String::new(),
            token: None,
            events: 20_000,
            topics: 10,
            duplicate_rate: 0.3,
            batch_size: 100,
            concurrency: 8,
            seed: 7,
            settle: Duration::from_secs(1),
        };
        let (events, unique) = plan(&cfg, "run");
        assert_eq!(events.len(), 20_000);
        assert_eq!(unique, 14_000);
        let mut ids: Vec<&str> = events
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 14_000);
        let (again, _) = plan(&cfg, "run");
        assert_eq!(events, again, "the same seed, the same load");
    }
}
