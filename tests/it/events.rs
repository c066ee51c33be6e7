//! Pipeline C through the real HTTP router: publish, the queue, the worker, stats, events —
//! each case against the local adapters (PostgreSQL queue and idempotency records) and the
//! emulator's SQS and DynamoDB, over a real PostgreSQL.

use axum::body::Body;
use axum::http::Request;
use muara_core::metrics::Metrics;
use muara_core::ports::{IdempotencyStore, Queue};
use muara_events::ingest::Ingest;
use muara_testkit::postgres;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

struct Fx {
    app: axum::Router,
    pool: muara_db::Pool,
    queue: Arc<dyn Queue>,
    token: String,
}

async fn fx_from(
    pool: muara_db::Pool,
    queue: Arc<dyn Queue>,
    idem: Arc<dyn IdempotencyStore>,
) -> anyhow::Result<Fx> {
    let mut state = muara_api::AppState::new("local", Arc::new(Metrics::new()));
    let counters = Arc::new(muara_events::counters::PgCounters::new(pool.clone()));
    let routes = muara_events::http::routes(Arc::new(muara_events::Service::new(
        Ingest::new(idem, queue.clone(), counters),
        pool.clone(),
    )));
    let token = crate::support::with_admin(&mut state, &pool).await?;
    Ok(Fx {
        app: muara_api::app(state, routes),
        pool,
        queue,
        token,
    })
}

async fn local() -> anyhow::Result<Fx> {
    let pool = postgres().await?.fresh_pool().await?;
    let (queue, claims) = crate::support::local_queue_and_claims(&pool, "events").await?;
    fx_from(pool, queue, claims).await
}

async fn aws() -> anyhow::Result<Fx> {
    let (queue, claims) = crate::support::aws_queue_and_claims("events").await?;
    fx_from(postgres().await?.fresh_pool().await?, queue, claims).await
}

async fn call(fx: &Fx, method: &str, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
    let res = fx
        .app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", fx.token))
                .body(Body::from(body))?,
        )
        .await?;
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 8 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn publish(fx: &Fx, body: &Value) -> anyhow::Result<(u16, Value)> {
    call(fx, "POST", "/publish", body.to_string().into_bytes()).await
}

async fn stats(fx: &Fx) -> anyhow::Result<Value> {
    let (status, v) = call(fx, "GET", "/stats", vec![]).await?;
    anyhow::ensure!(status == 200, "stats: {status} {v}");
    Ok(v)
}

/// Runs the worker until the queue is empty.
async fn drain(fx: &Fx) -> anyhow::Result<()> {
    let mut idle = 0;
    while idle < 2 {
        let n =
            muara_events::worker::round(&fx.pool, fx.queue.as_ref(), Duration::from_millis(200))
                .await?;
        idle = if n == 0 { idle + 1 } else { 0 };
    }
    Ok(())
}

fn event(topic: &str, id: &str, n: i64) -> Value {
    json!({"topic": topic, "event_id": id, "timestamp": "2026-11-22T12:00:00+07:00",
           "source": "test", "payload": {"n": n}})
}

/// How many events are stored.
async fn stored_events(fx: &Fx) -> anyhow::Result<i64> {
    Ok(fx
        .pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM events.event", &[])
        .await?
        .get(0))
}

/// `received = unique_processed + duplicate_dropped + conflicts + rejected`, nothing pending.
fn adds_up(s: &Value) {
    let n = |k: &str| s[k].as_i64().unwrap_or(-1);
    assert_eq!(s["pending"], 0, "{s}");
    assert_eq!(
        n("received"),
        n("unique_processed") + n("duplicate_dropped") + n("conflicts") + n("rejected"),
        "{s}"
    );
}

macro_rules! on_both {
    ($($case:ident),+ $(,)?) => {
        mod local_pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::local().await?).await
                }
            )+
        }
        mod aws_sqs_dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::aws().await?).await
                }
            )+
        }
    };
}

on_both!(
    a_single_event_is_stored_once_and_its_repeats_answered,
    a_batch_answers_per_event_with_counts,
    bad_bodies_get_clear_errors_and_are_counted,
    overlapping_publishers_store_each_event_exactly_once,
    a_message_redelivered_after_storing_changes_nothing,
    events_page_newest_first_without_gaps_or_repeats,
);

