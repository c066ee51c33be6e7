//! `muara`: the local runtime, database migrations and (as pipelines land) operations.

mod agent;
mod http;
mod table;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use muara_host::runtime::{UpConfig, up};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "muara",
    version,
    about = "Serverless data ingestion: run it locally, operate it in AWS."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log as JSON lines (the default when stderr is not a terminal).
    #[arg(long, global = true)]
    json_logs: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform on this machine.
    Up(UpArgs),
    /// Internal: run one file stage of a batch for `muara up` (input on stdin, answer on
    /// stdout), isolated in its own process.
    #[command(hide = true)]
    StageWorker { stage: String },
    /// Database administration.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Pipeline C: send a known load to POST /publish, then check GET /stats against it.
    PublishSim(SimArgs),
    /// API tokens of the local runtime (hashed at rest; each is shown once).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        /// Port of the running `muara up`'s embedded PostgreSQL cluster (ignored when DATABASE_URL is set).
        #[arg(long, global = true, env = "MUARA_PG_PORT", default_value_t = 54329)]
        pg_port: u16,
        /// The data folder of that `muara up` (its cluster's password is there; ignored when
        /// DATABASE_URL is set).
        #[arg(long, global = true, env = "MUARA_DATA_DIR", default_value = ".muara")]
        data_dir: PathBuf,
    },
    /// Pipeline A: the recording agent (upload a recorder's calls to the lake).
    Agent {
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// Pipeline D: the message funnel's export and keyword sheet (through the platform's API).
    Funnel {
        #[command(subcommand)]
        command: FunnelCommand,
        /// The platform's API.
        #[arg(
            long,
            global = true,
            env = "MUARA_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
    },
    /// Pipeline B: run a client's batches and see what they did (through the platform's API).
    Batch {
        #[command(subcommand)]
        command: BatchCommand,
        /// The platform's API.
        #[arg(
            long,
            global = true,
            env = "MUARA_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
    },
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// The platform's API.
    #[arg(long, env = "MUARA_API_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Events to send (repeats included).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Topics to spread them over.
    #[arg(long, default_value_t = 10)]
    topics: usize,
    /// Share of events that repeat an earlier one, 0.0–0.9.
    #[arg(long, default_value_t = 0.3)]
    duplicates: f64,
    /// Events per request (1 sends single events).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds to wait for the worker to store everything.
    #[arg(long, default_value_t = 120)]
    settle_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum FunnelCommand {
    /// The funnel rows whose lead date is in [from, to) as CSV, streamed to a file.
    Export {
        /// First lead date (YYYY-MM-DD; default 30 days before `to`).
        #[arg(long)]
        from: Option<String>,
        /// Day after the last lead date (YYYY-MM-DD; default tomorrow).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the keyword lists with a published sheet (CSV with columns opening, booking,
    /// transaction); an invalid sheet changes nothing and says why.
    SyncKeywords {
        #[arg(long)]
        csv_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum BatchCommand {
    /// Batch the client's new files in raw/<client>/*/incoming/ under a new batch id.
    Start {
        client: String,
        /// Print the API's JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Run a batch's failed files again under the same id (those in incoming/, else the chosen
    /// or all failed files); files that loaded are never touched.
    Restart {
        client: String,
        /// Default: the client's latest batch.
        #[arg(long)]
        batch_id: Option<String>,
        /// Only these failed files (physical, Parquet or logical names, comma-separated).
        #[arg(long, value_delimiter = ',')]
        files: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Validate and load a batch's files again from their Parquet, wherever it is (incoming/,
    /// failed/ or archive/): the chosen files, else the failed ones, else the whole batch.
    Reprocess {
        client: String,
        #[arg(long)]
        batch_id: Option<String>,
        /// Only these files (physical, Parquet or logical names, comma-separated).
        #[arg(long, value_delimiter = ',')]
        files: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run only the SQL steps of a batch again: transform, integrate, refresh views.
    Refresh {
        client: String,
        /// Default: the client's latest batch.
        #[arg(long)]
        batch_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The client's batches, or one batch's executions, files and SQL steps.
    Status {
        client: String,
        batch_id: Option<String>,
        /// Print the API's JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Free the client's batch lease whoever holds it (the rare manual case: a run that is gone
    /// is taken over by the next request on its own). Audited; a run still alive under the old
    /// lease can no longer write.
    Unlock {
        client: String,
        #[arg(long)]
        json: bool,
    },
    /// One batch's validation, load and step logs.
    Logs {
        client: String,
        batch_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Folder for the embedded PostgreSQL cluster, the outbox and (by default) the lake.
    #[arg(long, env = "MUARA_DATA_DIR", default_value = ".muara")]
    data_dir: PathBuf,
    /// The local "bucket": objects are files under this folder, same keys as in S3.
    #[arg(long, env = "MUARA_LAKE_DIR")]
    lake_dir: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[arg(long, env = "MUARA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Port of the embedded PostgreSQL cluster (ignored when DATABASE_URL is set).
    #[arg(long, env = "MUARA_PG_PORT", default_value_t = 54329)]
    pg_port: u16,
    /// Folder of state machine definitions (*.asl.json).
    #[arg(long, env = "MUARA_STATEMACHINES_DIR", default_value = "statemachines")]
    statemachines_dir: PathBuf,
    /// How often the lake folder is scanned for new files, in milliseconds.
    #[arg(long, env = "MUARA_SCAN_INTERVAL_MS", default_value_t = 1000)]
    scan_interval_ms: u64,
    /// Load demo data.
    #[arg(long)]
    demo: bool,
    /// Heap limit of each file stage's worker process (convert, validate, load), in MiB;
    /// 0: no limit. A file that needs more fails alone, with that reason.
    #[arg(long, env = "MUARA_STAGE_MEMORY_MB", default_value_t = 2048)]
    stage_memory_mb: u64,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a token and print it (once).
    Create {
        /// viewer (read), operator (+ run batches, publish, redrive), admin (+ configuration, tokens).
        #[arg(long)]
        role: muara_api::Role,
        /// Who holds it: the name the audit log records.
        #[arg(long)]
        name: String,
        /// Expire after this many days (default: never).
        #[arg(long)]
        ttl_days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply pending migrations to DATABASE_URL.
    Migrate {
        /// Also create the local runtime's tables (queue, locks, executions).
        #[arg(long)]
        local: bool,
    },
}

fn init_tracing(json: bool) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json || !std::io::stderr().is_terminal() {
        // The innermost span's fields (a stage's client, batch and file) on every line.
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.compact().init();
    }
}

/// Exit codes of `muara batch start|restart|reprocess|refresh` (docs/configuration.md): a cron
/// job can tell "nothing to do" from a failure.
mod exit {
    /// A run was started (or one with this name exists already).
    pub const DONE: u8 = 0;
    /// Anything that failed: the API unreachable, a server error, a bad answer.
    pub const FAILED: u8 = 1;
    /// No new file was waiting: not an error.
    pub const NOTHING_TO_DO: u8 = 3;
    /// Another batch of the client is running; it picks up new files when it finishes.
    pub const BUSY: u8 = 4;
    /// The request was refused (unknown client or batch, nothing to rerun, bad files…).
    pub const REFUSED: u8 = 5;
}

/// An outcome that ends the command with a code other than 0, after its message.
#[derive(Debug)]
struct ExitWith {
    code: u8,
    message: String,
}

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitWith {}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.json_logs);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<ExitWith>() {
            // Refused: an error, with why.
            Some(x) if x.code == exit::REFUSED => {
                eprintln!("error: {x}");
                std::process::ExitCode::from(x.code)
            }
            // Not a failure (nothing to do, busy): said on stdout, with its own code.
            Some(x) => {
                report(&x.message);
                std::process::ExitCode::from(x.code)
            }
            None => {
                // One clear line (with its causes) for the operator, no panic, non-zero exit.
                eprintln!("error: {e:#}");
                std::process::ExitCode::from(exit::FAILED)
            }
        },
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => run_up(args).await,
        Command::StageWorker { stage } => stage_worker(&stage).await,
        Command::Agent { command } => agent::run(command, shutdown_signal()).await,
        Command::Funnel { command, api } => funnel(command, &api).await,
        Command::Token {
            command,
            pg_port,
            data_dir,
        } => token(command, pg_port, &data_dir).await,
        Command::PublishSim(a) => {
            if !(0.0..=0.9).contains(&a.duplicates) {
                anyhow::bail!("--duplicates must be between 0.0 and 0.9");
            }
            let sim = muara_demo::sim::run(&muara_demo::sim::SimConfig {
                url: a.url.clone(),
                token: std::env::var("MUARA_TOKEN").ok(),
                events: a.events,
                topics: a.topics,
                duplicate_rate: a.duplicates,
                batch_size: a.batch_size,
                concurrency: a.concurrency,
                seed: a.seed,
                settle: Duration::from_secs(a.settle_secs),
            })
            .await
            .with_context(|| format!("publishing to {}", a.url))?;
            if a.json {
                report(&serde_json::to_string_pretty(&sim)?);
            } else {
                report(&sim.render());
            }
            if !sim.problems.is_empty() {
                anyhow::bail!("the stats do not match what was sent");
            }
            Ok(())
        }
        Command::Batch { command, api } => {
            let (client, mode, batch_id, files, json) = match command {
                BatchCommand::Start { client, json } => (client, "start", None, vec![], json),
                BatchCommand::Restart {
                    client,
                    batch_id,
                    files,
                    json,
                } => (client, "restart", batch_id, files, json),
                BatchCommand::Reprocess {
                    client,
                    batch_id,
                    files,
                    json,
                } => (client, "reprocessing", batch_id, files, json),
                BatchCommand::Refresh {
                    client,
                    batch_id,
                    json,
                } => (client, "refresh", batch_id, vec![], json),
                BatchCommand::Unlock { client, json } => (client, "unlock", None, vec![], json),
                BatchCommand::Status {
                    client,
                    batch_id,
                    json,
                } => {
                    let (path, render): (String, fn(&serde_json::Value) -> String) = match &batch_id
                    {
                        Some(b) => (format!("/clients/{client}/batches/{b}"), table::batch),
                        None => (format!("/clients/{client}/batches"), table::batches),
                    };
                    return show(&api, &path, json, render).await;
                }
                BatchCommand::Logs {
                    client,
                    batch_id,
                    json,
                } => {
                    let path = format!("/clients/{client}/batches/{batch_id}/logs");
                    return show(&api, &path, json, table::logs).await;
                }
            };
            let body =
                serde_json::json!({"mode": mode, "batch_id": batch_id, "files": files}).to_string();
            let (status, answer) =
                http::send(&api, "POST", &format!("/clients/{client}/batches"), &body).await?;
            let parsed = serde_json::from_str::<serde_json::Value>(&answer);
            if !(200..300).contains(&status) {
                let why = parsed
                    .as_ref()
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string))
                    .unwrap_or(answer);
                let message = format!("the API refused ({status}): {why}");
                if (400..500).contains(&status) {
                    return Err(ExitWith {
                        code: exit::REFUSED,
                        message,
                    }
                    .into());
                }
                anyhow::bail!(message);
            }
            let v = parsed.context("the API answered with something that is not JSON")?;
            let text = if json {
                serde_json::to_string_pretty(&v)?
            } else {
                table::run_outcome(&client, mode, &v)
            };
            let code = match v["outcome"].as_str() {
                Some("started" | "duplicate" | "unlocked") => exit::DONE,
                Some("nothing_to_do" | "not_locked") => exit::NOTHING_TO_DO,
                Some("busy") => exit::BUSY,
                Some("unknown_client") => exit::REFUSED,
                _ => exit::FAILED,
            };
            if code == exit::DONE {
                report(&text);
                return Ok(());
            }
            Err(ExitWith {
                code,
                message: text,
            }
            .into())
        }
        Command::Db {
            command: DbCommand::Migrate { local },
        } => {
            let url = muara_core::config::required("DATABASE_URL")?;
            let pool = muara_db::connect(&url, 2, db_connect_timeout()?).await?;
            let mut applied = muara_db::PLATFORM.apply(&pool).await?;
            if local {
                applied.extend(muara_local::LOCAL_MIGRATIONS.apply(&pool).await?);
            }
            report(&format!(
                "{} migration(s) applied; the database is up to date",
                applied.len()
            ));
            Ok(())
        }
    }
}

/// `muara token …` against DATABASE_URL, or the embedded cluster of a running `muara up`.
async fn token(command: TokenCommand, pg_port: u16, data_dir: &Path) -> anyhow::Result<()> {
    let url = match muara_core::config::optional("DATABASE_URL") {
        Some(url) => url,
        None => muara_local::postgres::embedded_url(&data_dir.join("postgres"), pg_port, "muara")?,
    };
    let pool = muara_db::connect(&url, 2, db_connect_timeout()?)
        .await
        .context("connecting to the database (is `muara up` running, or DATABASE_URL set?)")?;
    let store = muara_console::TokenStore::new(pool);
    let actor = muara_api::Principal::system(
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        "cli",
    );
    match command {
        TokenCommand::Create {
            role,
            name,
            ttl_days,
        } => {
            let made = store.create_token(&actor, &name, role, ttl_days).await?;
            report(&format!(
                "{}\n(token {name}, role {role}; shown once: keep it. Use it as MUARA_TOKEN or in the console.)",
                made.token
            ));
        }
        TokenCommand::List => {
            report(&serde_json::to_string_pretty(&store.list_tokens().await?)?);
        }
        TokenCommand::Revoke { id } => {
            let row = store.revoke_token(&actor, id).await?;
            report(&format!("revoked: {}", serde_json::to_string(&row)?));
        }
    }
    Ok(())
}

/// GETs an API path and prints it as JSON or as tables.
async fn show(
    api: &str,
    path: &str,
    json: bool,
    render: fn(&serde_json::Value) -> String,
) -> anyhow::Result<()> {
    let (status, answer) = http::send(api, "GET", path, "").await?;
    let v: serde_json::Value = serde_json::from_str(&answer)
        .with_context(|| format!("the API answered {status} with something that is not JSON"))?;
    if !(200..300).contains(&status) {
        anyhow::bail!(
            "the API refused ({status}): {}",
            v["error"].as_str().unwrap_or(&answer)
        );
    }
    if json {
        report(&serde_json::to_string_pretty(&v)?);
    } else {
        report(&render(&v));
    }
    Ok(())
}

fn db_connect_timeout() -> anyhow::Result<Duration> {
    Ok(muara_core::config::seconds_or(
        "MUARA_DB_CONNECT_TIMEOUT_SECS",
        Duration::from_secs(30),
    )?)
}

/// Prints CLI output. A reader that went away (`muara batch status … | head`) ends the
/// command quietly, as it would end `cat`; it is not an error and never a panic.
fn report(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        tracing::warn!(error = %e, "could not write to standard output");
    }
}

/// One file stage in a worker process of `muara up` (see `muara_host::worker`).
async fn stage_worker(stage: &str) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Read as _};
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024 * 1024)
        .read_until(b'\n', &mut input)
        .context("reading the stage input")?;
    // The host keeps our stdin open while it waits for us: end of file means it died (a
    // crash, kill -9), and a stage nobody waits for must not go on writing.
    std::thread::spawn(|| {
        let mut byte = [0u8; 1];
        loop {
            match std::io::stdin().read(&mut byte) {
                Ok(0) | Err(_) => std::process::exit(70),
                Ok(_) => {}
            }
        }
    });
    let input: serde_json::Value =
        serde_json::from_slice(&input).context("the stage input is not JSON")?;
    // Every way this ends is answered, set-up included: a database that is away while the
    // worker starts is a retryable failure of the stage, not a crash of it.
    let deps = async {
        muara_host::pipelines::worker_batch_deps(
            &muara_core::config::required("DATABASE_URL")?,
            &PathBuf::from(muara_core::config::required("MUARA_LAKE_DIR")?),
            &PathBuf::from(muara_core::config::required("MUARA_DATA_DIR")?),
        )
        .await
    };
    let outcome = match deps.await {
        Ok(deps) => match stage.parse() {
            Ok(stage) => muara_batch::tasks::run_stage(&deps, stage, input).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    report(&muara_host::worker::answer(outcome));
    Ok(())
}

async fn run_up(args: UpArgs) -> anyhow::Result<()> {
    let lake_dir = args
        .lake_dir
        .clone()
        .unwrap_or_else(|| args.data_dir.join("lake"));
    let cfg = UpConfig {
        data_dir: args.data_dir.clone(),
        lake_dir,
        listen: args.listen,
        database_url: muara_core::config::optional("DATABASE_URL"),
        pg_port: args.pg_port,
        smtp_url: muara_core::config::optional("MUARA_SMTP_URL"),
        statemachines_dir: Some(args.statemachines_dir.clone()),
        scan_interval: Duration::from_millis(args.scan_interval_ms.max(50)),
        db_connect_timeout: db_connect_timeout()?,
        demo: args.demo,
        stage_worker: Some(muara_host::worker::StageWorker {
            exe: std::env::current_exe().context("locating the muara binary for stage workers")?,
            args: vec!["stage-worker".into()],
            env: vec![],
            memory_mb: (args.stage_memory_mb > 0).then_some(args.stage_memory_mb),
        }),
        ..UpConfig::new(PathBuf::new(), PathBuf::new(), args.listen)
    };
    let settings = muara_batch::model::Settings::from_env()?;
    let cfg = UpConfig {
        mail_from: settings.mail_from.unwrap_or(cfg.mail_from.clone()),
        mail_to: if settings.mail_to.is_empty() {
            cfg.mail_to.clone()
        } else {
            settings.mail_to
        },
        step_concurrency: settings.step_concurrency,
        retention: settings.retention,
        housekeeping_interval: muara_core::config::seconds_or(
            "MUARA_HOUSEKEEPING_INTERVAL_SECS",
            cfg.housekeeping_interval,
        )?,
        event_workers: muara_core::config::parsed_or("MUARA_EVENT_WORKERS", cfg.event_workers)?
            .clamp(1, 32),
        funnel: muara_host::runtime::FunnelSettings {
            sheet_url: muara_core::config::optional("MUARA_KEYWORDS_SHEET_URL"),
            sheet_interval: muara_core::config::seconds_or(
                "MUARA_KEYWORDS_SYNC_SECS",
                cfg.funnel.sheet_interval,
            )?,
            secret: muara_core::config::optional("MUARA_WEBHOOK_SECRET"),
            verify_token: muara_core::config::optional("MUARA_WEBHOOK_VERIFY_TOKEN"),
            timezone: muara_core::config::optional("MUARA_FUNNEL_TIMEZONE")
                .unwrap_or(cfg.funnel.timezone.clone()),
            keywords_ttl: muara_core::config::seconds_or(
                "MUARA_KEYWORDS_TTL_SECS",
                cfg.funnel.keywords_ttl,
            )?,
        },
        ..cfg
    };
    let rx = shutdown_signal();
    up(
        cfg,
        vec![],
        |r| {
            if let Some(t) = &r.admin_token {
                report(&format!(
                    "First start: an admin token was made. It is shown this once; keep it (only its hash is stored):\n  {t}\nMore tokens: muara token create --role viewer|operator|admin --name NAME"
                ));
            }
            report(&format!(
                "muara is up\n  console     http://{0}/console\n  API         http://{0}  (Authorization: Bearer <token>; public: GET /health, /webhook/<channel>)\n  database    {1}\n  lake        {2}  (drop files under raw/<client>/<source>/incoming/)\n  outbox      {3}\n  machines    {4}\nPress Ctrl-C to stop.",
                r.http,
                r.database_url,
                r.lake_dir.display(),
                r.outbox.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "SMTP (MUARA_SMTP_URL)".into()),
                if r.machines.is_empty() { "(none yet)".to_string() } else { r.machines.join(", ") },
            ));
        },
        rx,
    )
    .await
    .context("muara up")
}

/// Flips on Ctrl-C in a terminal, or SIGTERM from a service manager or `kill`.
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

async fn funnel(cmd: FunnelCommand, api: &str) -> anyhow::Result<()> {
    match cmd {
        FunnelCommand::Export {
            from,
            to,
            channel,
            out,
        } => {
            let mut query = Vec::new();
            for (k, v) in [("from", from), ("to", to), ("channel", channel)] {
                if let Some(v) = v {
                    let v = percent_encoding::utf8_percent_encode(
                        &v,
                        percent_encoding::NON_ALPHANUMERIC,
                    );
                    query.push(format!("{k}={v}"));
                }
            }
            let url = format!(
                "{}/funnel-report.csv?{}",
                api.trim_end_matches('/'),
                query.join("&")
            );
            let deadline = Duration::from_secs(3600);
            let mut file = tokio::fs::File::create(&out)
                .await
                .with_context(|| format!("creating {}", out.display()))?;
            let token = std::env::var("MUARA_TOKEN").ok();
            let bytes =
                muara_funnel::client::download(&url, token.as_deref(), &mut file, deadline).await;
            file.sync_all().await?;
            let bytes =
                bytes.with_context(|| format!("exporting from {api} (is `muara up` running?)"))?;
            report(&format!("{bytes} bytes written to {}", out.display()));
            Ok(())
        }
        FunnelCommand::SyncKeywords { csv_url } => {
            let keywords = muara_funnel::sheet::fetch(&csv_url)
                .await
                .with_context(|| format!("the sheet {csv_url} was not applied"))?;
            let put =
                serde_json::json!({"keywords": keywords, "source": format!("sheet {csv_url}")});
            let (status, answer) = http::send(api, "PUT", "/keywords", &put.to_string()).await?;
            if !(200..300).contains(&status) {
                anyhow::bail!("the API refused the keywords ({status}): {answer}");
            }
            report(&answer);
            Ok(())
        }
    }
}
