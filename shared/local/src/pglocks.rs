//! Locks and idempotency records on PostgreSQL, with the semantics of the DynamoDB adapter:
//! a conditional insert-or-take-over-if-expired decides who wins, in one statement.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{Begin, Holder, IdempotencyStore, Lease, Locks};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct PgLocks {
    pool: Pool,
}

impl PgLocks {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn token_of(lease: &Lease) -> Result<Uuid> {
    Uuid::parse_str(&lease.token).map_err(|e| {
        Error::with_source(muara_core::ErrorKind::Invalid, "lease token is not ours", e)
    })
}

#[async_trait]
impl Locks for PgLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let token = Uuid::new_v4();
        let row = client
            .query_opt(
                "INSERT INTO muara_local.locks (key, owner, token, expires_at)
                 VALUES ($1, $2, $3, clock_timestamp() + ($4::float8 * interval '1 second'))
                 ON CONFLICT (key) DO UPDATE
                   SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
                   WHERE muara_local.locks.expires_at <= clock_timestamp()
                 RETURNING token",
                &[&key, &owner, &token, &secs(ttl)],
            )
            .await
            .map_err(|e| pg_error("acquiring a lock", e))?;
        Ok(row.map(|_| Lease {
            key: key.to_string(),
            owner: owner.to_string(),
            token: token.to_string(),
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let n = client
            .execute(
                "UPDATE muara_local.locks SET expires_at = clock_timestamp() + ($3::float8 * interval '1 second'),
                   owner = $4
                 WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()",
                &[&lease.key, &token_of(lease)?, &secs(ttl), &lease.owner],
            )
            .await
            .map_err(|e| pg_error("renewing a lock", e))?;
        Ok(n == 1)
    }

    async fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                "SELECT owner, token, extract(epoch FROM expires_at - clock_timestamp())::float8
                 FROM muara_local.locks WHERE key = $1 AND expires_at > clock_timestamp()",
                &[&key],
            )
            .await
            .map_err(|e| pg_error("reading a lock's holder", e))?;
        Ok(row.map(|r| Holder {
            owner: r.get(0),
            token: r.get::<_, Uuid>(1).to_string(),
            expires_in: Duration::from_secs_f64(r.get::<_, f64>(2).max(0.0)),
        }))
    }

    async fn take_over(
        &self,
        key: &str,
        token: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let Ok(old) = Uuid::parse_str(token) else {
            return Ok(None);
        };
        let client = self.pool.get().await.map_err(pool_error)?;
        let new = Uuid::new_v4();
        let n = client
            .execute(
                "UPDATE muara_local.locks SET owner = $3, token = $4,
                   expires_at = clock_timestamp() + ($5::float8 * interval '1 second')
                 WHERE key = $1 AND token = $2",
                &[&key, &old, &owner, &new, &secs(ttl)],
            )
            .await
            .map_err(|e| pg_error("taking over a lock", e))?;
        Ok((n == 1).then(|| Lease {
            key: key.to_string(),
            owner: owner.to_string(),
            token: new.to_string(),
        }))
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let n = client
            .execute(
                "DELETE FROM muara_local.locks WHERE key = $1 AND token = $2",
                &[&lease.key, &token_of(lease)?],
            )
            .await
            .map_err(|e| pg_error("releasing a lock", e))?;
        Ok(n == 1)
    }
}

