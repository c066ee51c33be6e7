//! Applying one classified message to PostgreSQL: the message is recorded once (its identity
//! `(channel, source, message_id)` is the primary key), and only a message recorded now changes
//! its phone's funnel row.
//!
//! The row's update is commutative: dates are minima (first opening, first booking, first
//! transaction) or maxima (latest opening, latest transaction), the first- and last-touch
//! channels follow the minimum and maximum `(time, message id)`, value and counts are sums.
//! So any arrival order — and any redelivery — gives the same row.
//!
//! The webhook writes here only through the [`IngestLedger`] port (its counters and refusal
//! rows): [`PgIngestLedger`] in every host, [`MemIngestLedger`] (feature `memory`, and this
//! crate's unit tests) without a database.

use crate::classify::Kind;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use time::OffsetDateTime;

/// A message ready to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub message_id: String,
    pub channel: String,
    /// The WhatsApp number it was sent to; empty for generic messages.
    pub source: String,
    /// E.164.
    pub phone: String,
    pub sent_at: OffsetDateTime,
    pub kind: Option<Kind>,
    pub keyword: Option<String>,
    /// Rupiah, for transactions whose amount could be read.
    pub amount: Option<i64>,
    pub campaign: Option<String>,
    pub raw_key: String,
}

/// Records `m` and updates its phone's row, in one transaction; `false` when the message was
/// applied before (nothing changes).
pub async fn apply(pool: &Pool, m: &Classified) -> Result<bool> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error("starting a funnel transaction", e))?;
    let kind = m.kind.map(Kind::as_str);
    let insert = tx
        .prepare_cached(
            "INSERT INTO funnel.message (message_id, channel, source, phone, sent_at, kind, keyword, amount, campaign, raw_key)
             VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (channel, source, message_id) DO NOTHING",
        )
        .await
        .map_err(|e| pg_error("preparing a funnel message insert", e))?;
    let inserted = tx
        .execute(
            &insert,
            &[
                &m.message_id,
                &m.channel,
                &m.phone,
                &m.sent_at,
                &kind,
                &m.keyword,
                &m.amount,
                &m.campaign,
                &m.raw_key,
                &m.source,
            ],
        )
        .await
        .map_err(|e| pg_error("recording a funnel message", e))?;
    if inserted == 0 {
        tx.commit()
            .await
            .map_err(|e| pg_error("committing a funnel message", e))?;
        return Ok(false);
    }
    let at = |k: Kind| (m.kind == Some(k)).then_some(m.sent_at);
    let opening = at(Kind::Opening);
    let opening_channel = opening.map(|_| m.channel.as_str());
    let opening_id = opening.map(|_| m.message_id.as_str());
    let transaction = at(Kind::Transaction);
    let value = if transaction.is_some() {
        m.amount.unwrap_or(0)
    } else {
        0
    };
    let count = i32::from(transaction.is_some());
    let upsert = tx
        .prepare_cached(
        "INSERT INTO funnel.lead AS l (phone, leads_date, channel, first_message_id, last_opening_at,
             last_channel, last_message_id, booking_date, transaction_date, last_transaction_date,
             transaction_value, transaction_count, messages)
         VALUES ($1, $2, $3, $4, $2, $3, $4, $5, $6, $6, $7, $8, 1)
         ON CONFLICT (phone) DO UPDATE SET
             channel = CASE WHEN excluded.leads_date IS NOT NULL AND (l.leads_date IS NULL
                     OR (excluded.leads_date, excluded.first_message_id) < (l.leads_date, l.first_message_id))
                 THEN excluded.channel ELSE l.channel END,
             first_message_id = CASE WHEN excluded.leads_date IS NOT NULL AND (l.leads_date IS NULL
                     OR (excluded.leads_date, excluded.first_message_id) < (l.leads_date, l.first_message_id))
                 THEN excluded.first_message_id ELSE l.first_message_id END,
             leads_date = LEAST(l.leads_date, excluded.leads_date),
             last_channel = CASE WHEN excluded.last_opening_at IS NOT NULL AND (l.last_opening_at IS NULL
                     OR (excluded.last_opening_at, excluded.last_message_id) > (l.last_opening_at, l.last_message_id))
                 THEN excluded.last_channel ELSE l.last_channel END,
             last_message_id = CASE WHEN excluded.last_opening_at IS NOT NULL AND (l.last_opening_at IS NULL
                     OR (excluded.last_opening_at, excluded.last_message_id) > (l.last_opening_at, l.last_message_id))
                 THEN excluded.last_message_id ELSE l.last_message_id END,
             last_opening_at = GREATEST(l.last_opening_at, excluded.last_opening_at),
             booking_date = LEAST(l.booking_date, excluded.booking_date),
             transaction_date = LEAST(l.transaction_date, excluded.transaction_date),
             last_transaction_date = GREATEST(l.last_transaction_date, excluded.last_transaction_date),
             transaction_value = l.transaction_value + excluded.transaction_value,
             transaction_count = l.transaction_count + excluded.transaction_count,
             messages = l.messages + 1,
             updated_at = now()",
        )
        .await
        .map_err(|e| pg_error("preparing a funnel row upsert", e))?;
    tx.execute(
        &upsert,
        &[
            &m.phone,
            &opening,
            &opening_channel,
            &opening_id,
            &at(Kind::Booking),
            &transaction,
            &value,
            &count,
        ],
    )
    .await
    .map_err(|e| pg_error("updating a funnel row", e))?;
    let counter = match m.kind {
        Some(k) => format!("classified_{}", k.as_str()),
        None => "unclassified".to_string(),
    };
    bump(
        &tx,
        shard_of(&m.message_id),
        &[(&counter, 1), ("processed", 1)],
    )
    .await?;
    tx.commit()
        .await
        .map_err(|e| pg_error("committing a funnel message", e))?;
    Ok(true)
}