async fn a_single_event_is_stored_once_and_its_repeats_answered(fx: Fx) -> anyhow::Result<()> {
    let e = event("orders", "o-1", 1);
    let (status, body) = publish(&fx, &e).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "topic": "orders", "event_id": "o-1"})
    );
    let (status, body) = publish(&fx, &e).await?;
    assert_eq!((status, body["status"].clone()), (200, json!("ignored")));
    // The same id with another payload: a conflict, reported and counted, the first kept.
    let (status, body) = publish(&fx, &event("orders", "o-1", 2)).await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["status"], "conflict");
    // The same id under another topic is another event.
    let (status, _) = publish(&fx, &event("payments", "o-1", 1)).await?;
    assert_eq!(status, 200);
    drain(&fx).await?;
    let s = stats(&fx).await?;
    assert_eq!(s["received"], 4, "{s}");
    assert_eq!(s["unique_processed"], 2, "{s}");
    assert_eq!(s["duplicate_dropped"], 1, "{s}");
    assert_eq!(s["conflicts"], 1, "{s}");
    assert_eq!(s["topics_active"], 2, "{s}");
    adds_up(&s);
    let (_, page) = call(&fx, "GET", "/events?topic=orders", vec![]).await?;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["events"][0]["payload"], json!({"n": 1}));
    assert_eq!(page["events"][0]["timestamp"], "2026-11-22T05:00:00Z");
    Ok(())
}

async fn a_batch_answers_per_event_with_counts(fx: Fx) -> anyhow::Result<()> {
    let batch = json!([
        event("t", "a", 1),
        event("t", "b", 1),
        event("t", "a", 1),                                   // repeated in the batch
        event("t", "b", 2),                                   // same id, other payload
        {"topic": "t", "event_id": "c", "timestamp": "yesterday", "source": "s", "payload": {}},
        event("t", "d", 1),
    ]);
    let (status, body) = publish(&fx, &batch).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3, "{body}");
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["conflicts"], 1);
    assert_eq!(body["rejected"][0]["index"], 4);
    assert!(
        body["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("timestamp"),
        "{body}"
    );
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "success", "success", "ignored", "conflict", "rejected", "success"
        ]
    );
    // The {"events": [...]} form, repeating stored events: all duplicates.
    let (status, body) = publish(
        &fx,
        &json!({"events": [event("t", "a", 1), event("t", "d", 1)]}),
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(0), json!(2))
    );
    drain(&fx).await?;
    let s = stats(&fx).await?;
    assert_eq!(s["unique_processed"], 3, "{s}");
    assert_eq!(s["received"], 8, "{s}");
    adds_up(&s);
    Ok(())
}

async fn bad_bodies_get_clear_errors_and_are_counted(fx: Fx) -> anyhow::Result<()> {
    for (body, status, needle) in [
        (json!({"topic": "t"}).to_string().into_bytes(), 422, "event_id"),
        (
            json!({"topic": "t", "event_id": "x", "timestamp": "2026-11-22T12:00:00", "source": "s", "payload": {}})
                .to_string()
                .into_bytes(),
            422,
            "offset",
        ),
        (
            json!({"topic": "t", "event_id": "x", "timestamp": "2026-11-22T12:00:00Z", "source": "s", "payload": "text"})
                .to_string()
                .into_bytes(),
            422,
            "payload",
        ),
        (b"[]".to_vec(), 422, "empty"),
        (b"{\"topic\": \"\xff\"}".to_vec(), 422, "UTF-8"),
        (b"{not json".to_vec(), 422, "JSON"),
        (
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            422,
            "JSON",
        ),
        (
            serde_json::to_vec(&vec![event("t", "x", 1); 1001])?,
            413,
            "at most 1000",
        ),
        (vec![b' '; (1 << 20) + 10], 413, "larger than"),
    ] {
        let (got, answer) = call(&fx, "POST", "/publish", body).await?;
        assert_eq!(got, status, "{answer}");
        assert!(answer.to_string().contains(needle), "{needle:?} in {answer}");
    }
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let mut e = event("t", "deep", 1);
    e["payload"] = deep;
    let (status, body) = publish(&fx, &e).await?;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("deeper")
    );
    drain(&fx).await?;
    let s = stats(&fx).await?;
    assert_eq!(s["unique_processed"], 0);
    adds_up(&s);
    Ok(())
}

