//! Crash tests on the binary itself (`MUARA_BIN`, else the test build; CI runs them on both,
//! the release build being the shipping profile, where a panic aborts the process):
//! - `muara up` killed with `kill -9` in the middle of a batch: when it comes back, the batch
//!   finishes by itself with every row loaded exactly once, no execution is left RUNNING and no
//!   lease is held by the dead process;
//! - a file whose conversion exhausts its stage's memory limit fails alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use muara_testkit::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROWS: u64 = 200_000;

fn free_port() -> u16 {
    muara_local::postgres::free_port().unwrap()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The binary under test: `MUARA_BIN` (scripts/test.sh points it at the release build, the
/// shipping profile, where a panic aborts), else the test build's.
fn binary() -> PathBuf {
    std::env::var_os("MUARA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_muara")))
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `muara up` on `url`, logging to `dir/up-{n}.log`.
fn up(dir: &Path, url: &str, demo: bool, n: u32) -> Running {
    up_with(dir, url, demo, n, free_port(), &[])
}

fn up_with(dir: &Path, url: &str, demo: bool, n: u32, port: u16, extra: &[&str]) -> Running {
    let log = std::fs::File::create(dir.join(format!("up-{n}.log"))).unwrap();
    let mut c = Command::new(binary());
    c.arg("up")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--lake-dir")
        .arg(dir.join("lake"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .arg("--statemachines-dir")
        .arg(repo_root().join("statemachines"))
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if demo {
        c.arg("--demo");
    }
    Running(c.spawn().unwrap())
}

async fn scalar(pool: &muara_db::Pool, sql: &str) -> anyhow::Result<Option<String>> {
    let c = pool.get().await?;
    Ok(c.query_opt(sql, &[]).await?.and_then(|r| r.get(0)))
}

fn log_tail(dir: &Path) -> String {
    (1..=2)
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("up-{n}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            format!("--- up-{n}.log ---\n{}", lines[from..].join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh database (its URL and a pool on it) and a scratch folder for one test.
async fn scratch(name: &str) -> (String, muara_db::Pool, PathBuf) {
    let url = muara_testkit::postgres()
        .await
        .unwrap()
        .fresh_db()
        .await
        .unwrap();
    let pool = muara_db::connect(&url, 2, Duration::from_secs(10))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(muara_testkit::unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    (url, pool, dir)
}

/// Waits for `batch` of the demo client to end; returns its status.
async fn batch_ended(pool: &muara_db::Pool, dir: &Path, batch: &str, secs: u64) -> String {
    let sql = format!(
        "SELECT status FROM tools.job_execution_log WHERE batch_id = '{batch}' AND status <> 'RUNNING'"
    );
    match eventually(
        Duration::from_secs(secs),
        &format!("{batch} to finish"),
        || async { scalar(pool, &sql).await },
    )
    .await
    {
        Ok(status) => status,
        Err(e) => panic!("{e:#}\n{}", log_tail(dir)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_bronze_copy_and_the_batch_finishes_by_itself_exactly_once() {
    let (url, pool, dir) = scratch("muara-crash").await;

    // The demo's first batch runs to its end.
    let mut first = up(&dir, &url, true, 1);
    batch_ended(&pool, &dir, "BATCH000001", 180).await;

    // A large file arrives (written under a temporary name, then renamed, as uploaders do).
    let incoming = dir.join("lake/raw/demo/crm/incoming");
    std::fs::write(
        incoming.join(".cust_info.csv.part"),
        muara_batch::demo::customers_csv(100_000, ROWS),
    )
    .unwrap();
    std::fs::rename(
        incoming.join(".cust_info.csv.part"),
        incoming.join("cust_info.csv"),
    )
    .unwrap();

    // kill -9 while its rows stream into bronze.
    let copying = eventually(
        Duration::from_secs(180),
        "the bronze COPY to run",
        || async {
            scalar(
                &pool,
                "SELECT query FROM pg_stat_activity WHERE datname = current_database()
               AND state = 'active' AND query ILIKE 'COPY %crm_cust_info%'",
            )
            .await
        },
    )
    .await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    if let Err(e) = copying {
        panic!("{e:#}\n{}", log_tail(&dir));
    }
    assert_eq!(
        scalar(
            &pool,
            "SELECT status FROM tools.job_execution_log WHERE batch_id = 'BATCH000002'"
        )
        .await
        .unwrap()
        .as_deref(),
        Some("RUNNING"),
        "the killed run was mid-batch"
    );

    // Back up: the interrupted execution is adopted and finishes, without anyone's help.
    let second = up(&dir, &url, false, 2);
    let status = batch_ended(&pool, &dir, "BATCH000002", 240).await;
    let checks = async {
        anyhow::ensure!(status == "SUCCESS", "batch 2 ended {status}");
        let loaded = scalar(
            &pool,
            "SELECT count(*)::text FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = 'BATCH000002'",
        )
        .await?;
        anyhow::ensure!(loaded == Some(ROWS.to_string()), "every row once: {loaded:?}");
        // The execution records its own end a moment after finalise wrote the batch's, and
        // releases the lease: both within seconds, or never.
        eventually(
            Duration::from_secs(30),
            "no execution left RUNNING and no lease held",
            || async {
                let running = scalar(
                    &pool,
                    "SELECT count(*)::text FROM muara_local.executions WHERE status = 'RUNNING'",
                )
                .await?;
                let held = scalar(
                    &pool,
                    "SELECT owner FROM muara_local.locks WHERE key = 'batch:demo' AND expires_at > now()",
                )
                .await?;
                Ok((running.as_deref() == Some("0") && held.is_none()).then_some(()))
            },
        )
        .await?;
        let runs = scalar(
            &pool,
            "SELECT runs::text FROM muara_local.executions WHERE name = 'demo-BATCH000002-start'",
        )
        .await?;
        anyhow::ensure!(runs.as_deref() == Some("2"), "resumed once: {runs:?}");
        let balanced = scalar(
            &pool,
            "SELECT bool_and(balanced)::text FROM tools.file_ledger WHERE batch_id = 'BATCH000002'",
        )
        .await?;
        anyhow::ensure!(balanced.as_deref() == Some("true"), "the row ledger holds: {balanced:?}");
        anyhow::Ok(())
    }
    .await;
    drop(second);
    if let Err(e) = checks {
        panic!("{e:#}\n{}", log_tail(&dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// GET /health of a `muara up` on `port`: the status code.
async fn health(port: u16) -> Option<u16> {
    muara_testkit::request(&format!("http://127.0.0.1:{port}"), "GET", "/health", "")
        .await
        .ok()
        .map(|(status, _)| status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_exhausts_its_stages_memory_fails_alone_and_the_platform_goes_on() {
    let (url, pool, dir) = scratch("muara-oom").await;
    let port = free_port();
    let up = up_with(&dir, &url, true, 1, port, &["--stage-memory-mb", "128"]);
    batch_ended(&pool, &dir, "BATCH000001", 180).await;

    // One file whose single 300 MB cell the converter must hold; a good file beside it.
    let lake = dir.join("lake/raw/demo/crm");
    let staged = lake.join("incoming/.cust_info.csv.part");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&staged).unwrap());
        f.write_all(b"cst_id,cst_key,cst_firstname,cst_lastname,cst_marital_status,cst_gndr,cst_create_date\n1,AW1,")
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..300 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b",Lee,M,F,2025-01-01\n").unwrap();
    }
    std::fs::copy(
        lake.join("archive/prd_info_BATCH000001.csv"),
        lake.join("incoming/.prd_info.csv.part"),
    )
    .unwrap();
    std::fs::rename(&staged, lake.join("incoming/cust_info.csv")).unwrap();
    std::fs::rename(
        lake.join("incoming/.prd_info.csv.part"),
        lake.join("incoming/prd_info.csv"),
    )
    .unwrap();

    let status = batch_ended(&pool, &dir, "BATCH000002", 240).await;
    let checks = async {
        anyhow::ensure!(status == "PARTIAL", "batch 2 ended {status}");
        let reason = scalar(
            &pool,
            "SELECT error_message FROM tools.file_audit_log WHERE batch_id = 'BATCH000002' AND physical_file_name LIKE 'cust_info%'",
        )
        .await?
        .unwrap_or_default();
        anyhow::ensure!(
            reason.contains("the converter crashed on this file") && reason.contains("128 MiB"),
            "the reason names the stage and the limit: {reason}"
        );
        anyhow::ensure!(
            dir.join("lake/raw/demo/crm/failed/cust_info_BATCH000002.csv").exists(),
            "the file is kept in failed/"
        );
        let prd = scalar(
            &pool,
            "SELECT count(*)::text FROM bronze_demo.crm_prd_info WHERE dwh_batch_id = 'BATCH000002'",
        )
        .await?;
        anyhow::ensure!(prd.as_deref() == Some("60"), "the good file loaded: {prd:?}");
        let alive = health(port).await;
        anyhow::ensure!(alive == Some(200), "the platform still answers /health: {alive:?}");
        anyhow::Ok(())
    }
    .await;
    drop(up);
    if let Err(e) = checks {
        panic!("{e:#}\n{}", log_tail(&dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin token a first `muara up` printed into its log.
fn admin_token(dir: &Path) -> Option<String> {
    let log = std::fs::read_to_string(dir.join("up-1.log")).ok()?;
    let mut lines = log.lines();
    lines.find(|l| l.contains("an admin token was made"))?;
    lines.next().map(|t| t.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_publishing_load_and_every_event_is_stored_once() {
    let (url, pool, dir) = scratch("muara-publish-crash").await;
    let port = free_port();
    let first = up_with(&dir, &url, false, 1, port, &[]);
    let token = eventually(Duration::from_secs(60), "the admin token", || async {
        Ok(admin_token(&dir))
    })
    .await;
    let token = match token {
        Ok(t) => t,
        Err(e) => panic!("{e:#}\n{}", log_tail(&dir)),
    };

    // A publisher sends 20,000 events (30 % repeated ids) and then checks /stats against them.
    let sim_out = std::fs::File::create(dir.join("sim.json")).unwrap();
    let sim_log = std::fs::File::create(dir.join("sim.log")).unwrap();
    let sim = Running(
        Command::new(binary())
            .args(["publish-sim", "--url", &format!("http://127.0.0.1:{port}")])
            .args(["--events", "20000", "--json"])
            .env("MUARA_TOKEN", &token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(sim_out)
            .stderr(sim_log)
            .spawn()
            .unwrap(),
    );
    // kill -9 while events are being accepted and stored.
    let storing = eventually(Duration::from_secs(120), "events to be stored", || async {
        let n = scalar(&pool, "SELECT count(*)::text FROM events.event").await?;
        Ok(n.filter(|n| n.parse::<u64>().unwrap_or(0) > 2_000))
    })
    .await;
    let mut first = first;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    if let Err(e) = storing {
        panic!("{e:#}\n{}", log_tail(&dir));
    }
    let _second = up_with(&dir, &url, false, 2, port, &[]);

    // The publisher retries what was not acknowledged; the stats it then reads must match
    // what it sent exactly (it exits non-zero otherwise).
    let mut sim = sim;
    let status = {
        let end = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(s) = sim.0.try_wait().unwrap() {
                break Some(s);
            }
            if std::time::Instant::now() > end {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await; // polling a child's exit
        }
    };
    let report = std::fs::read_to_string(dir.join("sim.json")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.join("sim.log")).unwrap_or_default();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "publish-sim: {report}\n{log}\n{}",
        log_tail(&dir)
    );
    let unique = serde_json::from_str::<serde_json::Value>(&report)
        .ok()
        .and_then(|v| v["unique_events"].as_u64())
        .unwrap_or_else(|| panic!("publish-sim's report: {report}"));
    let stored = scalar(&pool, "SELECT count(*)::text FROM events.event")
        .await
        .unwrap();
    assert_eq!(
        stored,
        Some(unique.to_string()),
        "every distinct event once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
