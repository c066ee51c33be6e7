//! A queue on PostgreSQL with the delivery semantics of SQS.
//!
//! A receive hands out visible messages with `FOR UPDATE SKIP LOCKED` (concurrent consumers
//! never get the same delivery), hides them for the visibility timeout, counts receives, and
//! gives each delivery a fresh receipt. A message received `max_receives` times and still not
//! deleted moves to the dead-letter queue instead of being delivered again.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{OutgoingMessage, Queue, ReceivedMessage};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// How a queue is set up: the SQS queue attributes that matter to consumers.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    pub visibility_timeout: Duration,
    /// `(dead-letter queue name, maxReceiveCount)`.
    pub redrive: Option<(String, u32)>,
}

#[derive(Debug, Clone)]
pub struct PgQueue {
    pool: Pool,
    name: String,
    poll_interval: Duration,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PgQueue {
    /// Creates the queue (and records its redrive policy) if missing, updating its settings
    /// otherwise. The dead-letter queue must exist first.
    pub async fn ensure(pool: &Pool, spec: &QueueSpec) -> Result<Self> {
        let client = pool.get().await.map_err(pool_error)?;
        let (dlq, max) = match &spec.redrive {
            Some((d, m)) => (
                Some(d.as_str()),
                Some(i32::try_from(*m).unwrap_or(i32::MAX)),
            ),
            None => (None, None),
        };
        client
            .execute(
                "INSERT INTO muara_local.queues (name, visibility_timeout_ms, max_receives, dead_letter_queue)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET visibility_timeout_ms = excluded.visibility_timeout_ms,
                     max_receives = excluded.max_receives, dead_letter_queue = excluded.dead_letter_queue",
                &[&spec.name, &ms(spec.visibility_timeout), &max, &dlq],
            )
            .await
            .map_err(|e| pg_error(&format!("creating queue {}", spec.name), e))?;
        Ok(Self {
            pool: pool.clone(),
            name: spec.name.clone(),
            poll_interval: Duration::from_millis(100),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves messages that used up their receives to the dead-letter queue, then delivers.
    async fn receive_once(&self, max: usize) -> Result<Vec<ReceivedMessage>> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("receive: begin", e))?;
        tx.execute(
            // The candidates are picked once (a CTE), not per queued row: a correlated
            // subquery here made every receive rescan the queue once per message.
            "WITH q AS (SELECT dead_letter_queue, max_receives FROM muara_local.queues
                        WHERE name = $1 AND max_receives IS NOT NULL),
                  dead AS (SELECT m.id FROM muara_local.messages m, q
                           WHERE m.queue = $1 AND m.visible_at <= clock_timestamp()
                             AND m.receive_count >= q.max_receives
                           FOR UPDATE OF m SKIP LOCKED)
             UPDATE muara_local.messages m SET queue = q.dead_letter_queue, visible_at = clock_timestamp(), receipt = NULL
             FROM q
             WHERE m.id IN (SELECT id FROM dead)",
            &[&self.name],
        )
        .await
        .map_err(|e| pg_error("receive: dead-lettering", e))?;
        let limit = i64::try_from(max.clamp(1, 10)).unwrap_or(10);
        let rows = tx
            .query(
                "WITH q AS (SELECT visibility_timeout_ms, max_receives FROM muara_local.queues WHERE name = $1),
                 picked AS (
                   SELECT m.id FROM muara_local.messages m, q
                   WHERE m.queue = $1 AND m.visible_at <= clock_timestamp()
                     AND (q.max_receives IS NULL OR m.receive_count < q.max_receives)
                   ORDER BY m.visible_at, m.sent_at
                   LIMIT $2
                   FOR UPDATE OF m SKIP LOCKED)
                 UPDATE muara_local.messages m
                 SET receive_count = m.receive_count + 1,
                     visible_at = clock_timestamp() + (q.visibility_timeout_ms::float8 * interval '1 millisecond'),
                     receipt = gen_random_uuid()
                 FROM q
                 WHERE m.id IN (SELECT id FROM picked)
                 RETURNING m.id, m.body, m.attributes, m.receipt, m.receive_count, m.sent_at",
                &[&self.name, &limit],
            )
            .await
            .map_err(|e| pg_error("receive", e))?;
        tx.commit()
            .await
            .map_err(|e| pg_error("receive: commit", e))?;
        let mut out: Vec<(time::OffsetDateTime, ReceivedMessage)> = rows
            .iter()
            .map(|r| {
                let attrs: serde_json::Value = r.get(2);
                let attributes: BTreeMap<String, String> =
                    serde_json::from_value(attrs).unwrap_or_default();
                let receipt: Uuid = r.get(3);
                let id: Uuid = r.get(0);
                let count: i32 = r.get(4);
                (
                    r.get(5),
                    ReceivedMessage {
                        id: id.to_string(),
                        body: r.get(1),
                        attributes,
                        receipt: receipt.to_string(),
                        receive_count: u32::try_from(count).unwrap_or(0),
                    },
                )
            })
            .collect();
        out.sort_by_key(|m| m.0);
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }
}

fn parse_receipt(r: &str) -> Option<Uuid> {
    Uuid::parse_str(r).ok()
}

#[async_trait]
impl Queue for PgQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<Vec<String>> {
        if messages.is_empty() {
            return Ok(vec![]);
        }
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("send: begin", e))?;
        let stmt = tx
            .prepare(
                "INSERT INTO muara_local.messages (id, queue, body, attributes, visible_at)
                 VALUES ($1, $2, $3, $4, clock_timestamp() + ($5::float8 * interval '1 millisecond'))",
            )
            .await
            .map_err(|e| pg_error("send: prepare", e))?;
        let mut ids = Vec::with_capacity(messages.len());
        for m in messages {
            let id = Uuid::now_v7();
            let attrs = serde_json::to_value(&m.attributes)?;
            let delay = ms(m.delay.unwrap_or_default()) as f64;
            tx.execute(&stmt, &[&id, &self.name, &m.body, &attrs, &delay])
                .await
                .map_err(|e| match e.code() {
                    Some(c) if *c == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                        Error::not_found(format!("queue {} does not exist", self.name))
                    }
                    _ => pg_error("send", e),
                })?;
            ids.push(id.to_string());
        }
        tx.commit().await.map_err(|e| pg_error("send: commit", e))?;
        Ok(ids)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.receive_once(max).await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            // Long polling: check again shortly, never past the caller's wait.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(self.poll_interval.min(left)).await;
        }
    }

    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        let ids: Vec<Uuid> = receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "DELETE FROM muara_local.messages WHERE queue = $1 AND receipt = ANY($2)",
                &[&self.name, &ids],
            )
            .await
            .map_err(|e| pg_error("delete", e))?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()> {
        let Some(id) = parse_receipt(receipt) else {
            return Err(Error::invalid(format!(
                "not a receipt of this queue: {receipt:?}"
            )));
        };
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "UPDATE muara_local.messages SET visible_at = clock_timestamp() + ($3::float8 * interval '1 millisecond')
                 WHERE queue = $1 AND receipt = $2",
                &[&self.name, &id, &(ms(timeout) as f64)],
            )
            .await
            .map_err(|e| pg_error("change visibility", e))?;
        Ok(())
    }

    async fn depth(&self) -> Result<u64> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_one(
                "SELECT count(*) FROM muara_local.messages WHERE queue = $1",
                &[&self.name],
            )
            .await
            .map_err(|e| pg_error("depth", e))?;
        let n: i64 = row.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
