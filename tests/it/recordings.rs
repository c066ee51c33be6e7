//! Pipeline A against real services: the agent uploading to S3 (moto) — multipart included —,
//! the indexer and the digest on PostgreSQL with mail through SES, under redelivery.

use crate::support::{SENDER, aws, pg_pool, ses_mailer};
use muara_agent::Agent;
use muara_agent::config::{Config, Settings};
use muara_aws::s3::{MIN_PART_SIZE, S3Store};
use muara_core::ports::{Notify, ObjectStore, SentMail};
use muara_testkit::unique;
use std::path::Path;
use std::sync::Arc;

fn settings(spool: &Path, journal: &Path, extra: &str) -> Settings {
    let text = format!(
        "host = \"rec-01\"\n[source]\nfolders = [{spool:?}]\nstable_secs = 0\norphan_after_secs = 0\n[run]\njournal = {journal:?}\n[target]\nbucket = \"set-by-the-test\"\n{extra}"
    );
    Config::from_toml(&text, spool).expect("valid config")
}

/// A recording big enough for a multipart upload (two 5 MiB parts), in the default profile.
fn big_recording(dir: &Path, call_id: &str) {
    let wav = muara_recordings::wav::tone_wav(48_000, 2, 40_000, 523.0);
    assert!(wav.len() > MIN_PART_SIZE);
    std::fs::write(dir.join(format!("{call_id}.wav")), wav).expect("wav");
    std::fs::write(
        dir.join(format!("{call_id}.xml")),
        format!(
            "<recording><callId>{call_id}</callId><startTime>2026-11-21T10:00:00+07:00</startTime><duration>40</duration><agent id=\"A-900\">Big Talker</agent><caller>0812 9999 0000</caller><direction>in</direction></recording>"
        ),
    )
    .expect("xml");
}

