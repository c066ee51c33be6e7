//! Pipeline D through the real HTTP router: webhook (signatures, WhatsApp and generic bodies,
//! bad input), the raw archive, the queue, the worker, the funnel rows, the report and the CSV
//! export — against the local adapters and against moto's S3, SQS and DynamoDB, over a real
//! PostgreSQL; and the funnel row's order independence, randomised.

use axum::body::Body;
use axum::http::Request;
use muara_core::metrics::Metrics;
use muara_core::ports::{IdempotencyStore, ObjectStore, Queue};
use muara_funnel::classify::{Keyword, Kind};
use muara_testkit::{postgres, unique};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"whatsapp-app-secret";

struct Fx {
    app: axum::Router,
    pool: muara_db::Pool,
    queue: Arc<dyn Queue>,
    store: Arc<dyn ObjectStore>,
    worker: Arc<muara_funnel::worker::Worker>,
    idem: Arc<dyn IdempotencyStore>,
    token: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fx {
    async fn idem_begin(&self, key: &str, hash: &str) -> anyhow::Result<muara_core::ports::Begin> {
        Ok(self.idem.begin(key, hash, Duration::from_secs(60)).await?)
    }
}

fn keywords() -> Vec<Keyword> {
    let k = |kind, w: &str| Keyword {
        kind,
        keyword: w.into(),
        channel: None,
    };
    vec![
        k(Kind::Opening, "info"),
        k(Kind::Opening, "halo"),
        k(Kind::Opening, "tanya"),
        k(Kind::Booking, "booking"),
        k(Kind::Booking, "pesan"),
        k(Kind::Transaction, "transfer"),
        k(Kind::Transaction, "bayar"),
    ]
}

async fn fx_from(
    pool: muara_db::Pool,
    queue: Arc<dyn Queue>,
    idem: Arc<dyn IdempotencyStore>,
    store: Arc<dyn ObjectStore>,
    dir: Option<tempfile::TempDir>,
) -> anyhow::Result<Fx> {
    muara_funnel::service::replace_keywords(&pool, &keywords(), "test").await?;
    let metrics = Arc::new(Metrics::new());
    let observe = muara_funnel::observe::Observe::local(metrics.clone());
    // The same wiring as the hosts'.
    let settings = muara_funnel::wire::Settings {
        secret: Some(SECRET.to_vec()),
        verify_token: Some("verify-me".into()),
        timezone: "Asia/Jakarta".into(),
        keywords_ttl: Duration::from_secs(0),
        observe,
        sheet_url: None,
    };
    let funnel = muara_funnel::wire::wire(
        muara_funnel::wire::Ports {
            store: store.clone(),
            queue: queue.clone(),
            idempotency: idem.clone(),
            pool: pool.clone(),
        },
        &settings,
    );
    let mut state = muara_api::AppState::new("local", metrics.clone());
    let token = crate::support::with_admin(&mut state, &pool).await?;
    let worker = funnel.worker.clone();
    Ok(Fx {
        app: muara_api::app(state, funnel.routes()),
        pool,
        queue,
        store,
        worker,
        idem,
        token,
        _dir: dir,
    })
}

async fn local() -> anyhow::Result<Fx> {
    let pool = postgres().await?.fresh_pool().await?;
    let (queue, claims) = crate::support::local_queue_and_claims(&pool, "funnel").await?;
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    fx_from(pool, queue, claims, Arc::new(store), Some(dir)).await
}

async fn aws() -> anyhow::Result<Fx> {
    let (queue, claims) = crate::support::aws_queue_and_claims("funnel").await?;
    let s3 = muara_aws::s3_client(&crate::support::aws().await?);
    let bucket = unique("muara-funnel");
    s3.create_bucket().bucket(&bucket).send().await?;
    fx_from(
        postgres().await?.fresh_pool().await?,
        queue,
        claims,
        Arc::new(muara_aws::s3::S3Store::new(s3, bucket)),
        None,
    )
    .await
}

async fn call(
    fx: &Fx,
    method: &str,
    path: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", fx.token));
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    let res = fx.app.clone().oneshot(req.body(Body::from(body))?).await?;
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20).await?;
    Ok((status, bytes.to_vec()))
}

