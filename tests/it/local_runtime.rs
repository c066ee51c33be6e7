//! End to end through the local runtime (`muara up`), in-process: real PostgreSQL, real
//! lake folder, real HTTP.

use async_trait::async_trait;
use muara_core::s3event::S3EventRecord;
use muara_host::runtime::{ObjectEventHandler, Running, UpConfig, up};
use muara_testkit::{eventually, postgres, request_as};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The admin token the runtime made on its first start.
fn token(running: &Running) -> Option<&str> {
    running.admin_token.as_deref()
}

/// A runtime on `database_url`, a lake and data folder under `dir`, any free port, and a quick
/// lake scan.
pub(crate) fn test_config(dir: &std::path::Path, database_url: String) -> UpConfig {
    UpConfig {
        database_url: Some(database_url),
        scan_interval: Duration::from_millis(100),
        db_connect_timeout: Duration::from_secs(10),
        ..UpConfig::new(
            dir.join("data"),
            dir.join("lake"),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
    }
}

/// `muara up`, in-process, until stopped.
pub(crate) struct Up {
    pub(crate) running: Running,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<muara_core::Result<()>>,
}

impl Up {
    pub(crate) async fn start(
        cfg: UpConfig,
        handlers: Vec<Arc<dyn ObjectEventHandler>>,
    ) -> anyhow::Result<Self> {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (ready, ready_rx) = tokio::sync::oneshot::channel::<Running>();
        let task = tokio::spawn(up(
            cfg,
            handlers,
            move |r| {
                let _ = ready.send(r.clone());
            },
            stop_rx,
        ));
        let running = tokio::time::timeout(Duration::from_secs(60), ready_rx).await??;
        Ok(Self {
            running,
            stop,
            task,
        })
    }

    /// Ctrl-C: a clean stop.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.stop.send(true)?;
        tokio::time::timeout(Duration::from_secs(30), self.task).await???;
        Ok(())
    }
}

/// Records the keys it is handed, like a pipeline's trigger would receive them.
struct Recorder(Mutex<Vec<String>>);

#[async_trait]
impl ObjectEventHandler for Recorder {
    fn prefix(&self) -> &str {
        "raw/"
    }
    async fn handle(&self, record: &S3EventRecord) -> muara_core::Result<()> {
        self.0.lock().unwrap().push(record.key()?);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn muara_up_serves_health_and_dispatches_files_dropped_into_the_lake() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = postgres().await?.fresh_db().await?;
    let cfg = UpConfig {
        demo: true,
        ..test_config(dir.path(), database_url)
    };
    let recorder = Arc::new(Recorder(Mutex::new(vec![])));
    let up = Up::start(cfg, vec![recorder.clone()]).await?;
    let running = up.running.clone();
    let base = format!("http://{}", running.http);

    // GIVEN the runtime is up WHEN /health is asked THEN every component answers.
    let (status, body) = request_as(&base, token(&running), "GET", "/health", "").await?;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body)?;
    for component in ["database", "object_store", "queue"] {
        assert_eq!(
            health["components"][component]["status"], "ok",
            "{component}: {body}"
        );
    }

