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
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