async fn post(fx: &Fx, channel: &str, body: &str) -> anyhow::Result<(u16, Value)> {
    let sig = muara_funnel::webhook::sign(SECRET, body.as_bytes());
    let (status, bytes) = call(
        fx,
        "POST",
        &format!("/webhook/{channel}"),
        body.as_bytes().to_vec(),
        Some(sig),
    )
    .await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn drain(fx: &Fx) -> anyhow::Result<()> {
    let mut idle = 0;
    while idle < 2 {
        let n =
            muara_funnel::worker::round(&fx.worker, fx.queue.as_ref(), Duration::from_millis(200))
                .await?;
        idle = if n == 0 { idle + 1 } else { 0 };
    }
    Ok(())
}

fn wa(id: &str, from: &str, ts: i64, text: &str) -> String {
    wa_to("1", id, from, ts, text)
}

/// A WhatsApp webhook for one text message to business number `number`.
fn wa_to(number: &str, id: &str, from: &str, ts: i64, text: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": number},
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": from}],
        "messages": [{"from": from, "id": id, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}]
    }}]}]})
    .to_string()
}

async fn lead(fx: &Fx, phone: &str) -> anyhow::Result<Option<tokio_postgres::Row>> {
    Ok(fx
        .pool
        .get()
        .await?
        .query_opt(
            "SELECT channel, last_channel, leads_date, booking_date, transaction_date, transaction_value, transaction_count, messages
               FROM funnel.lead WHERE phone = $1",
            &[&phone],
        )
        .await?)
}

crate::support::contract!(
    [
        a_lead_books_and_transacts_through_the_webhook,
        bad_bodies_are_kept_counted_and_refused_clearly,
        equal_ids_from_different_sources_are_different_messages,
        a_message_another_delivery_holds_is_answered_retry_not_duplicate,
        every_kept_message_is_stored_refused_or_queued_again,
    ],
    local_pg => local,
    aws_s3_sqs_dynamodb => aws,
);