/// Counter shards: concurrent writers spread over this many rows per counter.
pub const SHARDS: i16 = 16;

/// The shard a key's counts go to.
pub fn shard_of(key: &str) -> i16 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    i16::try_from(h % SHARDS as u64).unwrap_or(0)
}

/// Adds to named counters (in the caller's transaction or on their own).
pub async fn bump<C: deadpool_postgres::GenericClient + Sync>(
    c: &C,
    shard: i16,
    counts: &[(&str, i64)],
) -> Result<()> {
    // In name order: concurrent writers lock the counter rows in the same order.
    let mut counts: Vec<&(&str, i64)> = counts.iter().filter(|(_, n)| *n != 0).collect();
    counts.sort_by_key(|(name, _)| *name);
    for (name, n) in counts {
        c.execute(
            "INSERT INTO funnel.counter (name, shard, value) VALUES ($1, $2, $3)
             ON CONFLICT (name, shard) DO UPDATE SET value = funnel.counter.value + excluded.value",
            &[name, &shard, n],
        )
        .await
        .map_err(|e| pg_error("counting", e))?;
    }
    Ok(())
}

/// Records something that could not be used.
pub async fn reject(
    pool: &Pool,
    raw_key: Option<&str>,
    message_id: Option<&str>,
    stage: &str,
    reason: &str,
) -> Result<()> {
    let client = pool.get().await.map_err(pool_error)?;
    client
        .execute(
            "INSERT INTO funnel.rejected (raw_key, message_id, stage, reason) VALUES ($1, $2, $3, $4)",
            &[&raw_key, &message_id, &stage, &reason],
        )
        .await
        .map_err(|e| pg_error("recording a rejected message", e))?;
    let shard = shard_of(message_id.or(raw_key).unwrap_or(reason));
    bump(&client, shard, &[(&format!("rejected_{stage}"), 1)]).await
}

/// What the webhook records besides the lake: its counters and the refusal rows of what it
/// could not use.
#[async_trait]
pub trait IngestLedger: Send + Sync {
    /// Adds to named counters; `key` spreads concurrent writers over the shards.
    async fn bump(&self, key: &str, counts: &[(&str, i64)]) -> Result<()>;
    /// Records something that could not be used, kept under `raw_key`, and counts it as
    /// `rejected_{stage}`.
    async fn reject(
        &self,
        raw_key: Option<&str>,
        message_id: Option<&str>,
        stage: &str,
        reason: &str,
    ) -> Result<()>;
}

