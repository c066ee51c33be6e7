//! `muara agent once|run|status`: the recording agent on the recorder's host.

use anyhow::Context as _;
use muara_agent::config::{Config, Settings};
use muara_agent::upload::{Lake, Progress};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// One pass: upload what is new and complete, write the run report, exit.
    Once {
        #[arg(long, short, env = "MUARA_AGENT_CONFIG")]
        config: PathBuf,
        /// Show what would be uploaded; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run as a service: a pass every `run.interval_secs` until stopped (SIGTERM, Ctrl-C).
    Run {
        #[arg(long, short, env = "MUARA_AGENT_CONFIG")]
        config: PathBuf,
    },
    /// What the journal holds: recordings per state, and every failure with its reason.
    Status {
        #[arg(long, short, env = "MUARA_AGENT_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

async fn lake(settings: &Settings) -> anyhow::Result<Arc<dyn Lake>> {
    let t = &settings.target;
    if let Some(dir) = &t.local_dir {
        let store = muara_local::dirstore::DirStore::open(dir)
            .await
            .with_context(|| format!("opening the local lake {}", dir.display()))?;
        return Ok(Arc::new(store));
    }
    let bucket = t
        .bucket
        .clone()
        .context("[target] needs bucket or local_dir")?;
    let endpoint = t.endpoint_url.clone().or_else(muara_aws::endpoint_override);
    let cfg = muara_aws::config::load_sdk_config_with(
        t.profile.as_deref(),
        t.region.as_deref(),
        endpoint.as_deref(),
    )
    .await;
    let client = muara_aws::s3_client(&cfg);
    let part = usize::try_from(settings.part_size).unwrap_or(usize::MAX);
    let threshold = usize::try_from(settings.multipart_threshold).unwrap_or(usize::MAX);
    Ok(Arc::new(
        muara_aws::s3::S3Store::new(client, bucket).with_multipart(threshold, part),
    ))
}

fn load(config: &Path) -> anyhow::Result<Settings> {
    Ok(Config::load(config)?)
}

pub async fn run(
    cmd: AgentCommand,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Status { config, json } => {
            let settings = load(&config)?;
            let journal = muara_agent::journal::Journal::open(&settings.journal)?;
            let status = muara_agent::run::status(&journal, &settings.journal)?;
            if json {
                crate::report(&serde_json::to_string_pretty(&status)?);
            } else {
                crate::report(&crate::table::agent_status(&status));
            }
            Ok(())
        }
        AgentCommand::Once {
            config,
            dry_run,
            json,
        } => {
            let settings = load(&config)?;
            let agent = muara_agent::Agent::new(settings.clone(), lake(&settings).await?)?;
            let ticker = progress_line(agent.progress());
            let summary = agent.once(dry_run).await;
            if let Some(t) = ticker {
                t.abort();
                eprint!("\r\x1b[2K");
            }
            let summary = summary?;
            if json {
                crate::report(&serde_json::to_string_pretty(&serde_json::json!({
                    "report": summary.report,
                    "report_key": summary.report_key,
                    "planned": summary.planned.iter().map(|(f, k, b)| serde_json::json!({"file": f, "key": k, "bytes": b})).collect::<Vec<_>>(),
                }))?);
            } else {
                crate::report(&crate::table::agent_run(&summary));
            }
            Ok(())
        }
        AgentCommand::Run { config } => {
            let settings = load(&config)?;
            let every = settings.interval;
            let agent = muara_agent::Agent::new(settings.clone(), lake(&settings).await?)?;
            let mut stop = shutdown;
            loop {
                // A stop in the middle of a pass drops it: every journal write is already
                // committed or not started, and the next start resumes from there.
                let pass = tokio::select! {
                    r = agent.once(false) => r,
                    _ = stop.changed() => break,
                };
                match pass {
                    Ok(s) => {
                        let c = &s.report.counts;
                        tracing::info!(run_id = %s.report.run_id, uploaded = c.uploaded, already_present = c.already_present, failed = c.failed, waiting = c.waiting, bytes = c.bytes_uploaded, "agent pass finished");
                    }
                    Err(e) => tracing::error!(error = %e.chain(), "agent pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
            }
            Ok(())
        }
    }
}

/// Files, bytes, rate and ETA on one refreshed stderr line, when stderr is a terminal.
fn progress_line(p: Arc<Progress>) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let t0 = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (done, total) = (
                p.files_done.load(Ordering::Relaxed),
                p.files_total.load(Ordering::Relaxed),
            );
            let (sent, bytes) = (
                p.bytes_sent.load(Ordering::Relaxed),
                p.bytes_total.load(Ordering::Relaxed),
            );
            let secs = t0.elapsed().as_secs_f64().max(0.001);
            let rate = sent as f64 / secs;
            let eta = if rate > 0.0 && bytes > sent {
                format!("{:.0}s", (bytes - sent) as f64 / rate)
            } else {
                "-".into()
            };
            eprint!(
                "\r\x1b[2K{done}/{total} files  {:.1}/{:.1} MB  {:.1} MB/s  ETA {eta}",
                sent as f64 / 1e6,
                bytes as f64 / 1e6,
                rate / 1e6
            );
            let _ = std::io::stderr().flush();
        }
    }))
}
