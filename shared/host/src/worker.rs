//! Isolation of file stages under `muara up`. Convert, validate and load parse what users send;
//! a crash there (an abort, a stack overflow, an allocation over the memory limit — none of
//! which unwinding can catch) must fail that file, not the platform. Each execution of a file
//! stage therefore runs in a child process — the same binary's hidden `stage-worker` command,
//! running the same handler — with a memory limit; the host classifies how a child ended.
//!
//! Protocol: the stage's JSON input as one line on the child's stdin, which the host keeps open
//! while it waits (the child exits when it reads end of file: its host died); on stdout the
//! task outcome ([`muara_asl::outcome_to_json`]: a result or a handled failure); the child's
//! stderr is its log, passed through to the host's and kept (last lines) for a crash report.

use async_trait::async_trait;
use muara_asl::{TaskFailure, TaskInvoker};
use muara_batch::tasks::Stage;
use serde_json::Value;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

/// How to start a stage worker.
#[derive(Debug, Clone)]
pub struct StageWorker {
    /// The `muara` binary (the host's own executable).
    pub exe: PathBuf,
    /// Arguments before the stage name, e.g. `["stage-worker"]`.
    pub args: Vec<String>,
    /// Environment the worker needs (database URL, lake and data folders).
    pub env: Vec<(String, String)>,
    /// Heap limit of a worker (RLIMIT_DATA), in MiB; `None`: unlimited.
    pub memory_mb: Option<u64>,
}

/// Batch tasks with file stages in workers, the other stages in process.
#[derive(Debug, Clone)]
pub struct IsolatedBatchTasks {
    pub in_process: crate::pipelines::BatchTasks,
    pub worker: StageWorker,
}

/// What a worker prints on stdout for its stage's result.
pub fn answer(result: muara_core::Result<Value>) -> String {
    muara_asl::outcome_to_json(&crate::pipelines::task_outcome(result)).to_string()
}

/// Why a worker ended without an answer, in words.
fn how_it_ended(status: std::process::ExitStatus, memory_mb: Option<u64>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    let limit = memory_mb
        .map(|m| format!(" (its memory limit is {m} MiB)"))
        .unwrap_or_default();
    match (status.signal(), status.code()) {
        (Some(6), _) => {
            format!("it aborted (SIGABRT: a panic, or an allocation that failed{limit})")
        }
        (Some(11), _) => "it crashed (SIGSEGV: a stack overflow or a memory fault)".to_string(),
        (Some(9), _) => format!("it was killed (SIGKILL: out of memory?{limit})"),
        (Some(s), _) => format!("it was ended by signal {s}"),
        (None, Some(c)) => format!("it exited with code {c} without an answer"),
        (None, None) => "it ended without an answer".to_string(),
    }
}

impl IsolatedBatchTasks {
    async fn in_worker(&self, stage: Stage, input: Value) -> Result<Value, TaskFailure> {
        let crash = |what: String| TaskFailure {
            error: "Runtime.ExitError".into(),
            cause: format!("the {} crashed on this file: {what}", stage.title()),
        };
        let w = &self.worker;
        // `ulimit -d` bounds the heap (not the mapped binary), so a worker that would grow past
        // it fails its allocation and aborts — alone.
        let mut cmd = match w.memory_mb {
            Some(mb) => {
                let mut c = tokio::process::Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!(
                        "ulimit -d {} && exec \"$0\" \"$@\"",
                        mb.saturating_mul(1024)
                    ))
                    .arg(&w.exe);
                c
            }
            None => tokio::process::Command::new(&w.exe),
        };
        cmd.args(&w.args)
            .arg(stage.as_str())
            .envs(w.env.iter().map(|(k, v)| (k, v)))
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| crash(format!("the worker could not start: {e}")))?;
        let mut body = serde_json::to_vec(&input).unwrap_or_default();
        body.push(b'\n');
        // Kept open until the worker ends: a worker sees its host die as end of file.
        let mut stdin = child.stdin.take();
        if let Some(pipe) = stdin.as_mut() {
            // A worker that dies before reading its input is classified below.
            let _ = pipe.write_all(&body).await;
            let _ = pipe.flush().await;
        }
        let stderr = child.stderr.take();
        let tail = tokio::spawn(async move {
            let mut kept: std::collections::VecDeque<String> = Default::default();
            if let Some(err) = stderr {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    // The worker's log joins the host's.
                    {
                        use std::io::Write as _;
                        let _ = writeln!(std::io::stderr().lock(), "{line}");
                    }
                    if kept.len() == 8 {
                        kept.pop_front();
                    }
                    kept.push_back(line.chars().take(500).collect());
                }
            }
            kept.into_iter().collect::<Vec<_>>()
        });
        let mut out = Vec::new();
        if let Some(mut stdout) = child.stdout.take() {
            // One answer line; a runaway worker cannot fill the host's memory.
            let _ = (&mut stdout)
                .take(64 * 1024 * 1024)
                .read_to_end(&mut out)
                .await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| crash(format!("could not wait for the worker: {e}")))?;
        drop(stdin);
        let last = tail.await.unwrap_or_default();
        let answer = serde_json::from_slice::<Value>(&out)
            .ok()
            .and_then(muara_asl::outcome_from_json);
        match answer {
            Some(outcome) if status.success() => outcome,
            _ => {
                let mut what = how_it_ended(status, w.memory_mb);
                if !last.is_empty() {
                    what += &format!("; its last words: {}", last.join(" | "));
                }
                tracing::error!(%stage, reason = %what, "stage worker crashed");
                Err(crash(what))
            }
        }
    }
}

#[async_trait]
impl TaskInvoker for IsolatedBatchTasks {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        match resource.strip_prefix("muara:batch:") {
            Some(stage) => match stage.parse::<Stage>() {
                Ok(stage) if stage.reads_a_file() => self.in_worker(stage, input).await,
                _ => self.in_process.invoke(resource, input).await,
            },
            _ => self.in_process.invoke(resource, input).await,
        }
    }
}