/// The webhook's ledger in PostgreSQL: `funnel.counter` ([`bump`]) and `funnel.rejected`
/// ([`reject`]).
#[derive(Clone)]
pub struct PgIngestLedger {
    pool: Pool,
}

impl PgIngestLedger {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgIngestLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIngestLedger").finish_non_exhaustive()
    }
}

#[async_trait]
impl IngestLedger for PgIngestLedger {
    async fn bump(&self, key: &str, counts: &[(&str, i64)]) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        bump(&client, shard_of(key), counts).await
    }

    async fn reject(
        &self,
        raw_key: Option<&str>,
        message_id: Option<&str>,
        stage: &str,
        reason: &str,
    ) -> Result<()> {
        reject(&self.pool, raw_key, message_id, stage, reason).await
    }
}

/// A refusal row as [`reject`] writes it.
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub raw_key: Option<String>,
    pub message_id: Option<String>,
    pub stage: String,
    pub reason: String,
}

/// The webhook's ledger in memory: counter totals (as [`counters`] sums them) and refusal rows
/// in the order written. Like `funnel.rejected`, it refuses a refusal holding a NUL character.
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Default)]
pub struct MemIngestLedger {
    counters: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
    rejections: std::sync::Mutex<Vec<Rejection>>,
}

#[cfg(any(test, feature = "memory"))]
impl MemIngestLedger {
    /// Every counter added to, and its total.
    pub fn counters(&self) -> std::collections::BTreeMap<String, i64> {
        locked(&self.counters).clone()
    }

    /// Every refusal row, oldest first.
    pub fn rejections(&self) -> Vec<Rejection> {
        locked(&self.rejections).clone()
    }

    fn add(&self, counts: &[(&str, i64)]) {
        let mut totals = locked(&self.counters);
        for (name, n) in counts.iter().filter(|(_, n)| *n != 0) {
            *totals.entry((*name).to_string()).or_default() += n;
        }
    }
}

#[cfg(any(test, feature = "memory"))]
fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is applied whole under the lock: a panic elsewhere leaves it consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(any(test, feature = "memory"))]
#[async_trait]
impl IngestLedger for MemIngestLedger {
    async fn bump(&self, _key: &str, counts: &[(&str, i64)]) -> Result<()> {
        self.add(counts);
        Ok(())
    }

    async fn reject(
        &self,
        raw_key: Option<&str>,
        message_id: Option<&str>,
        stage: &str,
        reason: &str,
    ) -> Result<()> {
        // As PostgreSQL refuses a text with a NUL character (and then counts nothing).
        let fields = [raw_key, message_id, Some(stage), Some(reason)];
        if fields.into_iter().flatten().any(|f| f.contains('\0')) {
            return Err(muara_core::Error::invalid(
                "recording a rejected message: invalid byte sequence for encoding \"UTF8\": 0x00",
            ));
        }
        locked(&self.rejections).push(Rejection {
            raw_key: raw_key.map(str::to_string),
            message_id: message_id.map(str::to_string),
            stage: stage.to_string(),
            reason: reason.to_string(),
        });
        self.add(&[(&format!("rejected_{stage}"), 1)]);
        Ok(())
    }
}

/// Every counter, summed over its shards.
pub async fn counters(pool: &Pool) -> Result<std::collections::BTreeMap<String, i64>> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT name, sum(value)::bigint FROM funnel.counter GROUP BY name",
            &[],
        )
        .await
        .map_err(|e| pg_error("reading funnel counters", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    /// The text from `ON CONFLICT (phone)` to the end of the SET list, whitespace collapsed.
    fn merge_clause(source: &str) -> String {
        let start = source
            .find("ON CONFLICT (phone) DO UPDATE SET")
            .expect("the lead upsert");
        let end = start
            + source[start..]
                .find("updated_at = now()")
                .expect("the end of the SET list");
        source[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// bench/funnel/run.sh measures PostgreSQL's limit with this module's upsert written out
    /// for pgbench: it must stay the same statement.
    #[test]
    fn the_benchmarks_raw_upsert_is_the_workers() {
        assert_eq!(
            merge_clause(include_str!("../../../bench/funnel/run.sh")),
            merge_clause(include_str!("store.rs"))
        );
    }
}
