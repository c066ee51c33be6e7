//! Dead-letter queues of the PostgreSQL queue, for the console: every queue with a redrive
//! policy, its dead letters peeked in place, moved back (receive count reset) or deleted.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{DeadLetter, DeadLetterQueue, Swept};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct PgDeadLetters {
    pool: Pool,
}

impl PgDeadLetters {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The dead-letter queue of a source queue.
    async fn dlq_of(&self, c: &deadpool_postgres::Object, queue: &str) -> Result<String> {
        c.query_opt(
            "SELECT dead_letter_queue FROM muara_local.queues WHERE name = $1 AND dead_letter_queue IS NOT NULL",
            &[&queue],
        )
        .await
        .map_err(|e| pg_error("reading muara_local.queues", e))?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::not_found(format!("no queue {queue:?} with a dead-letter queue")))
    }
}

fn uuids(ids: &[String]) -> Result<Vec<Uuid>> {
    ids.iter()
        .map(|i| {
            Uuid::parse_str(i).map_err(|_| Error::invalid(format!("{i:?} is not a message id")))
        })
        .collect()
}

#[async_trait]
impl muara_core::ports::DeadLetters for PgDeadLetters {
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let rows = c
            .query(
                "SELECT q.name, q.dead_letter_queue,
                        (SELECT count(*) FROM muara_local.messages m WHERE m.queue = q.dead_letter_queue)
                 FROM muara_local.queues q WHERE q.dead_letter_queue IS NOT NULL ORDER BY q.name",
                &[],
            )
            .await
            .map_err(|e| pg_error("reading dead-letter queues", e))?;
        Ok(rows
            .iter()
            .map(|r| DeadLetterQueue {
                name: r.get(0),
                source: r.get(0),
                dead_letter_queue: r.get(1),
                count: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
            })
            .collect())
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let dlq = self.dlq_of(&c, queue).await?;
        let limit = i64::try_from(limit).unwrap_or(100);
        let rows = c
            .query(
                "SELECT id::text, body, receive_count, sent_at::text FROM muara_local.messages
                 WHERE queue = $1 ORDER BY sent_at, id LIMIT $2",
                &[&dlq, &limit],
            )
            .await
            .map_err(|e| pg_error("peeking a dead-letter queue", e))?;
        Ok(rows.iter().map(letter).collect())
    }

    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> Result<Swept> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let dlq = self.dlq_of(&c, queue).await?;
        let ids = ids.map(uuids).transpose()?;
        let rows = c
            .query(
                "UPDATE muara_local.messages m SET queue = $2, visible_at = clock_timestamp(),
                        receive_count = 0, receipt = NULL
                 FROM (SELECT id, receive_count AS receives FROM muara_local.messages
                       WHERE queue = $1 AND ($3::uuid[] IS NULL OR id = ANY($3)) FOR UPDATE) old
                 WHERE m.id = old.id
                 RETURNING m.id::text, m.body, old.receives, m.sent_at::text",
                &[&dlq, &queue, &ids],
            )
            .await
            .map_err(|e| pg_error("redriving dead letters", e))?;
        Ok(Swept {
            done: rows.iter().map(letter).collect(),
            stopped: None,
        })
    }

    async fn discard(&self, queue: &str, ids: &[String]) -> Result<Swept> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let dlq = self.dlq_of(&c, queue).await?;
        let ids = uuids(ids)?;
        let rows = c
            .query(
                "DELETE FROM muara_local.messages WHERE queue = $1 AND id = ANY($2)
                 RETURNING id::text, body, receive_count, sent_at::text",
                &[&dlq, &ids],
            )
            .await
            .map_err(|e| pg_error("discarding dead letters", e))?;
        Ok(Swept {
            done: rows.iter().map(letter).collect(),
            stopped: None,
        })
    }
}

/// A message row: id, body, receive count, sent at.
fn letter(r: &tokio_postgres::Row) -> DeadLetter {
    DeadLetter {
        id: r.get(0),
        body: r.get(1),
        receives: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
        sent_at: r.get(3),
    }
}