#[async_trait]
impl IdempotencyStore for PgLocks {
    /// One statement for the whole set: claim what is free or expired, report the rest.
    async fn begin_many(
        &self,
        items: &[(String, String)],
        claim_ttl: Duration,
    ) -> Result<Vec<Begin>> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        let mut distinct = keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != keys.len() {
            return Err(Error::invalid("begin_many needs distinct keys"));
        }
        let hashes: Vec<&str> = items.iter().map(|(_, h)| h.as_str()).collect();
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS i(key, hash)),
                 claimed AS (
                   INSERT INTO muara_local.idempotency (key, state, payload_hash, expires_at)
                   SELECT key, 'in_progress', hash, clock_timestamp() + ($3::float8 * interval '1 second')
                   FROM input ORDER BY key
                   ON CONFLICT (key) DO UPDATE
                     SET state = 'in_progress', payload_hash = excluded.payload_hash, result = NULL,
                         expires_at = excluded.expires_at, updated_at = now()
                     WHERE muara_local.idempotency.expires_at <= clock_timestamp()
                   RETURNING key)
                 SELECT i.key, c.key IS NOT NULL, r.state, r.payload_hash, r.result
                 FROM input i
                 LEFT JOIN claimed c ON c.key = i.key
                 LEFT JOIN muara_local.idempotency r ON r.key = i.key",
                &[&keys, &hashes, &secs(claim_ttl)],
            )
            .await
            .map_err(|e| pg_error("claiming idempotency keys", e))?;
        let wanted: std::collections::HashMap<&str, &str> =
            keys.iter().copied().zip(hashes.iter().copied()).collect();
        let mut found: std::collections::HashMap<String, Begin> = std::collections::HashMap::new();
        for row in rows {
            let key: String = row.get(0);
            let claimed: bool = row.get(1);
            let state: Option<String> = row.get(2);
            let hash: Option<String> = row.get(3);
            let result: Option<Value> = row.get(4);
            let wanted = wanted.get(key.as_str()).copied().unwrap_or_default();
            let answer = match (claimed, state.as_deref(), hash) {
                (true, ..) => Begin::Started,
                (false, _, Some(h)) if h != wanted => Begin::Conflict { existing_hash: h },
                (false, Some("completed"), _) => Begin::Completed(result.unwrap_or(Value::Null)),
                // In progress — or claimed by another transaction after this statement's snapshot.
                _ => Begin::InProgress,
            };
            found.insert(key, answer);
        }
        items
            .iter()
            .map(|(k, _)| {
                found
                    .remove(k)
                    .ok_or_else(|| Error::fatal(format!("no answer for idempotency key {k:?}")))
            })
            .collect()
    }

    async fn complete_many(
        &self,
        keys: &[String],
        result: &Value,
        retention: Duration,
    ) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                // Rows locked in key order first (as begin_many claims them), so two requests
                // completing and claiming overlapping sets cannot deadlock.
                "WITH locked AS (
                   SELECT key FROM muara_local.idempotency WHERE key = ANY($1) ORDER BY key FOR UPDATE)
                 UPDATE muara_local.idempotency i
                 SET state = 'completed', result = $2, expires_at = clock_timestamp() + ($3::float8 * interval '1 second'),
                     updated_at = now()
                 FROM locked WHERE i.key = locked.key",
                &[&keys, result, &secs(retention)],
            )
            .await
            .map_err(|e| pg_error("completing idempotency keys", e))?;
        Ok(())
    }

    async fn begin(&self, key: &str, payload_hash: &str, claim_ttl: Duration) -> Result<Begin> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let claimed = client
            .query_opt(
                "INSERT INTO muara_local.idempotency (key, state, payload_hash, expires_at)
                 VALUES ($1, 'in_progress', $2, clock_timestamp() + ($3::float8 * interval '1 second'))
                 ON CONFLICT (key) DO UPDATE
                   SET state = 'in_progress', payload_hash = excluded.payload_hash, result = NULL,
                       expires_at = excluded.expires_at, updated_at = now()
                   WHERE muara_local.idempotency.expires_at <= clock_timestamp()
                 RETURNING 1",
                &[&key, &payload_hash, &secs(claim_ttl)],
            )
            .await
            .map_err(|e| pg_error("claiming an idempotency key", e))?;
        if claimed.is_some() {
            return Ok(Begin::Started);
        }
        let row = client
            .query_opt(
                "SELECT state, payload_hash, result FROM muara_local.idempotency WHERE key = $1",
                &[&key],
            )
            .await
            .map_err(|e| pg_error("reading an idempotency key", e))?;
        let Some(row) = row else {
            // Expired and purged between the two statements: claim again.
            return Box::pin(self.begin(key, payload_hash, claim_ttl)).await;
        };
        let state: String = row.get(0);
        let hash: String = row.get(1);
        if hash != payload_hash {
            return Ok(Begin::Conflict {
                existing_hash: hash,
            });
        }
        if state == "completed" {
            let result: Option<Value> = row.get(2);
            return Ok(Begin::Completed(result.unwrap_or(Value::Null)));
        }
        Ok(Begin::InProgress)
    }

    async fn complete(&self, key: &str, result: &Value, retention: Duration) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let n = client
            .execute(
                "UPDATE muara_local.idempotency
                 SET state = 'completed', result = $2, expires_at = clock_timestamp() + ($3::float8 * interval '1 second'),
                     updated_at = now()
                 WHERE key = $1",
                &[&key, result, &secs(retention)],
            )
            .await
            .map_err(|e| pg_error("completing an idempotency key", e))?;
        if n == 0 {
            return Err(Error::not_found(format!(
                "no idempotency record {key:?} to complete"
            )));
        }
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "DELETE FROM muara_local.idempotency WHERE key = $1 AND state = 'in_progress'",
                &[&key],
            )
            .await
            .map_err(|e| pg_error("abandoning an idempotency key", e))?;
        Ok(())
    }
}