async fn a_lead_books_and_transacts_through_the_webhook(fx: &Fx) -> anyhow::Result<()> {
    let t0 = 1_795_320_000; // 2026-11-22 04:00 UTC, 11:00 WIB
    // Out of order: the transfer arrives first, the opening last; one message twice.
    let (s, v) = post(
        fx,
        "whatsapp",
        &wa(
            "wamid.3",
            "6281234567890",
            t0 + 7200,
            "Sudah transfer Rp 1.500.000 ya kak",
        ),
    )
    .await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(1)), "{v}");
    post(
        fx,
        "whatsapp",
        &wa(
            "wamid.2",
            "6281234567890",
            t0 + 3600,
            "Mau booking untuk besok",
        ),
    )
    .await?;
    let (_, v) = post(
        fx,
        "whatsapp",
        &wa(
            "wamid.2",
            "6281234567890",
            t0 + 3600,
            "Mau booking untuk besok",
        ),
    )
    .await?;
    assert_eq!(
        (v["accepted"].as_i64(), v["duplicates"].as_i64()),
        (Some(0), Some(1)),
        "{v}"
    );
    // A generic message from the ads channel: the same person, written the Indonesian way.
    let generic =
        json!([{"message_id": "ads-1", "phone": "0812-3456-7890", "text": "Halo, info promo dong",
                          "timestamp": t0, "campaign": "nov-promo"}])
        .to_string();
    let (s, v) = post(fx, "ads", &generic).await?;
    assert_eq!(s, 200, "{v}");
    post(
        fx,
        "whatsapp",
        &wa("wamid.1", "6281234567890", t0 + 60, "halo kak, mau tanya"),
    )
    .await?;
    drain(fx).await?;
    // A redelivered queue message changes nothing.
    let row = lead(fx, "+6281234567890").await?.expect("one funnel row");
    let (channel, last): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(channel.as_deref(), Some("ads"), "first touch");
    assert_eq!(last.as_deref(), Some("whatsapp"), "last touch");
    let leads: Option<time::OffsetDateTime> = row.get(2);
    assert_eq!(leads.map(|t| t.unix_timestamp()), Some(t0));
    let booked: Option<time::OffsetDateTime> = row.get(3);
    assert_eq!(booked.map(|t| t.unix_timestamp()), Some(t0 + 3600));
    let (value, count, messages): (i64, i32, i32) = (row.get(5), row.get(6), row.get(7));
    assert_eq!((value, count, messages), (1_500_000, 1, 4));
    // Raw bodies are in the lake under their day and message id.
    assert!(
        fx.store
            .head("raw-messages/2026/11/22/whatsapp/1/wamid.3.json")
            .await?
            .is_some()
    );

    // The report and the export.
    let (s, body) = call(
        fx,
        "GET",
        "/funnel-report?from=2026-11-22&to=2026-11-23",
        vec![],
        None,
    )
    .await?;
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["leads"], 1, "{v}");
    assert_eq!(v["total"]["revenue"], 1_500_000, "{v}");
    assert_eq!(v["days"][0]["day"], "2026-11-22", "{v}");
    assert_eq!(v["channels"][0]["channel"], "ads", "{v}");
    assert_eq!(v["total"]["lead_to_transaction"], 1.0, "{v}");
    let (s, csv) = call(
        fx,
        "GET",
        "/funnel-report.csv?from=2026-11-22&to=2026-11-23",
        vec![],
        None,
    )
    .await?;
    assert_eq!(s, 200);
    let csv = String::from_utf8(csv)?;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("phone,leads_date,channel"), "{csv}");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with("+6281234567890,2026-11-22 11:00:00,ads,whatsapp,2026-11-22 12:00:00"),
        "{csv}"
    );
    let (s, _) = call(
        fx,
        "GET",
        "/funnel-report?from=2026-11-23&to=2026-11-22",
        vec![],
        None,
    )
    .await?;
    assert_eq!(s, 422);
    Ok(())
}

/// Rows of `funnel.message` as `(channel, source, message_id, phone)`, sorted.
async fn stored(fx: &Fx) -> anyhow::Result<Vec<(String, String, String, String)>> {
    Ok(fx
        .pool
        .get()
        .await?
        .query(
            "SELECT channel, source, message_id, phone FROM funnel.message ORDER BY 1, 2, 3",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}

async fn equal_ids_from_different_sources_are_different_messages(fx: &Fx) -> anyhow::Result<()> {
    let t0 = 1_795_320_000;
    let generic = |phone: &str, text: &str| {
        json!({"message_id": "1", "phone": phone, "text": text, "timestamp": t0}).to_string()
    };
    let (s, v) = post(fx, "chan-a", &generic("081234567890", "halo, info dong")).await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(1)), "{v}");
    let (s, v) = post(fx, "chan-b", &generic("081299990000", "mau booking")).await?;
    assert_eq!(
        (s, v["accepted"].as_i64(), v["duplicates"].as_i64()),
        (200, Some(1), Some(0)),
        "the same id on another channel is another message: {v}"
    );
    // One WhatsApp id seen by two business numbers.
    for number in ["111", "222"] {
        let body = wa_to(number, "wamid.same", "6281200000001", t0, "halo");
        let (s, v) = post(fx, "whatsapp", &body).await?;
        assert_eq!((s, v["accepted"].as_i64()), (200, Some(1)), "{v}");
    }
    // A true repeat is still a duplicate.
    let (s, v) = post(fx, "chan-a", &generic("081234567890", "halo, info dong")).await?;
    assert_eq!((s, v["duplicates"].as_i64()), (200, Some(1)), "{v}");
    drain(fx).await?;
    assert_eq!(
        stored(fx).await?,
        vec![
            (
                "chan-a".into(),
                "".into(),
                "1".into(),
                "+6281234567890".into()
            ),
            (
                "chan-b".into(),
                "".into(),
                "1".into(),
                "+6281299990000".into()
            ),
            (
                "whatsapp".into(),
                "111".into(),
                "wamid.same".into(),
                "+6281200000001".into()
            ),
            (
                "whatsapp".into(),
                "222".into(),
                "wamid.same".into(),
                "+6281200000001".into()
            ),
        ]
    );
    // Each keeps its own raw body.
    for key in [
        "raw-messages/2026/11/22/chan-a/1.json",
        "raw-messages/2026/11/22/chan-b/1.json",
        "raw-messages/2026/11/22/whatsapp/111/wamid.same.json",
        "raw-messages/2026/11/22/whatsapp/222/wamid.same.json",
    ] {
        assert!(fx.store.head(key).await?.is_some(), "{key}");
    }
    let chan_b = String::from_utf8(
        fx.store
            .get("raw-messages/2026/11/22/chan-b/1.json")
            .await?
            .to_vec(),
    )?;
    assert!(chan_b.contains("mau booking"), "{chan_b}");
    // The same id with other content on the same channel is refused with a reason, and kept.
    let (s, v) = post(fx, "chan-a", &generic("081234567890", "something else")).await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["accepted"], 0, "{v}");
    assert_eq!(v["rejected"][0]["message_id"], "1", "{v}");
    let n: i64 = fx
        .pool
        .get()
        .await?
        .query_one(
            "SELECT count(*) FROM funnel.rejected WHERE stage = 'conflict' AND message_id = '1' AND raw_key LIKE 'raw-messages/conflict/%'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(n, 1);
    Ok(())
}