    // WHEN a user copies a file into the lake folder (a name S3 would URL-encode)
    // THEN it is announced and dispatched with its real key, once.
    let key = "raw/acme/sales/incoming/Q1 sales+returns.csv";
    let path = running.lake_dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap())?;
    std::fs::write(&path, "id,amount\n1,1500000\n")?;
    eventually(
        Duration::from_secs(30),
        "the dropped file to be dispatched",
        || async {
            Ok(recorder
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|k| k == key)
                .then_some(()))
        },
    )
    .await?;
    // The demo file went the same way.
    eventually(
        Duration::from_secs(30),
        "the demo file to be dispatched",
        || async {
            Ok(recorder
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|k| k.starts_with("raw/demo/"))
                .then_some(()))
        },
    )
    .await?;

    let (status, metrics) = request_as(&base, token(&running), "GET", "/metrics", "").await?;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("muara_lake_events_total{outcome=\"handled\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("muara_http_requests_total{route=\"/health\",status=\"200\"} 1"),
        "{metrics}"
    );

    // Ctrl-C: a clean stop.
    up.stop().await?;
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|k| *k == key).count(),
        1,
        "dispatched exactly once: {seen:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn muara_up_demo_takes_the_files_to_gold_and_views_and_reports_the_batch()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = postgres().await?.fresh_db().await?;
    let cfg = UpConfig {
        statemachines_dir: Some(muara_testkit::workspace_root().join("statemachines")),
        demo: true,
        ..test_config(dir.path(), database_url)
    };
    let up = Up::start(cfg, vec![]).await?;
    let running = up.running.clone();
    let base = format!("http://{}", running.http);

    // The demo files are picked up by the lake watcher and run to the end.
    let list = eventually(
        Duration::from_secs(120),
        "the demo batch to finish",
        || async {
            let (status, body) =
                request_as(&base, token(&running), "GET", "/clients/demo/batches", "").await?;
            if status != 200 {
                return Ok(None);
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            let done = v["batches"][0]["finished_at"].is_string();
            Ok(done.then_some(v))
        },
    )
    .await?;
    assert_eq!(list["batches"][0]["batch_id"], "BATCH000001", "{list}");
    assert_eq!(list["batches"][0]["status"], "PARTIAL", "{list}");
    let (status, body) = request_as(
        &base,
        token(&running),
        "GET",
        "/clients/demo/batches/BATCH000001",
        "",
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body)?;
    // Every loaded file's row ledger balanced, and the API says so.
    let files = detail["files"].as_array().cloned().unwrap_or_default();
    let loaded: Vec<&serde_json::Value> = files
        .iter()
        .filter(|f| f["load_status"] == "SUCCESS")
        .collect();
    assert_eq!(loaded.len(), 5, "{body}");
    for f in loaded {
        assert_eq!(f["reconciliation"], "balanced", "{f}");
        assert_eq!(
            f["ledger"]["rows_read"], f["ledger"]["rows_at_finalise"],
            "{f}"
        );
    }
    let steps = detail["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 11, "{body}");
    assert!(steps.iter().all(|s| s["status"] == "SUCCESS"), "{body}");

    // Gold and the views have rows.
    let pool = muara_db::connect(&running.database_url, 2, Duration::from_secs(10)).await?;
    let c = pool.get().await?;
    for (rel, at_least) in [
        ("gold_demo.fact_sales", 2000),
        ("gold_demo.dim_customers", 400),
        ("gold_demo.mv_customer_lifetime_value", 400),
        ("gold_demo.mv_order_gap", 400),
    ] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {rel}"), &[])
            .await?
            .get(0);
        assert!(n >= at_least, "{rel}: {n} rows");
    }
    // The partial batch's mail is in the outbox, with the command that runs the file again.
    let outbox = running
        .outbox
        .clone()
        .expect("no SMTP configured: an outbox");
    let mails: Vec<String> = std::fs::read_dir(&outbox)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let batch_mails: Vec<&String> = mails.iter().filter(|m| m.contains("BATCH000001")).collect();
    assert_eq!(batch_mails.len(), 1, "{mails:?}");
    assert!(
        batch_mails[0]
            .replace("=\r\n", "")
            .contains("muara batch restart demo --batch-id BATCH000001"),
        "{}",
        batch_mails[0]
    );
    let (status, body) = request_as(
        &base,
        token(&running),
        "GET",
        "/clients/demo/batches/BATCH000001/logs",
        "",
    )
    .await?;
    assert_eq!(status, 200);
    assert!(
        body.contains("COUNTRY") && body.contains("CNTRY"),
        "the mapping log names the column: {body}"
    );
    let (status, _) = request_as(
        &base,
        token(&running),
        "GET",
        "/clients/demo/batches/BATCH000404",
        "",
    )
    .await?;
    assert_eq!(status, 404);
    // The logs of a batch that does not exist are not an empty success either.
    let (status, body) = request_as(
        &base,
        token(&running),
        "GET",
        "/clients/demo/batches/BATCH000404/logs",
        "",
    )
    .await?;
    assert_eq!(status, 404, "{body}");
    // Every row of the demo's bronze tables names the file it came from.
    let unnamed: i64 = c
        .query_one(
            "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_source_file IS NULL",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(unnamed, 0);

    // Pipeline A: the demo day's good recordings are searchable, the broken ones in the digest.
    let found = eventually(
        Duration::from_secs(60),
        "the demo recordings to be indexed",
        || async {
            let (_, body) =
                request_as(&base, token(&running), "GET", "/recordings?limit=1000", "").await?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            Ok((v["count"] == 40).then_some(v))
        },
    )
    .await?;
    let first = &found["recordings"][0];
    let agent = first["agent_id"].as_str().unwrap_or_default().to_string();
    let (_, body) = request_as(
        &base,
        token(&running),
        "GET",
        &format!("/recordings?agent={agent}&limit=1000"),
        "",
    )
    .await?;
    let by_agent: serde_json::Value = serde_json::from_str(&body)?;
    let n = by_agent["count"].as_u64().unwrap_or(0);
    assert!((1..40).contains(&n), "{by_agent}");
    assert!(
        by_agent["recordings"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["agent_id"] == agent.as_str())
    );
    // Any notation of the customer's number finds the call.
    let number = if first["direction"] == "inbound" {
        &first["caller"]
    } else {
        &first["callee"]
    };
    let spaced = number
        .as_str()
        .unwrap_or_default()
        .replacen("+62", "+62 ", 1);
    let (_, body) = request_as(
        &base,
        token(&running),
        "GET",
        &format!(
            "/recordings?number={}",
            spaced.replace(' ', "%20").replace('+', "%2B")
        ),
        "",
    )
    .await?;
    assert!(
        body.contains(first["call_id"].as_str().unwrap_or("?")),
        "{body}"
    );
    let (status, body) = request_as(
        &base,
        token(&running),
        "GET",
        "/recordings?from=yesterday",
        "",
    )
    .await?;
    assert!((400..500).contains(&status), "{status} {body}");
    let digest = eventually(
        Duration::from_secs(30),
        "the agent's digest mail",
        || async {
            Ok(std::fs::read_dir(&outbox)?
                .filter_map(|e| e.ok())
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .find(|m| m.contains("recording agent demo-recorder")))
        },
    )
    .await?;
    let digest = digest.replace("=\r\n", "").replace("=\n", "");
    for stage in [
        "[wav",
        "[xml]",
        "[pairing]",
        "[duration",
        "[duplicate",
        "[key",
    ] {
        assert!(
            digest.contains(stage),
            "{stage} missing from the digest:\n{digest}"
        );
    }
    assert!(digest.contains("11 failures"), "{digest}");

    // Pipeline D: the demo day went through the webhook; the report matches its known truth.
    let wib = time::UtcOffset::from_hms(7, 0, 0)?;
    let day = time::OffsetDateTime::now_utc()
        .to_offset(wib)
        .date()
        .previous_day()
        .expect("a day");
    let (_, truth) = muara_demo::funnel::day(day, 300, 11);
    let (leads, bookings, transactions, revenue) = truth.total();
    let path = format!(
        "/funnel-report?from={day}&to={}",
        day.next_day().expect("a day")
    );
    let report = eventually(
        Duration::from_secs(120),
        "the demo funnel report",
        || async {
            let (_, body) = request_as(&base, token(&running), "GET", &path, "").await?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            Ok(
                (v["total"]["transactions"] == transactions && v["total"]["leads"] == leads)
                    .then_some(v),
            )
        },
    )
    .await?;
    assert_eq!(report["total"]["bookings"], bookings, "{report}");
    assert_eq!(report["total"]["revenue"], revenue, "{report}");
    for (channel, (l, b, t, r)) in &truth.channels {
        let line = report["channels"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["channel"] == channel.as_str()))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (
                line["leads"].as_i64(),
                line["bookings"].as_i64(),
                line["transactions"].as_i64(),
                line["revenue"].as_i64()
            ),
            (Some(*l), Some(*b), Some(*t), Some(*r)),
            "{channel}: {report}"
        );
    }

    up.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publish_sim_against_muara_up_stores_exactly_the_distinct_events() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = postgres().await?.fresh_db().await?;
    let cfg = test_config(dir.path(), database_url);
    let up = Up::start(cfg, vec![]).await?;
    let running = up.running.clone();

    // The bar: 20,000 events, 30 % repeats → exactly 14,000 stored, stats adding up.
    let report = muara_demo::sim::run(&muara_demo::sim::SimConfig {
        url: format!("http://{}", running.http),
        token: running.admin_token.clone(),
        events: 20_000,
        topics: 10,
        duplicate_rate: 0.3,
        batch_size: 100,
        concurrency: 8,
        seed: 42,
        settle: Duration::from_secs(120),
    })
    .await?;
    assert!(report.problems.is_empty(), "{}", report.render());
    assert_eq!(report.stats_delta["unique_processed"], 14_000);
    assert_eq!(report.stats_delta["duplicate_dropped"], 6_000);
    assert_eq!(report.stats_delta["received"], 20_000);
    assert_eq!(report.accepted, 14_000);
    // … and a run of single events against the same service.
    let single = muara_demo::sim::run(&muara_demo::sim::SimConfig {
        url: format!("http://{}", running.http),
        token: running.admin_token.clone(),
        events: 500,
        topics: 3,
        duplicate_rate: 0.3,
        batch_size: 1,
        concurrency: 8,
        seed: 7,
        settle: Duration::from_secs(60),
    })
    .await?;
    assert!(single.problems.is_empty(), "{}", single.render());
    assert_eq!(single.stats_delta["unique_processed"], 350);

    up.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_publishing_load_loses_and_duplicates_nothing()
