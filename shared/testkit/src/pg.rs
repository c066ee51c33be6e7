use crate::{shell_quote, spawn_reaper};
use anyhow::Context as _;
use muara_local::postgres::{Cluster, free_port};
use tokio::sync::{Mutex, OnceCell};

/// The test process's PostgreSQL: a server URL (without database) and a migrated template.
#[derive(Debug)]
pub struct TestPostgres {
    /// `postgres://user@host:port` — no database part.
    server: String,
    /// Options after the database name (`?…`), kept from `DATABASE_URL`.
    query: String,
    template: String,
    /// The database administrative statements connect to.
    admin_db: String,
    clone_lock: Mutex<()>,
}

static PG: OnceCell<TestPostgres> = OnceCell::const_new();

/// The shared PostgreSQL of this test process, started on first use.
pub async fn postgres() -> anyhow::Result<&'static TestPostgres> {
    PG.get_or_try_init(init).await
}

fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base
        .find("://")
        .context("DATABASE_URL must be a postgres:// URL")?
        + 3;
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    Ok((server.to_string(), query))
}

async fn admin(server: &str, query: &str, db: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) =
        tokio_postgres::connect(&format!("{server}/{db}{query}"), tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {server}/{db}"))?;
    tokio::spawn(conn);
    Ok(client)
}

async fn init() -> anyhow::Result<TestPostgres> {
    let (server, query, admin_db) = match muara_core::config::optional("DATABASE_URL") {
        Some(url) => {
            let (s, q) = split_url(&url)?;
            let db = url
                .split('?')
                .next()
                .and_then(|b| b.rsplit_once('/'))
                .map(|(_, d)| d.to_string())
                .filter(|d| !d.is_empty() && !d.contains(':'))
                .unwrap_or_else(|| "postgres".into());
            (s, q, db)
        }
        None => {
            let cluster = reaped_cluster("muara-test-pg")
                .await
                .context("starting a throwaway PostgreSQL for the tests")?;
            let url = cluster.url("postgres");
            let (s, q) = split_url(&url)?;
            (s, q, "postgres".to_string())
        }
    };
    // A template migrated once; each test's database is a cheap copy of it.
    let template = crate::unique("muara_tpl").replace('-', "_");
    let client = admin(&server, &query, &admin_db).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .await
        .context("creating the template database")?;
    let url = format!("{server}/{template}{query}");
    {
        let pool = muara_db::connect(&url, 2, std::time::Duration::from_secs(30)).await?;
        muara_db::PLATFORM.apply(&pool).await?;
        muara_local::LOCAL_MIGRATIONS.apply(&pool).await?;
        pool.close();
    }
    Ok(TestPostgres {
        server,
        query,
        template,
        admin_db,
        clone_lock: Mutex::new(()),
    })
}

impl TestPostgres {
    /// A new, migrated database for one test; returns its URL.
    pub async fn fresh_db(&self) -> anyhow::Result<String> {
        let name = crate::unique("muara_t").replace('-', "_");
        {
            // CREATE DATABASE … TEMPLATE needs the template to be idle: one copy at a time.
            let _guard = self.clone_lock.lock().await;
            let client = admin(&self.server, &self.query, &self.admin_db).await?;
            client
                .batch_execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE {}",
                    self.template
                ))
                .await
                .with_context(|| format!("creating test database {name}"))?;
        }
        Ok(format!("{}/{name}{}", self.server, self.query))
    }

    /// A pool on a fresh database.
    pub async fn fresh_pool(&self) -> anyhow::Result<muara_db::Pool> {
        let url = self.fresh_db().await?;
        Ok(muara_db::connect(&url, 8, std::time::Duration::from_secs(10)).await?)
    }
}

/// A PostgreSQL cluster of the caller's own, for a test that stops or restarts the server
/// (the shared one must stay up). Its database `muara` is migrated; the cluster is stopped and
/// removed when the test process exits.
pub async fn private_cluster() -> anyhow::Result<(Cluster, String)> {
    let cluster = reaped_cluster("muara-test-pg-own")
        .await
        .context("starting a private PostgreSQL")?;
    cluster.ensure_database("muara").await?;
    let url = cluster.url("muara");
    let pool = muara_db::connect(&url, 2, std::time::Duration::from_secs(30)).await?;
    muara_db::PLATFORM.apply(&pool).await?;
    pool.close();
    Ok((cluster, url))
}

/// A throwaway cluster on a free port, stopped and removed when the test process exits.
async fn reaped_cluster(prefix: &str) -> anyhow::Result<Cluster> {
    let dir = std::env::temp_dir().join(crate::unique(prefix));
    let cluster = Cluster::start(&dir, free_port()?, false).await?;
    let stop: Vec<String> = cluster
        .stop_command()
        .iter()
        .map(|w| shell_quote(w))
        .collect();
    spawn_reaper(&format!(
        "{} >/dev/null 2>&1; rm -rf {}",
        stop.join(" "),
        shell_quote(&cluster.data_dir.to_string_lossy())
    ))?;
    Ok(cluster)
}
