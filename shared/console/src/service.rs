//! [`PgConsole`]: the console's reads and configuration changes over PostgreSQL, answered as
//! typed values ([`ClientList`], [`ClientCreated`], [`ClientConfig`], [`RowWritten`],
//! [`RowDeleted`], [`Kpis`]) that the routes serialise.

use crate::column;
use crate::config::{self, ConfigRow, Schema};
use deadpool_postgres::Pool;
use muara_core::ports::{AuditEntry, Principal};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

#[derive(Debug, Clone)]
pub struct PgConsole {
    pool: Pool,
}

impl PgConsole {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

/// `GET /clients`: every client, by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientList {
    pub clients: Vec<ClientSummary>,
}

/// A client and its latest execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientSummary {
    /// The client's name (its schema suffix).
    pub client: String,
    pub client_id: i32,
    pub is_active: bool,
    /// The last batch number given out.
    pub last_batch_id: i32,
    /// The latest execution's batch, status and start: `null` before the first run.
    pub last_batch: Option<String>,
    pub last_status: Option<String>,
    #[serde(with = "muara_core::timestamp::option")]
    pub last_started_at: Option<OffsetDateTime>,
    /// How many files its configuration names (`client_config` rows).
    pub configs: i64,
}

/// A `tools.client_reference` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientRow {
    pub client_id: i32,
    pub client_schema: String,
    pub last_batch_id: i32,
    pub is_active: bool,
    #[serde(with = "muara_core::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "muara_core::timestamp")]
    pub updated_at: OffsetDateTime,
}

/// `POST /clients`: the client just added.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientCreated {
    pub client: ClientRow,
}

/// `GET /clients/{client}/config`: every configuration table's rows, and the schema the
/// console draws its forms from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientConfig {
    pub client: String,
    pub client_id: i32,
    /// Each table of [`config::TABLES`] by name.
    pub tables: BTreeMap<&'static str, Vec<ConfigRow>>,
    pub schema: Schema,
}

/// A configuration row added or changed: the row as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowWritten {
    pub row: ConfigRow,
}

/// A configuration row deleted: the row as it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowDeleted {
    pub deleted: ConfigRow,
}

/// `GET /kpis`: runs and loaded rows per day over a period, and over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    /// The client asked about; `null` for all clients.
    pub client: Option<String>,
    /// One entry per day of the period, oldest first.
    pub days: Vec<KpiDay>,
    pub totals: KpiTotals,
}

/// One day: runs by the day they started, rows by the day their load finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiDay {
    #[serde(with = "muara_core::timestamp::date")]
    pub day: Date,
    pub runs: i64,
    /// `SUCCESS` or `NO_FILES`.
    pub succeeded: i64,
    /// `FAILED` or `PARTIAL`.
    pub failed: i64,
    /// `null` on a day without a finished run.
    pub avg_duration_ms: Option<i64>,
    pub rows_loaded: i64,
}

/// The whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiTotals {
    pub runs: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Succeeded over finished runs, to 4 places; `null` without a finished run.
    pub success_rate: Option<f64>,
    pub avg_duration_ms: Option<i64>,
    pub p95_duration_ms: Option<i64>,
    pub rows_loaded: i64,
}

/// Runs one configuration change in a transaction (the change and its audit entry commit
/// together).
async fn in_tx<T, F>(pool: &Pool, client: &str, f: F) -> Result<T>
where
    F: for<'a> FnOnce(
        &'a tokio_postgres::Transaction<'a>,
        i32,
    ) -> futures_lite::BoxFuture<'a, Result<T>>,
{
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("changing configuration", e))?;
    let id = muara_db::tools::client_id(&*tx, client).await?;
    let out = f(&tx, id).await?;
    tx.commit()
        .await
        .map_err(|e| pg_error("changing configuration", e))?;
    Ok(out)
}

