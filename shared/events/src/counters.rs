//! The aggregator's counters: sharded rows in `events.counter`, added to in the statement (API)
//! or transaction (worker) that decides what they count; read by summing the shards.

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
