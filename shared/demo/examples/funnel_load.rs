#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]
//! Load for `POST /webhook/{channel}` (bench/funnel/run.sh): N generic-JSON messages, one per
//! request, distinct message ids, over a pool of phones written in the Indonesian notations,
//! texts mixing openings, bookings, transactions (with amounts) and chatter like the demo day;
//! the channel in the path rotates over the demo's channels. Prints one JSON object: rate,
//! per-request latency, what the answers said, and what the worker and the report must show
//! for these messages.
//!
//!   funnel_load --url http://127.0.0.1:8080 --messages 20000 --phones 3000 --concurrency 16 \
//!       --run bench1 --day 2026-11-21 [--phone-base 0] [--seed 1]
//!   funnel_load --keywords     the demo keyword set as a `PUT /keywords` body

use futures::stream::{self, StreamExt as _};
use muara_core::lcg::Lcg;
use muara_demo::funnel::{BOOKINGS, CHANNELS, CHATTER, OPENINGS, amount_text, written};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct Lead {
    opening: bool,
    booking: bool,
    transaction: bool,
    revenue: i64,
}

struct Args {
    url: String,
    messages: usize,
    phones: u64,
    concurrency: usize,
    run: String,
    day: time::Date,
    phone_base: u64,
    seed: u64,
}

fn args() -> Option<Args> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        messages: 20_000,
        phones: 3_000,
        concurrency: 16,
        run: "bench".into(),
        day: time::OffsetDateTime::now_utc().date(),
        phone_base: 0,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keywords" {
            let body = json!({"keywords": muara_demo::funnel::keywords(), "source": "bench"});
            println!("{body}");
            return None;
        }
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|_| panic!("{flag} {v}")) };
        match flag.as_str() {
            "--url" => a.url = v,
            "--messages" => a.messages = num(&v) as usize,
            "--phones" => a.phones = num(&v).max(1),
            "--concurrency" => a.concurrency = (num(&v) as usize).max(1),
            "--run" => a.run = v,
            "--day" => {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                a.day = time::Date::parse(&v, fmt).expect("--day YYYY-MM-DD");
            }
            "--phone-base" => a.phone_base = num(&v),
            "--seed" => a.seed = num(&v),
            other => panic!("unknown flag {other}"),
        }
    }
    Some(a)
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<f64>,
    accepted: u64,
    duplicates: u64,
    resent: u64,
    failed: Option<String>,
}