mod futures_lite {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

impl PgConsole {
    pub async fn clients(&self) -> Result<ClientList> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let rows = c
            .query(
                "SELECT r.client_schema AS client, r.client_id, r.is_active, r.last_batch_id,
                        j.batch_id AS last_batch, j.status AS last_status,
                        to_json(j.started_at) #>> '{}' AS last_started_at,
                        (SELECT count(*) FROM tools.client_config k WHERE k.client_id = r.client_id) AS configs
                 FROM tools.client_reference r
                 LEFT JOIN LATERAL (SELECT batch_id, status, started_at FROM tools.job_execution_log
                                    WHERE client_id = r.client_id ORDER BY job_id DESC LIMIT 1) j ON true
                 ORDER BY r.client_schema",
                &[],
            )
            .await
            .map_err(|e| pg_error("reading clients", e))?;
        let clients = rows
            .iter()
            .map(|r| {
                Ok(ClientSummary {
                    client: r.get("client"),
                    client_id: r.get("client_id"),
                    is_active: r.get("is_active"),
                    last_batch_id: r.get("last_batch_id"),
                    last_batch: r.get("last_batch"),
                    last_status: r.get("last_status"),
                    last_started_at: column::time_opt(r, "last_started_at")?,
                    configs: r.get("configs"),
                })
            })
            .collect::<Result<_>>()?;
        Ok(ClientList { clients })
    }