-> anyhow::Result<()> {
    // Everything local lives in this PostgreSQL (queue, claims, events), restarted mid-load.
    let (cluster, url) = muara_testkit::private_cluster().await?;
    let dir = tempfile::tempdir()?;
    let cfg = test_config(dir.path(), url);
    let up = Up::start(cfg, vec![]).await?;
    let running = up.running.clone();
    let load = muara_demo::sim::SimConfig {
        url: format!("http://{}", running.http),
        token: running.admin_token.clone(),
        events: 6_000,
        topics: 5,
        duplicate_rate: 0.3,
        batch_size: 20,
        concurrency: 4,
        seed: 3,
        settle: Duration::from_secs(150),
    };
    let sim = tokio::spawn(async move { muara_demo::sim::run(&load).await });
    // WHEN the server restarts while events are being published and stored
    eventually(Duration::from_secs(60), "some events stored", || async {
        let (status, body) = request_as(
            &format!("http://{}", running.http),
            token(&running),
            "GET",
            "/stats",
            "",
        )
        .await?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok((status == 200 && v["unique_processed"].as_i64().unwrap_or(0) > 500).then_some(()))
    })
    .await?;
    cluster.stop().await?;
    let _restarted =
        muara_local::postgres::Cluster::start(&cluster.data_dir, cluster.port, false).await?;

    // THEN every distinct event is stored once and the stats add up.
    let report = sim.await??;
    assert!(report.problems.is_empty(), "{}", report.render());
    assert_eq!(report.stats_delta["unique_processed"], 4_200);
    up.stop().await?;
    Ok(())
}

