//! The aggregator's counters: sharded rows in `events.counter`, added to in the statement (API)
//! or transaction (worker) that decides what they count; read by summing the shards.
//!
//! The publish path adds through the [`Counters`] port: [`PgCounters`] in every host,
//! [`MemCounters`] (feature `memory`, and this crate's unit tests) without a database.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use std::collections::BTreeMap;

/// Spreads concurrent writers over this many rows per counter.
pub const SHARDS: i16 = 16;

pub const RECEIVED: &str = "received";
pub const UNIQUE: &str = "unique_processed";
pub const DUPLICATES: &str = "duplicate_dropped";
pub const CONFLICTS: &str = "conflicts";
pub const REJECTED: &str = "rejected";
pub const PENDING: &str = "pending";

/// Increments to apply together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta(pub BTreeMap<&'static str, i64>);

impl Delta {
    /// What the API decides on its own: each of these is also one received item.
    pub fn from_api(rejected: usize, duplicates: usize, conflicts: usize) -> Self {
        let mut d = Delta::default();
        let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
        d.add(RECEIVED, n(rejected + duplicates + conflicts));
        d.add(REJECTED, n(rejected));
        d.add(DUPLICATES, n(duplicates));
        d.add(CONFLICTS, n(conflicts));
        d
    }

    pub fn add(&mut self, name: &'static str, n: i64) {
        if n != 0 {
            *self.0.entry(name).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The upsert, rows in name order (concurrent writers lock in the same order).
    pub(crate) fn statement(&self) -> (String, Vec<String>, Vec<i64>, i16) {
        let shard = shard();
        let names: Vec<String> = self.0.keys().map(|k| k.to_string()).collect();
        let values: Vec<i64> = self.0.values().copied().collect();
        (
            "INSERT INTO events.counter (name, shard, value)
             SELECT n, $3, v FROM unnest($1::text[], $2::bigint[]) AS u(n, v) ORDER BY n
             ON CONFLICT (name, shard) DO UPDATE SET value = events.counter.value + excluded.value"
                .to_string(),
            names,
            values,
            shard,
        )
    }
}

/// A shard for one writer: cheap and good enough to spread writers (a random UUID's last byte).
pub(crate) fn shard() -> i16 {
    i16::from(uuid::Uuid::new_v4().as_bytes()[15]) % SHARDS
}

/// Applies a delta in its own statement.
pub async fn add(pool: &Pool, delta: &Delta) -> Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    let c = pool.get().await.map_err(pool_error)?;
    let (sql, names, values, shard) = delta.statement();
    c.execute(&sql, &[&names, &values, &shard])
        .await
        .map_err(|e| pg_error("updating events.counter", e))?;
    Ok(())
}

/// Where the publish path's counts go (the worker counts in its own transaction, with
/// [`add_in`]).
#[async_trait]
pub trait Counters: Send + Sync {
    /// Applies `delta` as a whole: every counter in it, or none.
    async fn add(&self, delta: &Delta) -> Result<()>;
}

/// The counters in `events.counter`: each delta in its own statement ([`add`]).
#[derive(Clone)]
pub struct PgCounters {
    pool: Pool,
}

impl PgCounters {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCounters").finish_non_exhaustive()
    }
}

#[async_trait]
impl Counters for PgCounters {
    async fn add(&self, delta: &Delta) -> Result<()> {
        add(&self.pool, delta).await
    }
}

/// Counters in memory: each counter's total, as [`totals`] sums the shards.
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Default)]
pub struct MemCounters {
    totals: std::sync::Mutex<BTreeMap<String, i64>>,
}

#[cfg(any(test, feature = "memory"))]
impl MemCounters {
    /// Every counter added to, and its total.
    pub fn totals(&self) -> BTreeMap<String, i64> {
        self.lock().clone()
    }

    /// One counter's total (0 when it was never added to).
    pub fn get(&self, name: &str) -> i64 {
        self.lock().get(name).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        // Every update is applied whole under the lock: a panic elsewhere leaves it consistent.
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(any(test, feature = "memory"))]
#[async_trait]
impl Counters for MemCounters {
    async fn add(&self, delta: &Delta) -> Result<()> {
        let mut totals = self.lock();
        for (name, n) in &delta.0 {
            *totals.entry((*name).to_string()).or_default() += n;
        }
        Ok(())
    }
}

/// Applies a delta inside a transaction (the worker's).
pub async fn add_in(tx: &tokio_postgres::Transaction<'_>, delta: &Delta) -> Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    let (sql, names, values, shard) = delta.statement();
    tx.execute(&sql, &[&names, &values, &shard])
        .await
        .map_err(|e| pg_error("updating events.counter", e))?;
    Ok(())
}

/// Every counter's total.
pub async fn totals(pool: &Pool) -> Result<BTreeMap<String, i64>> {
    let c = pool.get().await.map_err(pool_error)?;
    let rows = c
        .query(
            "SELECT name, sum(value)::bigint FROM events.counter GROUP BY name",
            &[],
        )
        .await
        .map_err(|e| pg_error("reading events.counter", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_counters_accumulate_every_delta() {
        let c = MemCounters::default();
        c.add(&Delta::from_api(1, 2, 0)).await.unwrap();
        let mut d = Delta::from_api(0, 1, 3);
        d.add(PENDING, 4);
        c.add(&d).await.unwrap();
        let mut back = Delta::default();
        back.add(PENDING, -4);
        back.add(UNIQUE, 4);
        c.add(&back).await.unwrap();
        c.add(&Delta::default()).await.unwrap();
        let expected: BTreeMap<String, i64> = [
            (CONFLICTS, 3),
            (DUPLICATES, 3),
            (PENDING, 0),
            (RECEIVED, 7),
            (REJECTED, 1),
            (UNIQUE, 4),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(c.totals(), expected);
        assert_eq!(c.get(RECEIVED), 7);
        assert_eq!(c.get("never"), 0);
    }
}
