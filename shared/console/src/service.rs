//! [`PgConsole`]: the console's reads and configuration changes over PostgreSQL.

use crate::config;
use deadpool_postgres::Pool;
use muara_core::ports::{AuditEntry, Principal};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct PgConsole {
    pool: Pool,
}

impl PgConsole {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

/// Runs one configuration change in a transaction (the change and its audit entry commit
/// together).
async fn in_tx<F>(pool: &Pool, client: &str, f: F) -> Result<Value>
where
    F: for<'a> FnOnce(
        &'a tokio_postgres::Transaction<'a>,
        i32,
    ) -> futures_lite::BoxFuture<'a, Result<Value>>,
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
    pub async fn clients(&self) -> Result<Value> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let row = c
            .query_one(
                "SELECT coalesce(json_agg(x ORDER BY x.client), '[]') FROM (
                     SELECT r.client_schema AS client, r.client_id, r.is_active, r.last_batch_id,
                            j.batch_id AS last_batch, j.status AS last_status, j.started_at AS last_started_at,
                            (SELECT count(*) FROM tools.client_config k WHERE k.client_id = r.client_id) AS configs
                     FROM tools.client_reference r
                     LEFT JOIN LATERAL (SELECT batch_id, status, started_at FROM tools.job_execution_log
                                        WHERE client_id = r.client_id ORDER BY job_id DESC LIMIT 1) j ON true) x",
                &[],
            )
            .await
            .map_err(|e| pg_error("reading clients", e))?;
        Ok(json!({"clients": row.get::<_, Value>(0)}))
    }

    pub async fn create_client(&self, actor: &Principal, client: &str) -> Result<Value> {
        muara_core::names::check_client(client)?;
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg_error("adding a client", e))?;
        let row: Value = tx
            .query_one(
                "INSERT INTO tools.client_reference AS t (client_schema) VALUES ($1) RETURNING to_jsonb(t)",
                &[&client],
            )
            .await
            .map_err(|e| pg_error("adding a client", e))?
            .get(0);
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "client.create".into(),
                target: format!("client {client}"),
                before: None,
                after: Some(row.clone()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("adding a client", e))?;
        Ok(json!({"client": row}))
    }

    pub async fn config(&self, client: &str) -> Result<Value> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let id = muara_db::tools::client_id(&**c, client).await?;
        let mut tables = serde_json::Map::new();
        for t in config::TABLES {
            tables.insert(t.name.into(), config::rows(&**c, id, t).await?);
        }
        Ok(json!({"client": client, "client_id": id, "tables": tables, "schema": config::schema()}))
    }

    pub async fn create_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        row: Value,
    ) -> Result<Value> {
        let t = config::table(table)?;
        let (actor, client_name) = (actor.clone(), client.to_string());
        let row = in_tx(&self.pool, client, move |tx, id| {
            Box::pin(async move { config::create(tx, &actor, &client_name, id, t, &row).await })
        })
        .await?;
        Ok(json!({"row": row}))
    }

    pub async fn update_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
        row: Value,
    ) -> Result<Value> {
        let t = config::table(table)?;
        let (actor, client_name, key) = (actor.clone(), client.to_string(), id.to_string());
        let row = in_tx(&self.pool, client, move |tx, cid| {
            Box::pin(
                async move { config::update(tx, &actor, &client_name, cid, t, &key, &row).await },
            )
        })
        .await?;
        Ok(json!({"row": row}))
    }

    pub async fn delete_row(
        &self,
        actor: &Principal,
        client: &str,
        table: &str,
        id: &str,
    ) -> Result<Value> {
        let t = config::table(table)?;
        let (actor, client_name, key) = (actor.clone(), client.to_string(), id.to_string());
        let row = in_tx(&self.pool, client, move |tx, cid| {
            Box::pin(async move { config::delete(tx, &actor, &client_name, cid, t, &key).await })
        })
        .await?;
        Ok(json!({"deleted": row}))
    }

    pub async fn kpis(&self, client: Option<&str>, days: i64) -> Result<Value> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let id = match client {
            Some(name) => Some(muara_db::tools::client_id(&**c, name).await?),
            None => None,
        };
        let days = i32::try_from(days).map_err(|_| Error::invalid("days out of range"))?;
        // Runs by the day they started (UTC); rows by the day their load finished.
        let row = c
            .query_one(
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
                                GROUP BY s.day)
                 SELECT (SELECT json_agg(d ORDER BY d.day) FROM daily d),
                        (SELECT json_build_object(
                            'runs', count(*),
                            'succeeded', count(*) FILTER (WHERE status IN ('SUCCESS', 'NO_FILES')),
                            'failed', count(*) FILTER (WHERE status IN ('FAILED', 'PARTIAL')),
                            'success_rate', round(count(*) FILTER (WHERE status IN ('SUCCESS', 'NO_FILES'))::numeric
                                                  / nullif(count(*) FILTER (WHERE status <> 'RUNNING'), 0), 4),
                            'avg_duration_ms', round(avg(ms))::bigint,
                            'p95_duration_ms', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric)::bigint,
                            'rows_loaded', (SELECT coalesce(sum(n), 0)::bigint FROM loaded))
                         FROM runs)",
                &[&id, &days],
            )
            .await
            .map_err(|e| pg_error("reading KPIs", e))?;
        Ok(
            json!({"client": client, "days": row.get::<_, Value>(0), "totals": row.get::<_, Value>(1)}),
        )
    }
}