/// The embedded cluster trusts no one: without its password (kept in the data folder, mode
/// 0600) nobody connects; a cluster from before, which trusted local users, gets a password
/// and stops trusting at its next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_cluster_trusts_no_one() -> anyhow::Result<()> {
    use muara_local::postgres::{Cluster, PASSWORD_FILE};
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("postgres");
    let port = muara_local::postgres::free_port()?;
    let no_password = format!("postgres://muara@127.0.0.1:{port}/postgres");
    let connects = |url: String| async move {
        tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map(|_| ())
            // Debug: the cause too ("invalid configuration" alone hides "password missing").
            .map_err(|e| format!("{e:?}"))
    };

    let cluster = Cluster::start(&data, port, false).await?;
    let stopper = cluster.clone();
    let result = async {
        let mode = std::fs::metadata(data.join(PASSWORD_FILE))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        connects(cluster.url("postgres"))
            .await
            .map_err(anyhow::Error::msg)?;
        let refused = connects(no_password.clone()).await.unwrap_err();
        assert!(refused.contains("password"), "{refused}");
        let wrong = connects(format!("postgres://muara:guess@127.0.0.1:{port}/postgres"))
            .await
            .unwrap_err();
        assert!(
            wrong.contains("password authentication failed") || wrong.contains("28P01"),
            "{wrong}"
        );

        // A cluster made before passwords: trust for everyone, no password file.
        cluster.stop().await?;
        std::fs::write(
            data.join("pgdata/pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )?;
        std::fs::remove_file(data.join(PASSWORD_FILE))?;
        let upgraded = Cluster::start(&data, port, false).await?;
        connects(upgraded.url("postgres"))
            .await
            .map_err(anyhow::Error::msg)?;
        let refused = connects(no_password.clone()).await.unwrap_err();
        assert!(refused.contains("password"), "{refused}");
        anyhow::Ok(())
    }
    .await;
    stopper.stop().await?;
    result
}