async fn overlapping_publishers_store_each_event_exactly_once(fx: Fx) -> anyhow::Result<()> {
    // 8 publishers, 150 events each, drawn from 300 ids: heavy overlap, same payloads.
    let fx = Arc::new(fx);
    let mut tasks = Vec::new();
    for p in 0..8u64 {
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut x = p * 7919 + 1;
            for chunk in 0..5 {
                let batch: Vec<Value> = (0..30)
                    .map(|_| {
                        x = (x * 1_103_515_245 + 12345) % 2_147_483_648;
                        let id = x % 300;
                        event("load", &format!("id-{id}"), i64::try_from(id).unwrap_or(0))
                    })
                    .collect();
                let (status, body) = publish(&fx, &json!(batch)).await?;
                anyhow::ensure!(status == 200, "chunk {chunk}: {status} {body}");
                let retry = body
                    .get("retry")
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                anyhow::ensure!(
                    retry == 0,
                    "no publisher waits past the in-progress wait: {body}"
                );
                sent.extend(
                    batch
                        .iter()
                        .map(|e| e["event_id"].as_str().unwrap_or("").to_string()),
                );
            }
            anyhow::Ok(sent)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    drain(&fx).await?;
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    let stored = stored_events(&fx).await?;
    assert_eq!(stored as usize, distinct.len());
    let s = stats(&fx).await?;
    assert_eq!(s["received"].as_i64(), Some(all.len() as i64), "{s}");
    assert_eq!(
        s["unique_processed"].as_i64(),
        Some(distinct.len() as i64),
        "{s}"
    );
    assert_eq!(
        s["duplicate_dropped"].as_i64(),
        Some((all.len() - distinct.len()) as i64),
        "{s}"
    );
    adds_up(&s);
    Ok(())
}

async fn a_message_redelivered_after_storing_changes_nothing(fx: Fx) -> anyhow::Result<()> {
    let batch: Vec<Value> = (0..20).map(|i| event("t", &format!("e{i}"), i)).collect();
    let (status, _) = publish(&fx, &json!(batch)).await?;
    assert_eq!(status, 200);
    // A worker stores the messages and dies before deleting them …
    let msgs = fx.queue.receive(10, Duration::from_secs(2)).await?;
    assert!(!msgs.is_empty());
    for m in &msgs {
        muara_events::worker::apply(&fx.pool, &m.body).await?;
    }
    let before = stats(&fx).await?;
    // … so they come back (as after the visibility timeout) and the next worker applies them.
    for m in &msgs {
        fx.queue
            .change_visibility(&m.receipt, Duration::ZERO)
            .await?;
    }
    drain(&fx).await?;
    let after = stats(&fx).await?;
    assert_eq!(before["unique_processed"], after["unique_processed"]);
    assert_eq!(after["unique_processed"], 20, "{after}");
    assert_eq!(after["duplicate_dropped"], 0, "{after}");
    adds_up(&after);
    assert_eq!(fx.queue.depth().await?, 0);
    // The worker's memory of applied messages is trimmed by age.
    assert!(muara_events::worker::forget_applied(&fx.pool, Duration::ZERO).await? >= 1);
    Ok(())
}

async fn events_page_newest_first_without_gaps_or_repeats(fx: Fx) -> anyhow::Result<()> {
    let batch: Vec<Value> = (0..25)
        .map(|i| {
            json!({"topic": if i % 2 == 0 { "even" } else { "odd" }, "event_id": format!("e{i:02}"),
                   "timestamp": format!("2026-11-22T10:{i:02}:00Z"), "source": "s", "payload": {"i": i}})
        })
        .collect();
    publish(&fx, &json!(batch)).await?;
    drain(&fx).await?;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/events?limit=10&cursor={c}"),
            None => "/events?limit=10".to_string(),
        };
        let (status, page) = call(&fx, "GET", &path, vec![]).await?;
        assert_eq!(status, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            seen.push(e["event_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("e{i:02}")).collect();
    assert_eq!(seen, expected);
    let (_, odd) = call(&fx, "GET", "/events?topic=odd&limit=100", vec![]).await?;
    assert_eq!(odd["events"].as_array().map(Vec::len), Some(12));
    for bad in [
        "/events?limit=0",
        "/events?limit=5000",
        "/events?cursor=zzz",
        "/events?limit=x",
    ] {
        let (status, _) = call(&fx, "GET", bad, vec![]).await?;
        assert_eq!(status, 422, "{bad}");
    }
    Ok(())
}

/// Eight publishers, 200-event batches drawn from overlapping ids (30 % repeats, shuffled), no
/// fault: no request is refused (503), no claim is left behind, and a publisher that resends
/// its `retry` items ends with every event stored once and the stats exact. (On the PostgreSQL
/// idempotency store: claims and completions lock their rows in key order, so concurrent
/// publishers cannot deadlock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overlapping_batch_publishers_never_deadlock() -> anyhow::Result<()> {
    const PUBLISHERS: usize = 8;
    const BATCHES: usize = 13;
    const SIZE: usize = 200;
    let total = PUBLISHERS * BATCHES * SIZE;
    let distinct = total * 7 / 10;
    let fx = Arc::new(local().await?);
    let mut rng = muara_core::lcg::Lcg(42);
    let mut ids: Vec<usize> = (0..distinct).collect();
    for _ in distinct..total {
        ids.push(usize::try_from(rng.next(distinct as u64))?);
    }
    for i in (1..ids.len()).rev() {
        ids.swap(i, usize::try_from(rng.next(i as u64 + 1))?);
    }
    let plans: Vec<Vec<usize>> = (0..PUBLISHERS)
        .map(|p| ids[p * BATCHES * SIZE..(p + 1) * BATCHES * SIZE].to_vec())
        .collect();
    let mut retried = publish_all(&fx, plans).await?;
    // Then, with the claims table as large as in production and its statistics known (the
    // planner then reads many keys in physical order), every publisher sends the same ids, each
    // in its own order: the most overlap, and lock-order disagreement, there can be.
    const SHARED: usize = 600;
    fx.pool
        .get()
        .await?
        .batch_execute("ANALYZE muara_local.idempotency")
        .await?;
    let plans: Vec<Vec<usize>> = (0..PUBLISHERS)
        .map(|_| {
            let mut shared: Vec<usize> = (distinct..distinct + SHARED).collect();
            for i in (1..shared.len()).rev() {
                shared.swap(i, usize::try_from(rng.next(i as u64 + 1)).unwrap_or(0));
            }
            shared
        })
        .collect();
    retried += publish_all(&fx, plans).await?;
    drain(&fx).await?;
    let (total, distinct) = (total + PUBLISHERS * SHARED, distinct + SHARED);
    let stored = stored_events(&fx).await?;
    assert_eq!(
        stored as usize, distinct,
        "every distinct event stored once"
    );
    let deadlocks: i64 = fx
        .pool
        .get()
        .await?
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(deadlocks, 0, "PostgreSQL saw no deadlock");
    let s = stats(&fx).await?;
    assert_eq!(
        s["received"].as_i64(),
        Some(total as i64),
        "{s} ({retried} resent)"
    );
    assert_eq!(s["unique_processed"].as_i64(), Some(distinct as i64), "{s}");
    assert_eq!(
        s["duplicate_dropped"].as_i64(),
        Some((total - distinct) as i64),
        "{s}"
    );
    adds_up(&s);
    Ok(())
}

/// Runs one publisher per plan concurrently, each sending its ids in batches of 200 and
/// resending what is answered `retry`; returns how many items were resent.
async fn publish_all(fx: &Arc<Fx>, plans: Vec<Vec<usize>>) -> anyhow::Result<usize> {
    let mut tasks = Vec::new();
    for mine in plans {
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut retried = 0usize;
            for chunk in mine.chunks(200) {
                let mut left: Vec<Value> = chunk
                    .iter()
                    .map(|id| event("load", &format!("id-{id}"), i64::try_from(*id).unwrap_or(0)))
                    .collect();
                // Resend `retry` items; a claim left behind would keep answering retry for its
                // whole lifetime (30 s), past this deadline.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while !left.is_empty() {
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "{} events still answered retry after 20 s",
                        left.len()
                    );
                    let (status, body) = publish(&fx, &json!(left)).await?;
                    anyhow::ensure!(status == 200, "no request is refused: {status} {body}");
                    let again: Vec<Value> = body["retry"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .filter_map(|i| i.as_u64().and_then(|i| left.get(i as usize)))
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default();
                    retried += again.len();
                    left = again;
                }
            }
            anyhow::Ok(retried)
        }));
    }
    let mut retried = 0;
    for t in tasks {
        retried += t.await??;
    }
    Ok(retried)
}

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes) from `s`.
async fn read_request(s: &mut tokio::net::TcpStream) -> anyhow::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(buf);
            }
        }
        let n = s.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the client closed before its request ended");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A server that dies mid-answer: `muara publish-sim` treats the cut-off answer as no answer,