async fn a_message_another_delivery_holds_is_answered_retry_not_duplicate(
    fx: &Fx,
) -> anyhow::Result<()> {
    let body = wa("wamid.held", "6281234500000", 1_795_320_000, "halo kak");
    // Another delivery claimed the message and has not finished (e.g. it lost the database
    // before it could queue or release it).
    let msg = match muara_funnel::webhook::parse(body.as_bytes(), "whatsapp") {
        Ok(muara_funnel::webhook::Body::Messages { messages, .. }) => messages[0].clone(),
        other => anyhow::bail!("{other:?}"),
    };
    let key = muara_funnel::ingest::claim_key(&msg);
    let hash = muara_funnel::ingest::claim_hash(&msg);
    let started = fx.idem_begin(&key, &hash).await?;
    assert!(matches!(started, muara_core::ports::Begin::Started));
    let (s, v) = post(fx, "whatsapp", &body).await?;
    assert_eq!(s, 503, "not known to be stored: the sender must retry: {v}");
    assert_eq!(
        (v["status"].as_str(), v["in_progress"].as_i64()),
        (Some("retry"), Some(1)),
        "{v}"
    );
    // The holder gives up; the retry is the one that stores it.
    fx.idem.abandon(&key).await?;
    let (s, v) = post(fx, "whatsapp", &body).await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(1)), "{v}");
    drain(fx).await?;
    assert_eq!(stored(fx).await?.len(), 1);
    Ok(())
}