/// Posts one message until it has an answer other than "retry" (503 or no connection).
async fn post(url: &str, channel: &str, body: &str) -> Outcome {
    let mut o = Outcome::default();
    let path = format!("/webhook/{channel}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut attempt = 0u64;
    loop {
        if attempt > 0 {
            o.resent += 1;
            tokio::time::sleep(Duration::from_millis((50 * attempt).min(1000))).await;
        }
        attempt += 1;
        let started = Instant::now();
        let r = muara_api::client::send(
            url,
            "POST",
            &path,
            "application/json",
            "",
            body,
            Duration::from_secs(60),
        )
        .await;
        match r {
            Ok((status, answer)) => {
                o.latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                if status == 503 && Instant::now() < deadline {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                if status == 200 {
                    o.accepted += v["accepted"].as_u64().unwrap_or(0);
                    o.duplicates += v["duplicates"].as_u64().unwrap_or(0);
                    if v["accepted"].as_u64() != Some(1) {
                        o.failed = Some(format!("{path} answered {answer}"));
                    }
                } else {
                    o.failed = Some(format!("{path} answered {status}: {answer}"));
                }
                return o;
            }
            Err(e) if e.is_retryable() && Instant::now() < deadline => continue,
            Err(e) => {
                o.failed = Some(format!("{path}: {}", e.chain()));
                return o;
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() {
    let Some(a) = args() else { return };
    let mut rng = Lcg(a.seed);
    let wib = time::UtcOffset::from_hms(7, 0, 0).expect("WIB");
    let start = a.day.midnight().assume_offset(wib) + time::Duration::hours(8);
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut leads: BTreeMap<u64, Lead> = BTreeMap::new();
    let mut calls: Vec<(&str, String)> = Vec::with_capacity(a.messages);
    for k in 0..a.messages {
        let channel = CHANNELS[k % CHANNELS.len()];
        let p = rng.next(a.phones);
        let national = format!("812{:08}", 10_000_000 + a.phone_base + p);
        let phone = written(&national, rng.next(4));
        let at = start + time::Duration::seconds(rng.next(13 * 3600) as i64);
        let lead = leads.entry(p).or_default();
        let text = match rng.next(100) {
            0..45 => {
                lead.opening = true;
                *kinds.entry("opening").or_default() += 1;
                OPENINGS[rng.next(OPENINGS.len() as u64) as usize].to_string()
            }
            45..65 => {
                lead.booking = true;
                *kinds.entry("booking").or_default() += 1;
                BOOKINGS[rng.next(BOOKINGS.len() as u64) as usize].to_string()
            }
            65..75 => {
                let (text, value) = amount_text(&mut rng);
                lead.transaction = true;
                lead.revenue += value;
                *kinds.entry("transaction").or_default() += 1;
                text
            }
            _ => {
                *kinds.entry("unclassified").or_default() += 1;
                CHATTER[rng.next(CHATTER.len() as u64) as usize].to_string()
            }
        };
        let body = json!({
            "message_id": format!("{}-{k:06}", a.run),
            "phone": phone,
            "text": text,
            "timestamp": at.unix_timestamp(),
            "campaign": format!("{channel}-bench"),
        });
        calls.push((channel, body.to_string()));
    }
    // What GET /funnel-report must show for the day: rows with an opening are leads.
    let opened = leads.values().filter(|l| l.opening);
    let (mut n_leads, mut bookings, mut transactions, mut revenue) = (0, 0, 0, 0i64);
    for l in opened {
        n_leads += 1;
        bookings += u64::from(l.booking);
        transactions += u64::from(l.transaction);
        revenue += l.revenue;
    }

    let url = a.url.clone();
    let first_post = epoch();
    let started = Instant::now();
    let outcomes: Vec<Outcome> = stream::iter(calls)
        .map(|(channel, body)| {
            let url = url.clone();
            async move { post(&url, channel, &body).await }
        })
        .buffer_unordered(a.concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let last_answer = epoch();

    let mut latencies = Vec::with_capacity(outcomes.len());
    let (mut accepted, mut duplicates, mut resent) = (0, 0, 0);
    let mut problems: Vec<String> = Vec::new();
    let mut failed = 0u64;
    for o in outcomes {
        latencies.extend(o.latencies);
        accepted += o.accepted;
        duplicates += o.duplicates;
        resent += o.resent;
        if let Some(f) = o.failed {
            failed += 1;
            if problems.len() < 3 {
                problems.push(f);
            }
        }
    }
    if failed > 0 {
        problems.push(format!("{failed} request(s) not accepted"));
    }
    if accepted != a.messages as u64 {
        problems.push(format!("{accepted} accepted of {} sent", a.messages));
    }
    latencies.sort_by(f64::total_cmp);
    let out = json!({
        "run": a.run,
        "messages": a.messages,
        "distinct_phones": leads.len(),
        "requests": latencies.len(),
        "accepted": accepted,
        "duplicates": duplicates,
        "resent": resent,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "requests_per_second": (a.messages as f64 / seconds).round() as u64,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p90": percentile(&latencies, 0.90),
            "p99": percentile(&latencies, 0.99),
            "max": percentile(&latencies, 1.0),
        },
        "first_post_epoch": first_post,
        "last_answer_epoch": last_answer,
        "day": a.day.to_string(),
        "expected": {
            "kinds": kinds,
            "report": {"leads": n_leads, "bookings": bookings, "transactions": transactions, "revenue": revenue},
        },
        "problems": problems,
    });
    println!("{out}");
}