/// sends those events again, and in the end every event is stored once and the stats add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publish_sim_sends_again_what_a_dying_server_cut_off() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let fx = Arc::new(local().await?);
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let backend_addr = backend.local_addr()?;
    let app = fx.app.clone();
    tokio::spawn(async move { axum::serve(backend, app).await });
    // In front of it, a proxy that, of every six publishes, drops one before the server sees it
    // (hangs up without a word) and lets another be handled but passes on only half of the
    // answer and hangs up.
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", front.local_addr()?);
    let publishes = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicUsize::new(0));
    let (p2, c2) = (publishes.clone(), cut.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = front.accept().await {
            let (publishes, cut) = (p2.clone(), c2.clone());
            tokio::spawn(async move {
                let request = read_request(&mut client).await?;
                let publish = request.starts_with(b"POST /publish");
                let n = if publish {
                    publishes.fetch_add(1, Ordering::SeqCst)
                } else {
                    0
                };
                if publish && n % 6 == 5 {
                    cut.fetch_add(1, Ordering::SeqCst);
                    client.shutdown().await?;
                    return anyhow::Ok(());
                }
                let mut server = tokio::net::TcpStream::connect(backend_addr).await?;
                server.write_all(&request).await?;
                let mut answer = Vec::new();
                server.read_to_end(&mut answer).await?;
                if publish && n % 6 == 2 {
                    cut.fetch_add(1, Ordering::SeqCst);
                    answer.truncate(answer.len() / 2);
                }
                client.write_all(&answer).await?;
                client.shutdown().await?;
                anyhow::Ok(())
            });
        }
    });
    // The worker stores what is queued while the simulator runs.
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (fx, stop) = (fx.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                muara_events::worker::round(
                    &fx.pool,
                    fx.queue.as_ref(),
                    Duration::from_millis(100),
                )
                .await?;
            }
            anyhow::Ok(())
        })
    };
    let report = muara_demo::sim::run(&muara_demo::sim::SimConfig {
        url,
        token: Some(fx.token.clone()),
        events: 1500,
        topics: 3,
        duplicate_rate: 0.3,
        batch_size: 50,
        concurrency: 4,
        seed: 7,
        settle: Duration::from_secs(60),
    })
    .await?;
    stop.store(true, Ordering::SeqCst);
    worker.await??;
    assert!(cut.load(Ordering::SeqCst) >= 5, "answers were cut off");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.undelivered, 0);
    assert!(
        report.resent >= 50,
        "the cut-off requests were sent again: {}",
        report.resent
    );
    let stored = stored_events(&fx).await?;
    assert_eq!(stored as usize, report.unique_events);
    adds_up(&stats(&fx).await?);
    Ok(())
}

