//! A PostgreSQL cluster started from the system's binaries, for `muara up` and the tests.
//!
//! Finds `initdb`/`pg_ctl` on `PATH` or under `/usr/lib/postgresql/*/bin`, initialises a data
//! folder once, and starts the server on `127.0.0.1` only. It trusts no one: every connection
//! (TCP and socket) authenticates with SCRAM-SHA-256 as `muara`, whose random password is
//! made at `initdb` and kept in `<data folder>/password` (mode 0600) — another user of the
//! machine cannot connect. `initdb` refuses to run as root, so as root the cluster runs as the
//! `postgres` system user through `runuser`.

use muara_core::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Explains how to get the binaries; shown whenever they cannot be found.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `sudo apt-get install postgresql`; Fedora: `sudo dnf install postgresql-server`; macOS: `brew install postgresql`) or set DATABASE_URL to an existing database.";

/// The PostgreSQL user the cluster is created with.
pub const SUPERUSER: &str = "muara";

/// Where the server binaries are, and who runs them.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bin_dir: PathBuf,
    /// `Some("postgres")` when running as root.
    pub run_as: Option<String>,
}

fn is_root() -> bool {
    // /proc/self/status: "Uid:\t<real>\t<effective>\t..." — no unsafe libc call needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Binaries {
    /// Finds the binaries, preferring `PATH`, then the newest `/usr/lib/postgresql/<v>/bin`.
    pub fn find() -> Result<Self> {
        let on_path = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        });
        let bin_dir = match on_path {
            Some(d) => d,
            None => {
                let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                    .map(|rd| {
                        rd.filter_map(|e| e.ok())
                            .filter_map(|e| {
                                let v: u32 = e.file_name().to_str()?.parse().ok()?;
                                let bin = e.path().join("bin");
                                bin.join("initdb").is_file().then_some((v, bin))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                versions.sort();
                versions
                    .pop()
                    .map(|(_, p)| p)
                    .ok_or_else(|| Error::config(INSTALL_HINT))?
            }
        };
        let run_as = is_root().then(|| "postgres".to_string());
        Ok(Self { bin_dir, run_as })
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin_dir.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.stdin(Stdio::null()).kill_on_drop(false);
        cmd
    }

    async fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::Config, format!("cannot run {program}"), e)
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(Error::fatal(format!(
                "{program} {} failed: {}",
                args.join(" "),
                text.trim()
            )));
        }
        Ok(text)
    }

    /// Hands `dir` to the user that runs the server (only when running as root).
    async fn give(&self, dir: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(dir)
                .status()
                .await?;
            if !status.success() {
                return Err(Error::fatal(format!(
                    "chown {} to {user} failed",
                    dir.display()
                )));
            }
            // The server user must be able to reach the folder through its parents.
            let probe = Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(dir)
                .status()
                .await?;
            if !probe.success() {
                return Err(Error::config(format!(
                    "{} is not reachable by the {user} user that runs PostgreSQL when muara runs as root; choose a data folder outside private home directories (e.g. --data-dir /var/tmp/muara) or run as an ordinary user",
                    dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// A running cluster.
#[derive(Clone)]
pub struct Cluster {
    pub data_dir: PathBuf,
    pub port: u16,
    bins: Binaries,
    password: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The file in a cluster's data folder that holds `muara`'s password.
pub const PASSWORD_FILE: &str = "password";

/// The URL of database `db` on the embedded cluster of `data_dir` listening on `port` (for a
/// command talking to a running `muara up`): its password read from the data folder.
pub fn embedded_url(data_dir: &Path, port: u16, db: &str) -> Result<String> {
    let file = data_dir.join(PASSWORD_FILE);
    let password = std::fs::read_to_string(&file).map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            format!(
                "cannot read the embedded cluster's password from {} (is this the data folder of `muara up`?)",
                file.display()
            ),
            e,
        )
    })?;
    Ok(url_with(password.trim(), port, db))
}

fn url_with(password: &str, port: u16, db: &str) -> String {
    format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/{db}")
}

/// The password of the cluster in `data_dir`: read, or made (64 hex characters) and written
/// with mode 0600 before anything else can read the folder.
fn password_of(data_dir: &Path) -> Result<(String, bool)> {
    let file = data_dir.join(PASSWORD_FILE);
    if let Ok(p) = std::fs::read_to_string(&file) {
        return Ok((p.trim().to_string(), false));
    }
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)?;
    f.write_all(password.as_bytes())?;
    f.sync_all()?;
    Ok((password, true))
}

/// `pg_hba.conf` of an embedded cluster: password (SCRAM) authentication for everyone.
const HBA: &str = "# muara: every connection authenticates (SCRAM-SHA-256); nobody is trusted.
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
";

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Cluster {
    /// Starts (initialising first if needed) the cluster in `data_dir` on `port`; if it is
    /// already running there, attaches to it. `durable: false` turns off fsync, for
    /// throwaway test clusters only.
    pub async fn start(data_dir: &Path, port: u16, durable: bool) -> Result<Self> {
        let bins = Binaries::find()?;
        tokio::fs::create_dir_all(data_dir).await?;
        let data_dir = tokio::fs::canonicalize(data_dir).await?;
        let pgdata = data_dir.join("pgdata");
        let d = pgdata.to_string_lossy().to_string();
        let initialised = pgdata.join("PG_VERSION").is_file();
        let (password, new_password) = password_of(&data_dir)?;
        bins.give(&data_dir).await?;
        if !initialised {
            tracing::info!(data_dir = %pgdata.display(), "initialising a PostgreSQL cluster");
            let pwfile = data_dir.join(PASSWORD_FILE).to_string_lossy().to_string();
            bins.run(
                "initdb",
                &[
                    "-D",
                    &d,
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    &format!("--pwfile={pwfile}"),
                    "--encoding=UTF8",
                    "--locale=C",
                ],
            )
            .await?;
        }
        // A cluster made before it had a password (trust): it gets one, and stops trusting.
        let upgrade = initialised && new_password;
        if let Some(running) = running_port(&pgdata)
            && bins.run("pg_ctl", &["-D", &d, "status"]).await.is_ok()
        {
            tracing::info!(port = running, "PostgreSQL already running");
            let cluster = Self {
                data_dir,
                port: running,
                bins,
                password,
            };
            if upgrade {
                cluster.stop_trusting().await?;
            }
            return Ok(cluster);
        }
        let mut opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            data_dir.display()
        );
        if !durable {
            opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = data_dir.join("postgres.log");
        let log_s = log.to_string_lossy().to_string();
        bins.run(
            "pg_ctl",
            &[
                "-D", &d, "-o", &opts, "-l", &log_s, "-w", "-t", "60", "start",
            ],
        )
        .await
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log)
                .map(|s| s.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            Error::with_source(
                e.kind(),
                format!("PostgreSQL did not start (log: {tail})"),
                e,
            )
        })?;
        tracing::info!(port, "PostgreSQL started");
        let cluster = Self {
            data_dir,
            port,
            bins,
            password,
        };
        if upgrade {
            cluster.stop_trusting().await?;
        }
        Ok(cluster)
    }

    /// Gives `muara` its password (over the old trust connection) and makes every connection
    /// authenticate from now on.
    async fn stop_trusting(&self) -> Result<()> {
        let trusted = format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port);
        let (client, conn) = tokio_postgres::connect(&trusted, tokio_postgres::NoTls)
            .await
            .map_err(|e| {
                muara_db::pg_error("connecting to the local cluster to set its password", e)
            })?;
        let task = tokio::spawn(conn);
        // The password is 64 hex characters: nothing to escape.
        client
            .batch_execute(&format!(
                "SET password_encryption = 'scram-sha-256'; ALTER ROLE {SUPERUSER} PASSWORD '{}'",
                self.password
            ))
            .await
            .map_err(|e| muara_db::pg_error("setting the local cluster's password", e))?;
        drop(client);
        let _ = task.await;
        let pgdata = self.data_dir.join("pgdata");
        tokio::fs::write(pgdata.join("pg_hba.conf"), HBA).await?;
        let d = pgdata.to_string_lossy().to_string();
        self.bins.run("pg_ctl", &["-D", &d, "reload"]).await?;
        tracing::warn!(data_dir = %self.data_dir.display(), "the local cluster trusted every local user; it now requires its password (kept in the data folder)");
        Ok(())
    }

    /// `postgres://muara:<password>@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        url_with(&self.password, self.port, db)
    }

    /// Creates `db` if missing.
    pub async fn ensure_database(&self, db: &str) -> Result<()> {
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .map_err(|e| muara_db::pg_error("connecting to the local cluster", e))?;
        let task = tokio::spawn(conn);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .await
            .map_err(|e| muara_db::pg_error("checking databases", e))?
            .is_some();
        if !exists {
            let ident = format!("\"{}\"", db.replace('"', "\"\""));
            client
                .batch_execute(&format!("CREATE DATABASE {ident}"))
                .await
                .map_err(|e| muara_db::pg_error("creating the database", e))?;
        }
        drop(client);
        let _ = task.await;
        Ok(())
    }

    /// Fast shutdown: disconnects clients, keeps the data. A server already gone (a terminal's
    /// Ctrl-C reaches it too) is fine.
    pub async fn stop(&self) -> Result<()> {
        let d = self.data_dir.join("pgdata").to_string_lossy().to_string();
        if self
            .bins
            .run("pg_ctl", &["-D", &d, "status"])
            .await
            .is_err()
        {
            return Ok(());
        }
        self.bins
            .run("pg_ctl", &["-D", &d, "-m", "fast", "-w", "stop"])
            .await?;
        Ok(())
    }

    /// The command lines that stop this cluster, for a reaper process that outlives us.
    pub fn stop_command(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(user) = &self.bins.run_as {
            v.extend([
                "runuser".to_string(),
                "-u".into(),
                user.clone(),
                "--".into(),
            ]);
        }
        v.push(
            self.bins
                .bin_dir
                .join("pg_ctl")
                .to_string_lossy()
                .to_string(),
        );
        v.extend([
            "-D".to_string(),
            self.data_dir.join("pgdata").to_string_lossy().to_string(),
            "-m".into(),
            "immediate".into(),
            "stop".into(),
        ]);
        v
    }
}

/// The port of a server recorded in `postmaster.pid` (4th line), if any.
fn running_port(pgdata: &Path) -> Option<u16> {
    let pid = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    pid.lines().nth(3)?.trim().parse().ok()
}
