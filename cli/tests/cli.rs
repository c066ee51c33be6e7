//! The `muara` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn muara() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muara"));
    c.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    c
}

#[test]
fn missing_configuration_is_one_clear_error_naming_the_variable() {
    let out = muara().args(["db", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing required environment variable DATABASE_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_retried_then_reported() {
    let port = muara_local_free_port();
    let out = muara()
        .args(["db", "migrate"])
        .env(
            "DATABASE_URL",
            format!("postgres://muara@127.0.0.1:{port}/muara"),
        )
        .env("MUARA_DB_CONNECT_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database not reachable after"), "{stderr}");
}

#[tokio::test]
async fn db_migrate_brings_a_database_up_to_date_and_is_idempotent() {
    let url = muara_testkit::postgres()
        .await
        .unwrap()
        .fresh_db()
        .await
        .unwrap();
    // The test database is cloned from a migrated template: nothing is pending.
    for _ in 0..2 {
        let out = muara()
            .args(["db", "migrate", "--local"])
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("0 migration(s) applied"), "{stdout}");
    }
}

/// `muara … | head`: a reader that goes away before the output is written ends the command
/// quietly — no panic, no error.
#[tokio::test]
async fn a_closed_output_pipe_is_not_a_panic() {
    let url = muara_testkit::postgres()
        .await
        .unwrap()
        .fresh_db()
        .await
        .unwrap();
    let mut child = muara()
        .args(["db", "migrate"])
        .env("DATABASE_URL", &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader leaves before the command has connected to the database and printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

fn muara_local_free_port() -> u16 {
    muara_local::postgres::free_port().unwrap()
}

/// An API on a free port that answers every request with `status` and `body`.
fn fake_api(status: u16, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// `muara batch start|restart|…` exit codes, as docs/configuration.md lists them: a cron run
/// with nothing to do is not an error, and busy, refused and failed are told apart.
/// Runs `args` against an API answering `status` and `body`: the exit code is `code` and the
/// output says `says`.
fn answers(args: &[&str], status: u16, body: &'static str, code: i32, says: &str) {
    let out = muara()
        .args(args)
        .args(["--api", &fake_api(status, body)])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "{body}: {text}");
    assert!(text.contains(says), "{body}: {text}");
}

#[test]
fn batch_runs_answer_with_distinct_exit_codes() {
    let cases: [(u16, &'static str, i32, &str); 6] = [
        (
            202,
            r#"{"outcome":"started","name":"acme-BATCH000001-start","batch_id":"BATCH000001"}"#,
            0,
            "started start of acme",
        ),
        (
            200,
            r#"{"outcome":"duplicate","name":"acme-BATCH000001-start"}"#,
            0,
            "exists already",
        ),
        (
            200,
            r#"{"outcome":"nothing_to_do","detail":"no new file"}"#,
            3,
            "nothing to do for acme",
        ),
        (
            200,
            r#"{"outcome":"busy","detail":"another batch is running"}"#,
            4,
            "busy",
        ),
        (
            200,
            r#"{"outcome":"unknown_client","moved_to_failed":2}"#,
            5,
            "not a configured client",
        ),
        (
            422,
            r#"{"error":"restart acme BATCH000009: nothing to run"}"#,
            5,
            "nothing to run",
        ),
    ];
    for (status, body, code, says) in cases {
        answers(&["batch", "start", "acme"], status, body, code, says);
    }
    // Unlock answers the same way: 0 unlocked, 3 nothing to unlock.
    for (body, code, says) in [
        (
            r#"{"outcome":"unlocked","previous_holder":"execution:acme-BATCH000003-start"}"#,
            0,
            "unlocked acme: the lease of execution:acme-BATCH000003-start is free",
        ),
        (r#"{"outcome":"not_locked"}"#, 3, "nothing to unlock"),
    ] {
        answers(&["batch", "unlock", "acme"], 200, body, code, says);
    }
    // No API at all: failed.
    let port = muara_local_free_port();
    let out = muara()
        .args([
            "batch",
            "start",
            "acme",
            "--api",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