async fn bad_bodies_are_kept_counted_and_refused_clearly(fx: &Fx) -> anyhow::Result<()> {
    let body = wa("wamid.x", "6281", 1_795_320_000, "halo");
    let (s, _) = call(
        fx,
        "POST",
        "/webhook/whatsapp",
        body.clone().into_bytes(),
        Some("sha256=00".into()),
    )
    .await?;
    assert_eq!(s, 401);
    let (s, _) = call(fx, "POST", "/webhook/whatsapp", body.into_bytes(), None).await?;
    assert_eq!(s, 401, "unsigned with a secret configured");
    let (s, v) = post(fx, "whatsapp", "{not json").await?;
    assert_eq!(s, 400, "{v}");
    let kept = v["kept"].as_str().unwrap_or_default().to_string();
    assert!(
        fx.store.head(&kept).await?.is_some(),
        "invalid bodies are kept raw: {v}"
    );
    let (s, v) = post(fx, "whatsapp", r#"{"hello": "world"}"#).await?;
    assert_eq!((s, v["status"].as_str()), (202, Some("kept")), "{v}");
    let statuses = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"read"}]}}]}]}"#;
    let (s, v) = post(fx, "whatsapp", statuses).await?;
    assert_eq!(
        (s, v["statuses"].as_i64(), v["accepted"].as_i64()),
        (200, Some(1), Some(0)),
        "{v}"
    );
    // A number that cannot be normalised, and a transfer whose amount cannot be read.
    let generic = json!([
        {"message_id": "g-bad-phone", "phone": "not a phone", "text": "halo", "timestamp": 1_795_320_000},
        {"message_id": "g-bad-amount", "phone": "081299990000", "text": "sudah transfer Rp 1.5.00,0", "timestamp": 1_795_320_000},
        {"phone": "0812", "text": "no id", "timestamp": 1}
    ]).to_string();
    let (s, v) = post(fx, "website", &generic).await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(2)), "{v}");
    assert_eq!(v["rejected"][0]["reason"], "message_id is missing", "{v}");
    let (s, _) = post(fx, "Not-A-Channel", "{}").await?;
    assert_eq!(s, 404);
    drain(fx).await?;
    let row = lead(fx, "+6281299990000")
        .await?
        .expect("the transaction still counts");
    let (value, count): (i64, i32) = (row.get(5), row.get(6));
    assert_eq!((value, count), (0, 1));
    let c = fx.pool.get().await?;
    let stages: Vec<String> = c
        .query("SELECT stage FROM funnel.rejected ORDER BY stage", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        stages,
        [
            "amount",
            "message",
            "phone",
            "rejected",
            "unknown",
            "unreadable"
        ]
    );
    let counters = muara_funnel::store::counters(&fx.pool).await?;
    assert_eq!(counters.get("bad_signature"), Some(&2), "{counters:?}");
    assert_eq!(counters.get("statuses"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("acked"), Some(&2), "{counters:?}");
    // WhatsApp's verification GET.
    let (s, b) = call(
        fx,
        "GET",
        "/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
        vec![],
        None,
    )
    .await?;
    assert_eq!((s, String::from_utf8(b)?), (200, "1158201444".to_string()));
    let (s, _) = call(
        fx,
        "GET",
        "/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        vec![],
        None,
    )
    .await?;
    assert_eq!(s, 403);
    Ok(())
}