async fn keys(store: &S3Store, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(store
        .list(prefix)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agent_uploads_to_s3_and_the_indexer_and_digest_hold_under_redelivery()
-> anyhow::Result<()> {
    let cfg = aws().await?;
    let client = muara_aws::s3_client(&cfg);
    let bucket = unique("muara-rec");
    client.create_bucket().bucket(&bucket).send().await?;
    let store = S3Store::new(client.clone(), &bucket).with_multipart(MIN_PART_SIZE, MIN_PART_SIZE);
    let work = std::env::temp_dir().join(unique("agent"));
    let spool = work.join("spool");
    let day = time::macros::date!(2026 - 11 - 21);
    let truth = muara_demo::recordings::write_day(&spool, day, 12, 3)?;
    big_recording(&spool.join("2026-11-21"), "C-BIG-1");
    let settings = settings(
        &spool,
        &work.join("journal.redb"),
        "[upload]\nmultipart_threshold_mib = 5\npart_size_mib = 5\n",
    );

    let agent = Agent::new(settings.clone(), Arc::new(store.clone()))?;
    let run = agent.once(false).await?;
    let c = &run.report.counts;
    assert_eq!(
        (c.uploaded, c.failed, c.orphans),
        (13, 10, 1),
        "{:#?}",
        run.report
    );
    let mut stages: Vec<&str> = run
        .report
        .failures
        .iter()
        .map(|f| f.stage.as_str())
        .collect();
    stages.sort_unstable();
    let mut want: Vec<&str> = truth.broken.iter().map(|(_, s)| *s).collect();
    want.sort_unstable();
    assert_eq!(stages, want);

    // The big one went up in two parts; S3 holds the composite checksum the sidecar records.
    let big = store
        .head("recordings/2026/11/21/C-BIG-1.wav")
        .await?
        .expect("uploaded");
    let sidecar: muara_recordings::sidecar::Sidecar =
        serde_json::from_slice(&store.get("recordings/2026/11/21/C-BIG-1.json").await?)?;
    assert!(
        sidecar.audio.checksum.ends_with("-2")
            || big.sha256.as_deref() == Some(sidecar.audio.checksum.as_str()),
        "{sidecar:?}"
    );
    assert_eq!(
        big.metadata.get("call-id").map(String::as_str),
        Some("C-BIG-1")
    );
    assert_eq!(sidecar.audio.format.channels, 2);

    // The indexer and the digest, each notification delivered twice.
    let pool = pg_pool().await?;
    muara_db::PLATFORM.apply(&pool).await?;
    let mail = ses_mailer().await?;
    let deps = ses_deps(&store, &pool, &mail);
    let mut created = keys(&store, "recordings/").await?;
    created.extend(keys(&store, "reports/agent/").await?);
    for _ in 0..2 {
        for key in &created {
            muara_recordings::on_object_created(&deps, key).await?;
        }
    }
    let db = pool.get().await?;
    let n: i64 = db
        .query_one("SELECT count(*) FROM recordings.recording", &[])
        .await?
        .get(0);
    assert_eq!(n, 13);
    let errors: i64 = db
        .query_one("SELECT count(*) FROM recordings.index_error", &[])
        .await?
        .get(0);
    assert_eq!(errors, 0);
    let hits = muara_recordings::search::search(
        &pool,
        &muara_recordings::search::Filter {
            number: Some("+62 812-9999-0000".into()),
            ..Default::default()
        },
    )
    .await?;
    assert!(
        hits.is_empty(),
        "0812… is stored as written; +62 812… has other digits"
    );
    let hits = muara_recordings::search::search(
        &pool,
        &muara_recordings::search::Filter {
            number: Some("081299990000".into()),
            direction: Some("inbound".into()),
            agent: Some("big talker".into()),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].call_id, "C-BIG-1");

    // One digest, read back from SES, naming the failures.
    let row = db
        .query_one(
            "SELECT failures, digest_message_id FROM recordings.agent_run WHERE host = 'rec-01'",
            &[],
        )
        .await?;
    let (failures, message_id): (i32, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(failures, 11);
    let back = mail
        .read_back(&SentMail {
            message_id: message_id.expect("sent"),
            location: None,
        })
        .await?;
    assert_eq!(
        back.subject,
        format!(
            "[muara] recording agent rec-01: 11 failures in run {}",
            run.report.run_id
        )
    );
    let body = back.body.replace("\r\n", "\n");
    for (file, stage) in &truth.broken {
        assert!(
            body.contains(file.as_str()) && body.contains(&format!("[{stage}")),
            "{file} [{stage}] not in\n{body}"
        );
    }

    // A second pass changes nothing: nothing uploaded again, no new failures, no second mail.
    let again = agent.once(false).await?;
    let c = &again.report.counts;
    assert_eq!(
        (c.uploaded, c.already_present, c.failed, c.bytes_uploaded),
        (0, 0, 0, 0),
        "{:#?}",
        again.report
    );
    assert_eq!(c.unchanged, 23, "13 published and 10 failed recordings");
    let second = again.report_key.clone().expect("report written");
    let outcome =
        muara_recordings::digest::handle_report(deps.store.as_ref(), &pool, &deps.notify, &second)
            .await?;
    assert_eq!(outcome, muara_recordings::digest::Digest::Clean);

    // A fresh journal (a reinstalled agent) finds everything already there: nothing uploaded.
    drop(agent);
    let fresh = settings_with_journal(&settings, &work.join("journal-2.redb"));
    let again = Agent::new(fresh, Arc::new(store.clone()))?
        .once(false)
        .await?;
    let c = &again.report.counts;
    assert_eq!(
        (c.uploaded, c.already_present, c.bytes_uploaded),
        (0, 13, 0),
        "{:#?}",
        again.report
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn settings_with_journal(s: &Settings, journal: &Path) -> Settings {
    Settings {
        journal: journal.to_path_buf(),
        ..s.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_refuses_missing_or_other_audio_and_keeps_the_first_recording()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let pool = pg_pool().await?;
    muara_db::PLATFORM.apply(&pool).await?;
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool)?;
    muara_demo::recordings::write_day(&spool, time::macros::date!(2026 - 11 - 21), 2, 9)?;
    let settings = settings(&spool, &dir.path().join("j.redb"), "");
    Agent::new(settings, Arc::new(store.clone()))?
        .once(false)
        .await?;
    let deps = outbox_deps(&store, &pool, dir.path()).await?;
    let first = "recordings/2026/11/21/C-20261121-00000.json";
    muara_recordings::on_object_created(&deps, first).await?;

    // The same call id with other audio: the first row stays, the reason is recorded.
    let mut other: muara_recordings::sidecar::Sidecar =
        serde_json::from_slice(&store.get(first).await?)?;
    other.audio.key = "recordings/2026/11/21/C-20261121-00001.wav".into();
    let second = store.head(&other.audio.key).await?.expect("uploaded");
    other.audio.size = second.size;
    other.audio.checksum = second.sha256.clone().unwrap_or_default();
    other.audio.sha256 = second.sha256.unwrap_or_default();
    let k = "recordings/2026/11/21/impostor.json";
    store
        .put(k, serde_json::to_vec(&other)?.into(), &Default::default())
        .await?;
    let out = muara_recordings::index::index_sidecar(&store, &pool, k).await?;
    assert!(
        matches!(&out, muara_recordings::index::Indexed::Rejected { reason } if reason.contains("already indexed with other audio")),
        "{out:?}"
    );

    // Audio missing; a sidecar that is not one.
    other.audio.key = "recordings/2026/11/21/gone.wav".into();
    let k2 = "recordings/2026/11/21/gone.json";
    store
        .put(k2, serde_json::to_vec(&other)?.into(), &Default::default())
        .await?;
    let out = muara_recordings::index::index_sidecar(&store, &pool, k2).await?;
    assert!(
        matches!(&out, muara_recordings::index::Indexed::Rejected { reason } if reason.contains("does not exist")),
        "{out:?}"
    );
    let k3 = "recordings/2026/11/21/junk.json";
    store
        .put(k3, b"{\"hello\":1}".to_vec().into(), &Default::default())
        .await?;
    let out = muara_recordings::index::index_sidecar(&store, &pool, k3).await?;
    assert!(
        matches!(&out, muara_recordings::index::Indexed::Rejected { reason } if reason.contains("not a recording sidecar")),
        "{out:?}"
    );

    let db = pool.get().await?;
    let rows = db
        .query(
            "SELECT sidecar_key FROM recordings.index_error ORDER BY sidecar_key",
            &[],
        )
        .await?;
    let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, [k2, k, k3]);
    let audio: String = db
        .query_one(
            "SELECT audio_key FROM recordings.recording WHERE call_id = 'C-20261121-00000'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(audio, "recordings/2026/11/21/C-20261121-00000.wav");
    Ok(())
}

fn pair(dir: &Path, name: &str, call_id: &str, secs: u64) {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        dir.join(format!("{name}.wav")),
        muara_recordings::wav::tone_wav(8000, 1, secs * 1000, 440.0),
    )
    .expect("wav");
    std::fs::write(
        dir.join(format!("{name}.xml")),
        format!("<recording><callId>{call_id}</callId><startTime>2026-11-21T10:00:00+07:00</startTime><duration>{secs}</duration></recording>"),
    )
    .expect("xml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_waiting_files_and_the_archive_policy_including_a_failed_archive()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let spool = dir.path().join("spool");
    pair(&spool.join("a"), "one", "C-1", 2);
    pair(&spool.join("b"), "two", "C-2", 3);
    // The archive folder is blocked by a file: archiving fails after the upload.
    let archive = dir.path().join("archive");
    std::fs::write(&archive, b"not a folder")?;
    let journal = dir.path().join("j.redb");
    let cfg = format!("[upload]\nafter_upload = \"archive\"\narchive_dir = {archive:?}\n");
    let s = settings(&spool, &journal, &cfg);

    // Dry run: the plan, and nothing changed anywhere.
    let agent = Agent::new(s.clone(), Arc::new(lake.clone()))?;
    let plan = agent.once(true).await?;
    let keys: Vec<&str> = plan.planned.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "recordings/2026/11/21/C-1.wav",
            "recordings/2026/11/21/C-2.wav"
        ]
    );
    assert!(plan.report_key.is_none());
    assert!(lake.list("").await?.is_empty());
    assert!(agent.journal().all()?.is_empty());

    // Uploaded and published, but the archive move fails: reported, files kept.
    let run = agent.once(false).await?;
    assert_eq!(run.report.counts.uploaded, 2, "{:#?}", run.report);
    assert_eq!(run.report.failures.len(), 2);
    assert!(
        run.report
            .failures
            .iter()
            .all(|f| f.stage == "archive" && f.will_retry)
    );
    assert!(spool.join("a/one.wav").exists());

    // The archive becomes usable: the next pass only archives; nothing is uploaded again.
    std::fs::remove_file(&archive)?;
    let run = agent.once(false).await?;
    assert_eq!(
        (run.report.counts.uploaded, run.report.counts.failed),
        (0, 0),
        "{:#?}",
        run.report
    );
    assert!(archive.join("a/one.wav").exists() && archive.join("a/one.xml").exists());
    assert!(archive.join("b/two.wav").exists() && !spool.join("b/two.wav").exists());
    let states: Vec<_> = agent
        .journal()
        .all()?
        .into_values()
        .map(|e| e.state)
        .collect();
    assert!(
        states
            .iter()
            .all(|s| *s == muara_agent::journal::State::Archived),
        "{states:?}"
    );

    // A recording still being written waits; a young orphan is not reported yet.
    pair(&spool.join("c"), "three", "C-3", 2);
    std::fs::write(spool.join("c/lonely.wav"), b"RIFF")?;
    let patient = Settings {
        stable: std::time::Duration::from_secs(3600),
        orphan_after: std::time::Duration::from_secs(3600),
        ..s.clone()
    };
    drop(agent);
    let agent = Agent::new(patient, Arc::new(lake.clone()))?;
    let run = agent.once(false).await?;
    let c = &run.report.counts;
    assert_eq!(
        (c.waiting, c.uploaded, c.orphans, c.failed),
        (1, 0, 0, 0),
        "{:#?}",
        run.report
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_fails_the_files_for_the_next_pass_and_keeps_the_report()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spool = dir.path().join("spool");
    pair(&spool, "one", "C-DOWN-1", 2);
    let journal = dir.path().join("j.redb");
    let s = settings(&spool, &journal, "[upload]\nretries = 0\n");

    // Nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let down_cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "t", "t", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let down = S3Store::new(muara_aws::s3_client(&down_cfg), "nowhere");
    let run = Agent::new(s.clone(), Arc::new(down))?.once(false).await?;
    assert_eq!(run.report.counts.failed, 1);
    let f = &run.report.failures[0];
    assert_eq!((f.stage.as_str(), f.will_retry), ("upload", true), "{f:?}");
    let kept = dir.path().join("j.redb.reports");
    assert_eq!(
        std::fs::read_dir(&kept)?.count(),
        1,
        "the report waits beside the journal"
    );

    // The endpoint is back: the file goes up, and the earlier report is delivered first.
    let cfg = aws().await?;
    let client = muara_aws::s3_client(&cfg);
    let bucket = unique("muara-rec");
    client.create_bucket().bucket(&bucket).send().await?;
    let store = S3Store::new(client, &bucket);
    let run = Agent::new(s, Arc::new(store.clone()))?.once(false).await?;
    assert_eq!(
        (run.report.counts.uploaded, run.report.counts.failed),
        (1, 0)
    );
    assert_eq!(keys(&store, "reports/agent/rec-01/").await?.len(), 2);
    assert_eq!(std::fs::read_dir(&kept)?.count(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_lambda_reports_only_the_messages_it_could_not_handle() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let spool = dir.path().join("spool");
    pair(&spool, "one", "C-SQS-1", 2);
    Agent::new(
        settings(&spool, &dir.path().join("j.redb"), ""),
        Arc::new(store.clone()),
    )?
    .once(false)
    .await?;
    let pool = pg_pool().await?;
    muara_db::PLATFORM.apply(&pool).await?;
    let deps = outbox_deps(&store, &pool, dir.path()).await?;
    let notification = |key: &str| {
        serde_json::to_string(&muara_core::s3event::S3Event {
            records: vec![muara_core::s3event::S3EventRecord::object_created(
                "lake",
                key,
                1,
                "2026-11-22T00:00:00Z",
            )],
        })
        .expect("json")
    };
    let event = serde_json::json!({"Records": [
        {"messageId": "m-sidecar", "body": notification("recordings/2026/11/21/C-SQS-1.json")},
        {"messageId": "m-audio", "body": notification("recordings/2026/11/21/C-SQS-1.wav")},
        {"messageId": "m-garbage", "body": "this is not an S3 notification"},
        {"messageId": "m-test", "body": "{\"Event\":\"s3:TestEvent\"}"},
    ]});
    let out = muara_recordings::on_sqs_event(&deps, event.clone()).await;
    let failed = out.failed_ids();
    assert_eq!(failed, ["m-garbage"]);
    let n: i64 = pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM recordings.recording", &[])
        .await?
        .get(0);
    assert_eq!(n, 1);

    // The database gone: the sidecar's message comes back, the others do not depend on it.
    pool.close();
    let out = muara_recordings::on_sqs_event(&deps, event).await;
    let failed = out.failed_ids();
    assert_eq!(failed, ["m-sidecar", "m-garbage"]);
    Ok(())
}

/// The indexer's dependencies on an S3 lake, mail through SES.
fn ses_deps(
    store: &S3Store,
    pool: &muara_db::Pool,
    mail: &crate::support::MailFx,
) -> muara_recordings::Deps {
    muara_recordings::Deps {
        store: Arc::new(store.clone()),
        pool: pool.clone(),
        notify: Notify {
            mailer: mail.mailer.clone(),
            from: SENDER.into(),
            to: vec!["operators@example.com".into()],
        },
    }
}

/// The indexer's dependencies on a local lake, mail into an outbox under `dir`.
async fn outbox_deps(
    store: &muara_local::dirstore::DirStore,
    pool: &muara_db::Pool,
    dir: &Path,
) -> anyhow::Result<muara_recordings::Deps> {
    Ok(muara_recordings::Deps {
        store: Arc::new(store.clone()),
        pool: pool.clone(),
        notify: Notify {
            mailer: Arc::new(muara_local::mailer::OutboxMailer::open(dir.join("outbox")).await?),
            from: SENDER.into(),
            to: vec!["ops@example.com".into()],
        },
    })
}

/// The recordings ledger: every sidecar in the lake is indexed, refused with a reason, a
/// duplicate of an indexed recording, or (a notification lost) found unaccounted and indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sidecar_in_the_lake_is_indexed_refused_or_repaired() -> anyhow::Result<()> {
    use muara_recordings::ledger::{SETTLE, reconcile};
    let cfg = aws().await?;
    let client = muara_aws::s3_client(&cfg);
    let bucket = unique("muara-rec-ledger");
    client.create_bucket().bucket(&bucket).send().await?;
    let store = S3Store::new(client.clone(), &bucket);
    let work = std::env::temp_dir().join(unique("agent"));
    let spool = work.join("spool");
    muara_demo::recordings::write_day(&spool, time::macros::date!(2026 - 11 - 21), 12, 5)?;
    let agent = Agent::new(
        settings(&spool, &work.join("journal.redb"), ""),
        Arc::new(store.clone()),
    )?;
    assert_eq!(agent.once(false).await?.report.counts.uploaded, 12);
    let pool = pg_pool().await?;
    let mail = ses_mailer().await?;
    let deps = ses_deps(&store, &pool, &mail);
    let mut sidecars = keys(&store, "recordings/").await?;
    sidecars.retain(|k| k.ends_with(".json"));
    sidecars.sort();
    assert_eq!(sidecars.len(), 12);
    // Four notifications never arrive; a copy of one sidecar under another key; a broken one.
    for key in &sidecars[4..] {
        muara_recordings::on_object_created(&deps, key).await?;
    }
    let copy = store.get(&sidecars[4]).await?;
    store
        .put("recordings/copies/again.json", copy, &Default::default())
        .await?;
    store
        .put(
            "recordings/2026/11/21/broken.json",
            bytes::Bytes::from_static(b"{not a sidecar"),
            &Default::default(),
        )
        .await?;
    muara_recordings::on_object_created(&deps, "recordings/2026/11/21/broken.json").await?;

    let l = reconcile(&deps, "recordings/", None, SETTLE, false).await?;
    assert_eq!(
        (
            l.sidecars,
            l.indexed,
            l.refused,
            l.young,
            l.unaccounted.len()
        ),
        (14, 8, 1, 5, 0),
        "{l:?}"
    );
    let l = reconcile(&deps, "recordings/", None, std::time::Duration::ZERO, false).await?;
    assert_eq!(
        (l.indexed, l.refused, l.duplicates, l.unaccounted.len()),
        (8, 1, 1, 4),
        "{l:?}"
    );
    assert_eq!(l.unaccounted, sidecars[..4].to_vec());
    assert!(!l.balanced());
    let l = reconcile(&deps, "recordings/", None, std::time::Duration::ZERO, true).await?;
    assert_eq!(l.repaired, 4, "{l:?}");
    let l = reconcile(&deps, "recordings/", None, std::time::Duration::ZERO, false).await?;
    assert_eq!(
        (
            l.sidecars,
            l.indexed,
            l.refused,
            l.duplicates,
            l.unaccounted.len()
        ),
        (14, 12, 1, 1, 0),
        "{l:?}"
    );
    assert!(l.balanced());
    let n: i64 = pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM recordings.recording", &[])
        .await?
        .get(0);
    assert_eq!(n, 12);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
