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
    let truth = muara_recordings::demo::write_day(&spool, day, 12, 3)?;
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
    let deps = muara_recordings::Deps {
        store: Arc::new(store.clone()),
        pool: pool.clone(),
        notify: Notify {
            mailer: mail.mailer.clone(),
            from: SENDER.into(),
            to: vec!["operators@example.com".into()],
        },
    };
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
    muara_recordings::demo::write_day(&spool, time::macros::date!(2026 - 11 - 21), 2, 9)?;
    let settings = settings(&spool, &dir.path().join("j.redb"), "");
    Agent::new(settings, Arc::new(store.clone()))?
        .once(false)
        .await?;
    let deps = muara_recordings::Deps {
        store: Arc::new(store.clone()),
        pool: pool.clone(),
        notify: Notify {
            mailer: Arc::new(
                muara_local::mailer::OutboxMailer::open(dir.path().join("outbox")).await?,
            ),
            from: SENDER.into(),
            to: vec!["ops@example.com".into()],
        },
    };
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
