//! The test harness: real services, started on demand, cleaned up afterwards.
//!
//! - [`postgres`]: a throwaway PostgreSQL cluster from the system's binaries (or the database
//!   in `DATABASE_URL`), started once per test process; [`TestPostgres::fresh_db`] gives each
//!   test its own database, cloned from a migrated template.
//! - [`moto`]: a `moto_server` on a free port with Step Functions execution enabled (or the
//!   emulator in `AWS_ENDPOINT_URL`), and an SDK config pointing at it.
//! - [`unique`] names and [`eventually`], which polls a condition until a deadline — tests
//!   never sleep for a fixed time.
//!
//! Services the harness starts are stopped, and their folders removed, by a small reaper
//! process that waits for the test process to exit, however it exits.

mod moto;
mod pg;

pub mod browser;
pub use moto::{Moto, moto, request, request_as};
pub use pg::{TestPostgres, postgres, private_cluster};

use std::future::Future;
use std::time::Duration;

/// A name no other test (or earlier run) uses: `<prefix>-<12 hex chars>`, lowercase, valid
/// for buckets, queues, tables and schemas.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Polls `check` until it returns `Some`, or fails after `deadline` naming `what`.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let end = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= end {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The workspace root (for `.venv/`, `statemachines/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::PathBuf::from("."))
}

/// Starts a detached reaper: when process `pid` is gone, runs `cleanup` (a shell snippet).
pub(crate) fn spawn_reaper(cleanup: &str) -> anyhow::Result<()> {
    let pid = std::process::id();
    let script = format!("while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok(())
}

/// Quotes a word for `sh`.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