    pub async fn create_client(&self, actor: &Principal, client: &str) -> Result<ClientCreated> {
        muara_core::names::check_client(client)?;
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg_error("adding a client", e))?;
        let r = tx
            .query_one(
                "INSERT INTO tools.client_reference (client_schema) VALUES ($1)
                 RETURNING client_id, client_schema, last_batch_id, is_active,
                           to_json(created_at) #>> '{}' AS created_at,
                           to_json(updated_at) #>> '{}' AS updated_at",
                &[&client],
            )
            .await
            .map_err(|e| pg_error("adding a client", e))?;
        let row = ClientRow {
            client_id: r.get("client_id"),
            client_schema: r.get("client_schema"),
            last_batch_id: r.get("last_batch_id"),
            is_active: r.get("is_active"),
            created_at: column::time(&r, "created_at")?,
            updated_at: column::time(&r, "updated_at")?,
        };
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "client.create".into(),
                target: format!("client {client}"),
                before: None,
                after: Some(crate::audit::snapshot(&row)?),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("adding a client", e))?;
        Ok(ClientCreated { client: row })
    }

    pub async fn config(&self, client: &str) -> Result<ClientConfig> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let id = muara_db::tools::client_id(&**c, client).await?;
        let mut tables = BTreeMap::new();
        for t in config::TABLES {
            tables.insert(t.name, config::rows(&**c, id, t).await?);
        }
        Ok(ClientConfig {
            client: client.to_string(),
            client_id: id,
            tables,
            schema: config::schema(),
        })
    }

    pub async fn create_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        row: Value,
    ) -> Result<RowWritten> {
        let t = config::table(table)?;
        let (actor, client_name) = (actor.clone(), client.to_string());
        let row = in_tx(&self.pool, client, move |tx, id| {
            Box::pin(async move { config::create(tx, &actor, &client_name, id, t, &row).await })
        })
        .await?;
        Ok(RowWritten { row })
    }

    pub async fn update_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
        row: Value,
    ) -> Result<RowWritten> {
        let t = config::table(table)?;
        let (actor, client_name, key) = (actor.clone(), client.to_string(), id.to_string());
        let row = in_tx(&self.pool, client, move |tx, cid| {
            Box::pin(
                async move { config::update(tx, &actor, &client_name, cid, t, &key, &row).await },
            )
        })
        .await?;
        Ok(RowWritten { row })
    }

    pub async fn delete_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
    ) -> Result<RowDeleted> {
        let t = config::table(table)?;
        let (actor, client_name, key) = (actor.clone(), client.to_string(), id.to_string());
        let deleted = in_tx(&self.pool, client, move |tx, cid| {
            Box::pin(async move { config::delete(tx, &actor, &client_name, cid, t, &key).await })
        })
        .await?;
        Ok(RowDeleted { deleted })
    }

    /// Over the last `days` days (today included, at least one).
    pub async fn kpis(&self, client: Option<&str>, days: i64) -> Result<Kpis> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let id = match client {
            Some(name) => Some(muara_db::tools::client_id(&**c, name).await?),
            None => None,
        };
        let days = i32::try_from(days)
            .ok()
            .filter(|d| *d >= 1)
            .ok_or_else(|| Error::invalid("days out of range"))?;
        // Runs by the day they started (UTC); rows by the day their load finished. One row per
        // day, each with the period's totals.
        let rows = c
            .query(
                "WITH span AS (SELECT generate_series(current_date - ($2::int - 1), current_date, '1 day')::date AS day),
                      runs AS (SELECT started_at::date AS day, status,
                                      extract(epoch FROM finished_at - started_at) * 1000 AS ms
                               FROM tools.job_execution_log
                               WHERE started_at >= current_date - ($2::int - 1)
                                 AND ($1::int IS NULL OR client_id = $1)),
                      loaded AS (SELECT updated_at::date AS day, sum(total_rows) AS n
                                 FROM tools.file_audit_log
                                 WHERE load_status = 'SUCCESS' AND updated_at >= current_date - ($2::int - 1)
                                   AND ($1::int IS NULL OR client_id = $1)
                                 GROUP BY 1),
                      daily AS (SELECT s.day,
                                       count(r.status) AS runs,
                                       count(*) FILTER (WHERE r.status IN ('SUCCESS', 'NO_FILES')) AS succeeded,
                                       count(*) FILTER (WHERE r.status IN ('FAILED', 'PARTIAL')) AS failed,
                                       round(avg(r.ms))::bigint AS avg_duration_ms,
                                       coalesce(max(l.n), 0)::bigint AS rows_loaded
                                FROM span s LEFT JOIN runs r ON r.day = s.day LEFT JOIN loaded l ON l.day = s.day
                                GROUP BY s.day),
                      totals AS (SELECT count(*) AS runs,
                                        count(*) FILTER (WHERE status IN ('SUCCESS', 'NO_FILES')) AS succeeded,
                                        count(*) FILTER (WHERE status IN ('FAILED', 'PARTIAL')) AS failed,
                                        round(count(*) FILTER (WHERE status IN ('SUCCESS', 'NO_FILES'))::numeric
                                              / nullif(count(*) FILTER (WHERE status <> 'RUNNING'), 0), 4)::float8
                                            AS success_rate,
                                        round(avg(ms))::bigint AS avg_duration_ms,
                                        round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric)::bigint
                                            AS p95_duration_ms,
                                        (SELECT coalesce(sum(n), 0)::bigint FROM loaded) AS rows_loaded
                                 FROM runs)
                 SELECT d.day, d.runs, d.succeeded, d.failed, d.avg_duration_ms, d.rows_loaded,
                        t.runs AS total_runs, t.succeeded AS total_succeeded, t.failed AS total_failed,
                        t.success_rate, t.avg_duration_ms AS total_avg_duration_ms, t.p95_duration_ms,
                        t.rows_loaded AS total_rows_loaded
                 FROM daily d CROSS JOIN totals t
                 ORDER BY d.day",
                &[&id, &days],
            )
            .await
            .map_err(|e| pg_error("reading KPIs", e))?;
        let first = rows
            .first()
            .ok_or_else(|| Error::fatal("reading KPIs: no day in the period"))?;
        let totals = KpiTotals {
            runs: first.get("total_runs"),
            succeeded: first.get("total_succeeded"),
            failed: first.get("total_failed"),
            success_rate: first.get("success_rate"),
            avg_duration_ms: first.get("total_avg_duration_ms"),
            p95_duration_ms: first.get("p95_duration_ms"),
            rows_loaded: first.get("total_rows_loaded"),
        };
        let days = rows
            .iter()
            .map(|r| KpiDay {
                day: r.get("day"),
                runs: r.get("runs"),
                succeeded: r.get("succeeded"),
                failed: r.get("failed"),
                avg_duration_ms: r.get("avg_duration_ms"),
                rows_loaded: r.get("rows_loaded"),
            })
            .collect();
        Ok(Kpis {
            client: client.map(str::to_string),
            days,
            totals,
        })
    }
}