/// The worker Lambda's SQS event: the messages are applied together and only a message that
/// could not be applied is reported (it comes back, then the dead-letter queue); a redelivered
/// message is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_lambda_reports_only_the_messages_it_could_not_apply() -> anyhow::Result<()> {
    use muara_events::message::{EventsMessage, QueuedEvent};
    let pool = postgres().await?.fresh_pool().await?;
    let event = |id: &str| muara_events::model::Event {
        topic: "orders".into(),
        event_id: id.into(),
        timestamp: time::OffsetDateTime::UNIX_EPOCH,
        source: "test".into(),
        payload: serde_json::Map::new(),
    };
    let queued: Vec<QueuedEvent> = ["e-1", "e-2", "e-3"]
        .iter()
        .map(|id| {
            let e = event(id);
            QueuedEvent::from_event(&e, e.payload_hash())
        })
        .collect();
    let body = EventsMessage {
        message_id: "msg-1".into(),
        events: queued,
    }
    .to_json();
    let payload = json!({"Records": [
        {"messageId": "m-events", "body": body},
        {"messageId": "m-garbage", "body": "not an events message"},
    ]});
    for _ in 0..2 {
        let out = muara_events::worker::on_sqs_event(&pool, payload.clone()).await;
        let failed = out.failed_ids();
        assert_eq!(failed, ["m-garbage"]);
    }
    let n: i64 = pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM events.event", &[])
        .await?
        .get(0);
    assert_eq!(n, 3, "applied once, though delivered twice");
    Ok(())
}
