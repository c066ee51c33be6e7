//! End to end through the local runtime (`muara up`), in-process: real PostgreSQL, real
//! lake folder, real HTTP.

use async_trait::async_trait;
use muara_core::s3event::S3EventRecord;
use muara_local::runtime::{ObjectEventHandler, Running, UpConfig, up};
use muara_testkit::{eventually, postgres, request};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let cfg = UpConfig {
        database_url: Some(postgres().await?.fresh_db().await?),
        pg_port: 0,
        scan_interval: Duration::from_millis(100),
        db_connect_timeout: Duration::from_secs(10),
        demo: true,
        ..UpConfig::new(
            dir.path().join("data"),
            dir.path().join("lake"),
            "127.0.0.1:0".parse()?,
        )
    };
    let recorder = Arc::new(Recorder(Mutex::new(vec![])));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (ready, ready_rx) = tokio::sync::oneshot::channel::<Running>();
    let runtime = tokio::spawn(up(
        cfg,
        vec![recorder.clone()],
        move |r| {
            let _ = ready.send(r.clone());
        },
        stop_rx,
    ));
    let running = tokio::time::timeout(Duration::from_secs(60), ready_rx).await??;
    let base = format!("http://{}", running.http);

    // GIVEN the runtime is up WHEN /health is asked THEN every component answers.
    let (status, body) = request(&base, "GET", "/health", "").await?;
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

    let (status, metrics) = request(&base, "GET", "/metrics", "").await?;
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
    stop.send(true)?;
    tokio::time::timeout(Duration::from_secs(30), runtime).await???;
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|k| *k == key).count(),
        1,
        "dispatched exactly once: {seen:?}"
    );
    Ok(())
}
