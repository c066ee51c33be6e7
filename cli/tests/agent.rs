//! `muara agent` as an operator runs it: killed in the middle of a multipart upload (SIGKILL,
//! no chance to clean up) and started again, it resumes the same upload, sends only the
//! missing parts, and leaves one verified object, one sidecar and a consistent journal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_s3::Client;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PART: usize = 5 * 1024 * 1024;

fn agent(config: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muara"));
    c.args(["agent", "once", "--json", "--config"])
        .arg(config)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("RUST_LOG", "info");
    c
}

/// Multipart uploads not completed or aborted. (Parts are read from the agent's log: moto's
/// ListParts answer has a root element the Rust SDK refuses.)
async fn open_uploads(s3: &Client, bucket: &str) -> Vec<String> {
    let ups = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    ups.uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_string))
        .collect()
}

/// `(upload id, part)` of every "part uploaded" line in a JSON log.
fn parts_logged(log: &str) -> Vec<(String, u64)> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "part uploaded")
        .map(|v| {
            (
                v["fields"]["upload_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["fields"]["part"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_resumes_its_multipart_upload_without_duplicates() {
    let moto = muara_testkit::moto().await.unwrap();
    let s3 = muara_aws::s3_client(&moto.sdk_config().await);
    let bucket = muara_testkit::unique("muara-agent");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let work = std::env::temp_dir().join(muara_testkit::unique("agent-kill"));
    let spool = work.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    // Two minutes of 48 kHz stereo: about 23 MB, five 5 MiB parts.
    let wav = muara_recordings::wav::tone_wav(48_000, 2, 120_000, 440.0);
    std::fs::write(spool.join("long-call.wav"), &wav).unwrap();
    std::fs::write(
        spool.join("long-call.xml"),
        "<recording><callId>C-LONG-1</callId><startTime>2026-11-21T09:00:00+07:00</startTime><duration>120</duration></recording>",
    )
    .unwrap();
    let config = work.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"rec-kill\"\n[source]\nfolders = [\"spool\"]\nstable_secs = 0\n[upload]\nmultipart_threshold_mib = 5\npart_size_mib = 5\nbandwidth_limit = \"4MB\"\n[run]\njournal = \"journal.redb\"\n[target]\nbucket = \"{bucket}\"\nregion = \"us-east-1\"\n"
        ),
    )
    .unwrap();

    // First run: killed once two parts are in.
    let mut child = agent(&config, &moto.endpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("first.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let upload_id = loop {
        assert!(Instant::now() < deadline, "no multipart progress seen");
        let log = std::fs::read_to_string(work.join("first.log")).unwrap_or_default();
        let parts = parts_logged(&log);
        if parts.len() >= 2 {
            break parts[0].0.clone();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the agent finished before it was killed:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let key = "recordings/2026/11/21/C-LONG-1.wav";
    assert_eq!(
        open_uploads(&s3, &bucket).await,
        std::slice::from_ref(&upload_id)
    );
    assert!(
        s3.head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .is_err(),
        "not complete yet"
    );

    // Second run: resumes the same upload and finishes.
    let out = agent(&config, &moto.endpoint).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming a multipart upload") && stderr.contains(&upload_id),
        "the same upload {upload_id} is resumed:\n{stderr}"
    );
    let resumed = parts_logged(&stderr);
    assert!(
        resumed.iter().all(|(id, n)| id == &upload_id && *n >= 3),
        "{resumed:?}"
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = &run["report"]["counts"];
    assert_eq!(counts["uploaded"], 1, "{run}");
    assert_eq!(counts["failed"], 0, "{run}");
    let sent = counts["bytes_uploaded"].as_u64().unwrap();
    assert!(
        sent <= (wav.len() - 2 * PART) as u64,
        "only the missing parts are sent again: {sent} of {} bytes",
        wav.len()
    );

    // One object, its composite checksum that of the file; no upload left behind.
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(wav.len() as i64));
    let reported = head.checksum_sha256().unwrap_or_default();
    assert!(
        muara_core::checksum::sha256_matches(reported, &wav, PART),
        "{reported}"
    );
    assert!(open_uploads(&s3, &bucket).await.is_empty());
    let objects = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("recordings/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        [
            "recordings/2026/11/21/C-LONG-1.json",
            "recordings/2026/11/21/C-LONG-1.wav"
        ]
    );

    // A third run has nothing to do; the journal says published.
    let out = agent(&config, &moto.endpoint).output().unwrap();
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["report"]["counts"]["unchanged"], 1, "{run}");
    assert_eq!(run["report"]["counts"]["bytes_uploaded"], 0, "{run}");
    let status = Command::new(env!("CARGO_BIN_EXE_muara"))
        .args(["agent", "status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["by_state"],
        serde_json::json!({"published": 1}),
        "{status}"
    );
    let _ = std::fs::remove_dir_all(&work);
}