/// Randomised: the same messages applied in many orders, with repeats, give the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_rows_do_not_depend_on_arrival_order_or_repeats() -> anyhow::Result<()> {
    use muara_funnel::store::{Classified, apply};
    let pool = postgres().await?.fresh_pool().await?;
    let mut rng = muara_core::lcg::Lcg(7);
    let kinds = [
        None,
        Some(Kind::Opening),
        Some(Kind::Booking),
        Some(Kind::Transaction),
    ];
    let channels = ["whatsapp", "ads", "website", "blast"];
    let base = time::OffsetDateTime::from_unix_timestamp(1_795_320_000)?;
    // 6 phones × 8 messages; equal timestamps on purpose (ties broken by message id).
    let messages: Vec<(usize, Classified)> = (0..48)
        .map(|i| {
            let phone = i % 6;
            let kind = kinds[usize::try_from(rng.next(4)).unwrap_or(0)];
            let m = Classified {
                source: String::new(),
                message_id: format!("m{i:02}"),
                channel: channels[usize::try_from(rng.next(4)).unwrap_or(0)].into(),
                phone: String::new(),
                sent_at: base + time::Duration::minutes(i64::try_from(rng.next(5)).unwrap_or(0)),
                kind,
                keyword: None,
                amount: (kind == Some(Kind::Transaction))
                    .then(|| i64::try_from(rng.next(1_000_000)).unwrap_or(0)),
                campaign: None,
                raw_key: "k".into(),
            };
            (phone, m)
        })
        .collect();
    let snapshot = |run: usize| {
        let pool = pool.clone();
        async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT right(phone, 1), leads_date::text, channel, last_channel, booking_date::text,
                            transaction_date::text, last_transaction_date::text, transaction_value::text,
                            transaction_count::text, messages::text
                       FROM funnel.lead WHERE phone LIKE $1 ORDER BY phone",
                    &[&format!("+62{run:03}%")],
                )
                .await?;
            Ok::<_, anyhow::Error>(
                rows.iter()
                    .map(|r| {
                        (0..10)
                            .map(|i| r.get::<_, Option<String>>(i))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    let mut first = None;
    for run in 0..25usize {
        let mut order: Vec<usize> = (0..messages.len()).collect();
        if run > 0 {
            for i in (1..order.len()).rev() {
                order.swap(i, usize::try_from(rng.next(i as u64 + 1)).unwrap_or(0));
            }
            // Redeliveries: a third of the messages again, anywhere.
            let again: Vec<usize> = (0..16)
                .map(|_| usize::try_from(rng.next(48)).unwrap_or(0))
                .collect();
            order.extend(again);
        }
        for i in order {
            let (phone, m) = &messages[i];
            let m = Classified {
                source: String::new(),
                message_id: format!("r{run}-{}", m.message_id),
                phone: format!("+62{run:03}81200000{phone}"),
                ..m.clone()
            };
            apply(&pool, &m).await?;
        }
        let snap = snapshot(run).await?;
        assert_eq!(snap.len(), 6);
        match &first {
            None => first = Some(snap),
            Some(f) => assert_eq!(&snap, f, "run {run} differs"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyword_sheet_replaces_the_set_or_leaves_it_and_says_why() -> anyhow::Result<()> {
    use axum::routing::get;
    let fx = local().await?;
    let sheet = axum::Router::new()
        .route(
            "/good.csv",
            get(|| async { "Opening,Booking,Transaction\nhai,reservasi,lunas\n,jadwal,\n" }),
        )
        .route(
            "/missing.csv",
            get(|| async { "opening,booking\nhai,reservasi\n" }),
        )
        .route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/good.csv") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, sheet).await });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}/sheet.csv", l.local_addr()?)
    };

    for (url, why) in [
        (format!("{base}/missing.csv"), "no transaction column"),
        (closed, "GET"),
        (format!("{base}/nowhere.csv"), "HTTP 404"),
    ] {
        let e = muara_funnel::sheet::sync(&fx.pool, &url)
            .await
            .expect_err(&url);
        assert!(e.chain().contains(why), "{url}: {}", e.chain());
    }
    assert_eq!(
        muara_funnel::worker::load_keywords(&fx.pool).await?.len(),
        7,
        "the old set stays"
    );
    let n = muara_funnel::sheet::sync(&fx.pool, &format!("{base}/moved")).await?;
    assert_eq!(n, 4);
    let c = fx.pool.get().await?;
    let log: Vec<(bool, Option<String>)> = c
        .query("SELECT ok, error FROM funnel.keyword_sync ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(log.len(), 4);
    assert!(log[..3].iter().all(|(ok, e)| !ok && e.is_some()), "{log:?}");
    assert!(log[3].0);

    // Workers see the new set (cache TTL 0 here): "hai" opens, "halo" no longer does.
    post(
        &fx,
        "whatsapp",
        &wa("s-1", "6281211112222", 1_795_320_000, "hai kak"),
    )
    .await?;
    post(
        &fx,
        "whatsapp",
        &wa("s-2", "6281233334444", 1_795_320_000, "halo kak"),
    )
    .await?;
    drain(&fx).await?;
    assert!(
        lead(&fx, "+6281211112222")
            .await?
            .and_then(|r| r.get::<_, Option<String>>(0))
            .is_some()
    );
    assert!(
        lead(&fx, "+6281233334444")
            .await?
            .and_then(|r| r.get::<_, Option<String>>(0))
            .is_none()
    );

    // The CLI's streamed export reads the same CSV as the route (through a real listener).
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let app = fx.app.clone();
    tokio::spawn(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let _ = addr_tx.send(l.local_addr()?);
        axum::serve(l, app).await?;
        Ok::<_, anyhow::Error>(())
    });
    let api = format!("http://{}", addr_rx.await?);
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("funnel.csv");
    let mut file = tokio::fs::File::create(&out).await?;
    let n = muara_funnel::client::download(
        &format!("{api}/funnel-report.csv?from=2026-11-22&to=2026-11-23"),
        Some(&fx.token),
        &mut file,
        Duration::from_secs(30),
    )
    .await?;
    let text = std::fs::read_to_string(&out)?;
    assert_eq!(n as usize, text.len());
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("+6281211112222,2026-11-22 11:00:00,whatsapp"),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_lambda_reports_only_messages_that_failed() -> anyhow::Result<()> {
    let fx = local().await?;
    post(
        &fx,
        "whatsapp",
        &wa("l-1", "6281255556666", 1_795_320_000, "halo kak"),
    )
    .await?;
    let queued = fx.queue.receive(10, Duration::from_secs(1)).await?;
    assert_eq!(queued.len(), 1);
    let event = json!({"Records": [
        {"messageId": "sqs-1", "body": queued[0].body},
        {"messageId": "sqs-2", "body": "garbage that is no reference"},
    ]});
    let out = muara_funnel::worker::on_sqs_event(&fx.worker, event.clone()).await;
    assert!(
        out.batch_item_failures.is_empty(),
        "garbage is recorded and acknowledged: {out:?}"
    );
    assert!(lead(&fx, "+6281255556666").await?.is_some());
    fx.pool.close();
    let out = muara_funnel::worker::on_sqs_event(&fx.worker, event).await;
    let failed = out.failed_ids();
    assert_eq!(
        failed,
        ["sqs-1", "sqs-2"],
        "the database down: both come back"
    );
    Ok(())
}

/// PostgreSQL stops for ten seconds while a sender posts messages one by one, resending each
/// until it is answered 200 (as WhatsApp does): every message acknowledged 200 is stored, once
/// — none is acknowledged as a "duplicate" of a delivery that never finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_acknowledged_while_postgres_stops_is_stored() -> anyhow::Result<()> {
    const MESSAGES: usize = 30;
    let (cluster, url) = muara_testkit::private_cluster().await?;
    let pool = muara_db::connect(&url, 8, Duration::from_secs(10)).await?;
    muara_local::LOCAL_MIGRATIONS.apply(&pool).await?;
    let (queue, claims) = crate::support::local_queue_and_claims(&pool, "funnel").await?;
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let fx = Arc::new(fx_from(pool, queue, claims, Arc::new(store), Some(dir)).await?);

    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sender = {
        let (fx, acked) = (fx.clone(), acked.clone());
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(150);
            let mut refused = 0usize;
            for i in 0..MESSAGES {
                let id = format!("m{i:02}");
                let body = json!({"message_id": id, "phone": format!("08120000{i:04}"),
                                  "text": "halo, info dong", "timestamp": 1_795_320_000 + i})
                .to_string();
                loop {
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "{id} never acknowledged"
                    );
                    let (s, v) = post(&fx, "ads", &body).await?;
                    if s == 200 {
                        anyhow::ensure!(v["accepted"] == 1 || v["duplicates"] == 1, "{v}");
                        acked
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .push(id.clone());
                        break;
                    }
                    anyhow::ensure!(s == 503, "only 'retry' while the database is away: {s} {v}");
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            anyhow::Ok(refused)
        })
    };
    muara_testkit::eventually(
        Duration::from_secs(60),
        "a few messages acknowledged",
        || {
            let acked = acked.clone();
            async move { Ok((acked.lock().map_or(0, |a| a.len()) >= 5).then_some(())) }
        },
    )
    .await?;
    // WHEN the database stops for ten seconds in the middle of the calls
    cluster.stop().await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let _restarted =
        muara_local::postgres::Cluster::start(&cluster.data_dir, cluster.port, false).await?;
    let refused = sender.await??;
    assert!(
        refused > 0,
        "the sender was asked to retry while the database was away"
    );

    // THEN every acknowledged message is stored, once.
    muara_testkit::eventually(Duration::from_secs(60), "the worker to store them", || {
        let fx = fx.clone();
        async move {
            let _ = drain(&fx).await;
            let n: i64 = fx
                .pool
                .get()
                .await?
                .query_one("SELECT count(*) FROM funnel.message", &[])
                .await?
                .get(0);
            Ok((n as usize == MESSAGES).then_some(()))
        }
    })
    .await?;
    let acked = acked
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    assert_eq!(acked.len(), MESSAGES);
    let mut ids: Vec<String> = stored(&fx).await?.into_iter().map(|r| r.2).collect();
    ids.sort();
    assert_eq!(ids, acked);
    Ok(())
}

/// The funnel ledger: every message body the webhook kept is stored, refused with a reason,
/// or (a queue message lost) found unaccounted and queued again, after which it is stored once.
async fn every_kept_message_is_stored_refused_or_queued_again(fx: &Fx) -> anyhow::Result<()> {
    use muara_funnel::ledger::{SETTLE, reconcile};
    let t0 = 1_795_320_000;
    let generic = |ids: std::ops::Range<u32>| {
        json!(ids
            .map(|i| json!({"message_id": format!("led-{i}"), "phone": format!("0812555{i:05}"), "text": "halo, info promo", "timestamp": t0 + i64::from(i)}))
            .collect::<Vec<_>>())
        .to_string()
    };
    let (s, v) = post(fx, "website", &generic(0..5)).await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(5)), "{v}");
    let bad =
        json!([{"message_id": "led-bad", "phone": "not a phone", "text": "halo", "timestamp": t0}]);
    let (s, _) = post(fx, "website", &bad.to_string()).await?;
    assert_eq!(s, 200);
    drain(fx).await?;
    // Two messages accepted whose queue messages are lost before any worker sees them.
    let (s, v) = post(fx, "website", &generic(5..7)).await?;
    assert_eq!((s, v["accepted"].as_i64()), (200, Some(2)), "{v}");
    let mut lost = 0;
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    while lost < 2 && tokio::time::Instant::now() < end {
        let got = fx.queue.receive(10, Duration::from_secs(1)).await?;
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        fx.queue.delete_batch(&receipts).await?;
        lost += got.len();
    }
    assert_eq!(lost, 2, "one queue message per message");
    drain(fx).await?;

    let store = fx.store.as_ref();
    // Within the settle time they may still be on their way.
    let l = reconcile(store, &fx.pool, None, None, SETTLE).await?;
    assert_eq!(
        (l.messages, l.stored, l.refused, l.young),
        (8, 5, 1, 2),
        "{l:?}"
    );
    assert!(l.balanced());
    // After it, they are unaccounted; the repair queues them again.
    let l = reconcile(store, &fx.pool, None, None, Duration::ZERO).await?;
    assert_eq!(
        (l.stored, l.refused, l.unaccounted.len()),
        (5, 1, 2),
        "{l:?}"
    );
    assert!(!l.balanced());
    assert!(
        l.unaccounted
            .iter()
            .all(|k| k.contains("led-5") || k.contains("led-6")),
        "{l:?}"
    );
    let l = reconcile(
        store,
        &fx.pool,
        Some(fx.queue.as_ref()),
        None,
        Duration::ZERO,
    )
    .await?;
    assert_eq!(l.requeued, 2, "{l:?}");
    drain(fx).await?;
    let l = reconcile(store, &fx.pool, None, None, Duration::ZERO).await?;
    assert_eq!(
        (l.messages, l.stored, l.refused, l.unaccounted.len()),
        (8, 7, 1, 0),
        "{l:?}"
    );
    assert!(l.balanced());
    let n: i64 = fx
        .pool
        .get()
        .await?
        .query_one(
            "SELECT count(*) FROM funnel.message WHERE message_id LIKE 'led-%'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(n, 7, "each once");
    Ok(())
}
