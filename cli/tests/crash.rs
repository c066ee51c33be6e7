//! Crash tests on the binary itself (`MUARA_BIN`, else the test build; CI runs them on the
//! release build, the shipping profile, where a panic aborts the process):
//! - `muara up` killed with `kill -9` in the middle of a batch: when it comes back, the batch
//!   finishes by itself with every row loaded exactly once, no execution is left RUNNING and no
//!   lease is held by the dead process;
//! - a file whose conversion exhausts its stage's memory limit fails alone;
//! - `muara up` killed under publishing load, while the funnel worker stores, and while
//!   recordings are indexed: after a restart every accepted event, message and recording is
//!   stored exactly once;
//! - PostgreSQL stopped for 30 s during each file stage and finalise: every batch completes by
//!   itself.
//!
//! They take minutes, so scripts/test.sh runs them once, on the release binary, and leaves them
//! out of its debug pass.

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

/// Waits until no execution is RUNNING and the demo client's lease is free: an execution
/// records its own end a moment after finalise wrote the batch's, then releases the lease.
async fn nothing_running_nor_held(pool: &muara_db::Pool, within: Duration) -> anyhow::Result<()> {
    eventually(
        within,
        "no execution left RUNNING and no lease held",
        || async {
            let running = scalar(
                pool,
                "SELECT count(*)::text FROM muara_local.executions WHERE status = 'RUNNING'",
            )
            .await?;
            let held = scalar(
            pool,
            "SELECT owner FROM muara_local.locks WHERE key = 'batch:demo' AND expires_at > now()",
        )
        .await?;
            Ok((running.as_deref() == Some("0") && held.is_none()).then_some(()))
        },
    )
    .await
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
        muara_demo::batch::customers_csv(100_000, ROWS),
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
        nothing_running_nor_held(&pool, Duration::from_secs(30)).await?;
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

/// Whether `parent` has a stage worker child running `stage` (`muara stage-worker STAGE`).
fn stage_worker_running(parent: u32, stage: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(|e| e.ok()).any(|e| {
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse::<u32>().ok());
        if ppid != Some(parent) {
            return false;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.windows(2)
            .any(|w| w[0] == b"stage-worker" && w[1] == stage.as_bytes())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_for_30_s_during_each_file_stage_and_every_batch_completes_exactly() {
    const ROWS: u64 = 300_000;
    let (cluster, url) = muara_testkit::private_cluster().await.unwrap();
    let (data_dir, port) = (cluster.data_dir.clone(), cluster.port);
    let pool = muara_db::connect(&url, 3, Duration::from_secs(10))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(muara_testkit::unique("muara-pg-stop"));
    std::fs::create_dir_all(&dir).unwrap();
    let up = up(&dir, &url, true, 1);
    batch_ended(&pool, &dir, "BATCH000001", 180).await;

    let mut restarted: Vec<muara_local::postgres::Cluster> = Vec::new();
    for (n, stage) in ["convert", "validate-rows", "load-bronze", "finalise"]
        .iter()
        .enumerate()
    {
        let batch = format!("BATCH{:06}", n + 2);
        let incoming = dir.join("lake/raw/demo/crm/incoming");
        std::fs::write(
            incoming.join(".cust_info.csv.part"),
            muara_demo::batch::customers_csv(1_000_000 * (n as u64 + 1), ROWS),
        )
        .unwrap();
        std::fs::rename(
            incoming.join(".cust_info.csv.part"),
            incoming.join("cust_info.csv"),
        )
        .unwrap();
        // WHEN the database stops for 30 s while the stage runs
        let running = if *stage == "finalise" {
            finalise_held(&pool, &batch).await
        } else {
            eventually(
                Duration::from_secs(180),
                &format!("the {stage} worker of {batch}"),
                || async {
                    let held: Option<Box<dyn Send>> = None;
                    Ok(stage_worker_running(up.0.id(), stage).then_some(held))
                },
            )
            .await
        };
        let _held = match running {
            Ok(held) => held,
            Err(e) => panic!("{e:#}\n{}", log_tail(&dir)),
        };
        match restarted.last() {
            None => cluster.stop().await.unwrap(),
            Some(c) => c.stop().await.unwrap(),
        }
        tokio::time::sleep(Duration::from_secs(30)).await; // the outage itself
        restarted.push(
            muara_local::postgres::Cluster::start(&data_dir, port, false)
                .await
                .unwrap(),
        );

        // THEN the batch completes by itself, every row once, nothing left RUNNING or held.
        let status = batch_ended(&pool, &dir, &batch, 300).await;
        let checks = async {
            anyhow::ensure!(status == "SUCCESS", "{batch} ended {status}");
            let loaded = scalar(
                &pool,
                &format!("SELECT count(*)::text FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = '{batch}'"),
            )
            .await?;
            anyhow::ensure!(loaded == Some(ROWS.to_string()), "{batch}: every row once: {loaded:?}");
            let balanced = scalar(
                &pool,
                &format!("SELECT bool_and(balanced)::text FROM tools.file_ledger WHERE batch_id = '{batch}'"),
            )
            .await?;
            anyhow::ensure!(balanced.as_deref() == Some("true"), "{batch}: the ledger holds: {balanced:?}");
            nothing_running_nor_held(&pool, Duration::from_secs(60)).await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = checks {
            panic!("during {stage}: {e:#}\n{}", log_tail(&dir));
        }
    }
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finalise runs in process and briefly: once the load of `batch` has recorded its ledger
/// figures, the test locks `tools.file_ledger` (finalise's next write) and waits until a
/// session blocks on it; the returned transaction holds the lock until the database stops.
async fn finalise_held(
    pool: &muara_db::Pool,
    batch: &str,
) -> anyhow::Result<Option<Box<dyn Send>>> {
    eventually(Duration::from_secs(180), "the load's ledger figures", || async {
        scalar(
            pool,
            &format!("SELECT 1::text FROM tools.file_ledger WHERE batch_id = '{batch}' AND rows_in_bronze IS NOT NULL"),
        )
        .await
    })
    .await?;
    let c = pool.get().await?;
    c.batch_execute("BEGIN; LOCK TABLE tools.file_ledger IN EXCLUSIVE MODE")
        .await?;
    eventually(
        Duration::from_secs(180),
        "finalise to wait for the ledger",
        || async {
            scalar(
                pool,
                "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock'
               AND query ILIKE '%file_ledger%' AND pid <> pg_backend_pid()",
            )
            .await
        },
    )
    .await?;
    Ok(Some(Box::new(c)))
}

/// Kills `up` with SIGKILL once `count_sql` counts more than `from`, and checks the kill
/// came before `total` (mid-way, so the test proves something).
async fn kill_mid_way(
    mut up: Running,
    pool: &muara_db::Pool,
    dir: &Path,
    count_sql: &str,
    from: usize,
    total: usize,
) {
    let count = || async {
        anyhow::Ok(
            scalar(pool, count_sql)
                .await?
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0),
        )
    };
    let started = eventually(
        Duration::from_secs(180),
        "the work to be under way",
        || async { Ok((count().await? > from).then_some(())) },
    )
    .await;
    up.0.kill().unwrap();
    up.0.wait().unwrap();
    if let Err(e) = started {
        panic!("{e:#}\n{}", log_tail(dir));
    }
    let at_kill = count().await.unwrap();
    assert!(at_kill < total, "killed mid-way ({at_kill} of {total})");
}

/// Sends every call to the webhook of the `muara up` on `base`, as a provider does: a call
/// not answered 2xx (refused connection, cut-off answer, 5xx) is sent again until `deadline`.
async fn send_calls(
    base: String,
    calls: Vec<muara_demo::funnel::Call>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    for call in calls {
        loop {
            let answer = muara_api::client::send(
                &base,
                "POST",
                &format!("/webhook/{}", call.channel),
                "application/json",
                "",
                &call.body,
                Duration::from_secs(10),
            )
            .await;
            match answer {
                Ok((status, _)) if status < 300 => break,
                Ok((status, body)) if status < 500 && status != 429 => {
                    anyhow::bail!("a demo call was refused ({status}): {body}")
                }
                _ if tokio::time::Instant::now() > deadline => {
                    anyhow::bail!("a call was never accepted: {answer:?}")
                }
                // The server is down or busy: the provider's retry.
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_funnel_worker_stores_and_every_accepted_message_is_stored_once() {
    let (url, pool, dir) = scratch("muara-funnel-crash").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let first = up_with(&dir, &url, false, 1, port, &[]);
    let token = match eventually(Duration::from_secs(60), "the admin token", || async {
        Ok(admin_token(&dir))
    })
    .await
    {
        Ok(t) => t,
        Err(e) => panic!("{e:#}\n{}", log_tail(&dir)),
    };
    {
        let db = muara_db::connect(&url, 1, Duration::from_secs(10))
            .await
            .unwrap();
        muara_funnel::service::replace_keywords(&db, &muara_demo::funnel::keywords(), "test")
            .await
            .unwrap();
    }
    // A day of 1,500 leads' messages (repeats and statuses among them), sent by 4 senders.
    let day = time::Date::from_calendar_date(2026, time::Month::March, 2).unwrap();
    let (calls, truth) = muara_demo::funnel::day(day, 1_500, 5);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut senders = tokio::task::JoinSet::new();
    let mut shares: Vec<Vec<muara_demo::funnel::Call>> = vec![Vec::new(); 4];
    for (i, call) in calls.into_iter().enumerate() {
        shares[i % 4].push(call);
    }
    for share in shares {
        senders.spawn(send_calls(base.clone(), share, deadline));
    }

    // kill -9 while the worker stores them.
    let stored_sql = "SELECT count(*)::text FROM funnel.message";
    kill_mid_way(
        first,
        &pool,
        &dir,
        stored_sql,
        truth.messages / 5,
        truth.messages,
    )
    .await;
    let _second = up_with(&dir, &url, false, 2, port, &[]);

    while let Some(sent) = senders.join_next().await {
        if let Err(e) = sent.unwrap() {
            panic!("{e:#}\n{}", log_tail(&dir));
        }
    }
    // THEN every distinct message is stored once and the report matches the day's truth.
    let stored = eventually(Duration::from_secs(180), "every message stored", || async {
        let n: usize = scalar(&pool, stored_sql)
            .await?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok((n >= truth.messages).then_some(n))
    })
    .await;
    let stored = match stored {
        Ok(n) => n,
        Err(e) => panic!("{e:#}\n{}", log_tail(&dir)),
    };
    assert_eq!(stored, truth.messages, "every distinct message once");
    let (leads, bookings, transactions, revenue) = truth.total();
    let path = format!("/funnel-report?from={day}&to={}", day.next_day().unwrap());
    let (status, body) = muara_api::client::send(
        &base,
        "GET",
        &path,
        "application/json",
        &muara_api::client::bearer(Some(&token)),
        "",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            report["total"]["leads"].as_i64(),
            report["total"]["bookings"].as_i64(),
            report["total"]["transactions"].as_i64(),
            report["total"]["revenue"].as_i64()
        ),
        (
            Some(leads),
            Some(bookings),
            Some(transactions),
            Some(revenue)
        ),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_recordings_are_indexed_and_every_recording_is_indexed_once() {
    let (url, pool, dir) = scratch("muara-recordings-crash").await;
    let first = up(&dir, &url, false, 1);
    // A recorder's day of 800 calls (and the demo's broken ones), uploaded by the agent.
    let spool = dir.join("recorder");
    let day = time::Date::from_calendar_date(2026, time::Month::March, 2).unwrap();
    let truth = muara_demo::recordings::write_day(&spool, day, 800, 9).unwrap();
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"crash-recorder\"\n[source]\nfolders = [{:?}]\nstable_secs = 0\norphan_after_secs = 0\n[upload]\nconcurrency = 4\n[run]\njournal = {:?}\n[target]\nlocal_dir = {:?}\n",
            spool.display().to_string(),
            dir.join("agent.journal").display().to_string(),
            dir.join("lake").display().to_string(),
        ),
    )
    .unwrap();
    let agent_log = std::fs::File::create(dir.join("agent.log")).unwrap();
    let mut agent = Running(
        Command::new(binary())
            .args(["agent", "once", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(agent_log.try_clone().unwrap())
            .stderr(agent_log)
            .spawn()
            .unwrap(),
    );

    // kill -9 while they are being indexed.
    let indexed_sql = "SELECT count(*)::text FROM recordings.recording";
    kill_mid_way(first, &pool, &dir, indexed_sql, 40, truth.good.len()).await;
    agent.0.wait().unwrap();
    let _second = up(&dir, &url, false, 2);

    // THEN every good recording is indexed once, and nothing was recorded as an index error.
    let indexed = eventually(
        Duration::from_secs(180),
        "every recording indexed",
        || async {
            let n: usize = scalar(&pool, indexed_sql)
                .await?
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Ok((n >= truth.good.len()).then_some(n))
        },
    )
    .await;
    let indexed = match indexed {
        Ok(n) => n,
        Err(e) => panic!("{e:#}\n{}", log_tail(&dir)),
    };
    assert_eq!(indexed, truth.good.len(), "every good recording once");
    let distinct = scalar(
        &pool,
        "SELECT count(DISTINCT call_id)::text FROM recordings.recording",
    )
    .await
    .unwrap();
    assert_eq!(distinct, Some(truth.good.len().to_string()));
    let errors = scalar(&pool, "SELECT count(*)::text FROM recordings.index_error")
        .await
        .unwrap();
    assert_eq!(errors.as_deref(), Some("0"), "no index errors");
    let _ = std::fs::remove_dir_all(&dir);
}
