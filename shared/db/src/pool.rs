//! The connection pool and the database health probe.

use crate::error::pg_error;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use muara_core::{Error, ErrorKind, Result};
use std::time::Duration;

pub use deadpool_postgres::Pool;

/// Builds a pool for `url` (TLS as its `sslmode` asks, see [`crate::tls`]) and waits until
/// the database answers, retrying with exponential
/// backoff (a database still starting, or briefly down, is normal at start-up) up to
/// `wait`. Gives up with the last error, classified.
pub async fn connect(url: &str, max_size: usize, wait: Duration) -> Result<Pool> {
    let (url, policy) = crate::tls::split_url(url)?;
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            "DATABASE_URL is not a valid PostgreSQL URL",
            e,
        )
    })?;
    no_progress_limits(&mut cfg);
    let mgr = Manager::from_config(
        cfg,
        crate::tls::connector(&policy)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(mgr)
        .max_size(max_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(10)))
        .wait_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| Error::with_source(ErrorKind::Config, "building the connection pool", e))?;

    let deadline = tokio::time::Instant::now() + wait;
    let mut delay = Duration::from_millis(100);
    loop {
        match ping(&pool).await {
            Ok(()) => return Ok(pool),
            Err(e) if e.is_retryable() && tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error = %e.chain(), retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(Error::with_source(
                    e.kind(),
                    format!("database not reachable after {:?}", wait),
                    e,
                ));
            }
        }
    }
}

/// Limits on a connection that stops making progress — never on how long work may take: a
/// dead peer (a database host gone, a network cut) surfaces as a retryable error within about
/// half a minute instead of a wait without end. TCP keepalives probe an idle connection;
/// `tcp_user_timeout` bounds how long sent data may stay unacknowledged (a COPY into a
/// vanished server); the server ends a session left idle inside a transaction by a client
/// that went away. A `DATABASE_URL` that sets any of these keeps its own values.
fn no_progress_limits(cfg: &mut tokio_postgres::Config) {
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(10));
    }
    if cfg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        // tokio-postgres' default: two hours of silence before the first probe.
        cfg.keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
    }
    if cfg.get_tcp_user_timeout().is_none() {
        cfg.tcp_user_timeout(Duration::from_secs(30));
    }
    let options = cfg.get_options().unwrap_or_default().to_string();
    if !options.contains("idle_in_transaction_session_timeout") {
        let joined = format!("{options} -c idle_in_transaction_session_timeout=600000");
        cfg.options(joined.trim());
    }
}

async fn ping(pool: &Pool) -> Result<()> {
    let client = pool.get().await.map_err(pool_error)?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| pg_error("SELECT 1", e))?;
    Ok(())
}

/// Maps a pool error: a backend error keeps its PostgreSQL classification; timeouts and
/// closed pools are retryable.
pub fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => pg_error("connecting to PostgreSQL", pg),
        other => Error::with_source(ErrorKind::Retryable, "getting a database connection", other),
    }
}

/// `/health` component for the database: version and round-trip.
#[derive(Debug, Clone)]
pub struct DbProbe(pub Pool);

#[async_trait]
impl muara_core::health::Probe for DbProbe {
    fn name(&self) -> &str {
        "database"
    }
    async fn check(&self) -> std::result::Result<String, muara_core::health::Unhealthy> {
        let client = self.0.get().await.map_err(pool_error)?;
        let row = client
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(|e| pg_error("health query", e))?;
        let v: String = row.get(0);
        Ok(format!("PostgreSQL {v}"))
    }
}
