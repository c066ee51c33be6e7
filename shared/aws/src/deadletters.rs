//! Dead-letter queues on SQS, for the console (`MUARA_DEAD_LETTER_QUEUES`: a JSON list of
//! `{"name", "dlq_url", "source_url"}`).
//!
//! SQS cannot read a message without receiving it, nor delete one without a receipt, so:
//! peek receives with a short visibility timeout and releases what it saw at once; redrive and
//! discard receive in rounds, act on the messages asked for, and release the others.

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use muara_api::{DeadLetter, DeadLetterQueue};
use muara_core::{Error, Result};
use serde::Deserialize;
use std::collections::HashSet;

/// One dead-letter queue and the queue its messages are redriven to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqSpec {
    pub name: String,
    pub dlq_url: String,
    pub source_url: String,
}

#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    queues: Vec<DlqSpec>,
}

/// Receive rounds one redrive or discard makes at most (10 messages each).
const MAX_ROUNDS: usize = 100;

impl SqsDeadLetters {
    pub fn new(client: Client, queues: Vec<DlqSpec>) -> Self {
        Self { client, queues }
    }

    /// Reads `MUARA_DEAD_LETTER_QUEUES`.
    pub fn from_env(client: Client) -> Result<Self> {
        let raw = muara_core::config::required("MUARA_DEAD_LETTER_QUEUES")?;
        let queues: Vec<DlqSpec> = serde_json::from_str(&raw).map_err(|e| {
            Error::config(format!(
                "MUARA_DEAD_LETTER_QUEUES is not a JSON list of {{name, dlq_url, source_url}}: {e}"
            ))
        })?;
        Ok(Self::new(client, queues))
    }

    fn spec(&self, name: &str) -> Result<&DlqSpec> {
        self.queues
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| Error::not_found(format!("no dead-letter queue {name:?}")))
    }

    async fn receive(
        &self,
        url: &str,
        visibility: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        Ok(self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sdk_error("receiving dead letters", e))?
            .messages
            .unwrap_or_default())
    }

    async fn release(&self, url: &str, receipt: &str) {
        if let Err(e) = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            // It becomes visible again when its timeout ends anyway.
            tracing::warn!(error = %sdk_error("releasing a dead letter", e).chain(), "dead letter not released");
        }
    }

    async fn delete(&self, url: &str, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("deleting a dead letter", e))?;
        Ok(())
    }

    /// Receives in rounds; `act` says, per message, whether it was handled (else released).
    async fn sweep<F, Fut>(
        &self,
        url: &str,
        wanted: Option<&HashSet<&str>>,
        mut act: F,
    ) -> Result<u64>
    where
        F: FnMut(aws_sdk_sqs::types::Message) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let mut done = 0u64;
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let batch = self.receive(url, 30).await?;
            if batch.is_empty() {
                break;
            }
            let mut fresh = false;
            for m in batch {
                let id = m.message_id.clone().unwrap_or_default();
                let receipt = m.receipt_handle.clone().unwrap_or_default();
                fresh |= seen.insert(id.clone());
                if wanted.is_none_or(|w| w.contains(id.as_str())) {
                    act(m).await?;
                    done += 1;
                } else {
                    held.push(receipt);
                }
            }
            if wanted.is_some_and(|w| done as usize >= w.len()) || !fresh {
                break;
            }
        }
        for r in held {
            self.release(url, &r).await;
        }
        Ok(done)
    }
}

#[async_trait]
impl muara_api::DeadLetters for SqsDeadLetters {
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>> {
        let mut out = Vec::new();
        for q in &self.queues {
            let attrs = self
                .client
                .get_queue_attributes()
                .queue_url(&q.dlq_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .map_err(|e| sdk_error("reading a dead-letter queue's depth", e))?;
            let count = attrs
                .attributes
                .unwrap_or_default()
                .values()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum();
            out.push(DeadLetterQueue {
                name: q.name.clone(),
                source: q.source_url.clone(),
                dead_letter_queue: q.dlq_url.clone(),
                count,
            });
        }
        Ok(out)
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        let url = self.spec(queue)?.dlq_url.clone();
        let mut out: Vec<DeadLetter> = Vec::new();
        let mut receipts = Vec::new();
        while out.len() < limit {
            let batch = self.receive(&url, 10).await?;
            if batch.is_empty() {
                break;
            }
            let mut fresh = false;
            for m in batch {
                let id = m.message_id.clone().unwrap_or_default();
                receipts.push(m.receipt_handle.clone().unwrap_or_default());
                if out.iter().any(|d| d.id == id) || out.len() >= limit {
                    continue;
                }
                fresh = true;
                let attrs = m.attributes.unwrap_or_default();
                let attr = |k: MessageSystemAttributeName| attrs.get(&k).cloned();
                out.push(DeadLetter {
                    id,
                    body: m.body.unwrap_or_default(),
                    receives: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    sent_at: attr(MessageSystemAttributeName::SentTimestamp).and_then(|ms| {
                        let ms: i128 = ms.parse().ok()?;
                        time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
                            .ok()?
                            .format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    }),
                });
            }
            if !fresh {
                break;
            }
        }
        for r in receipts {
            self.release(&url, &r).await;
        }
        Ok(out)
    }

    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> Result<u64> {
        let spec = self.spec(queue)?.clone();
        let wanted: Option<HashSet<&str>> = ids.map(|i| i.iter().map(String::as_str).collect());
        self.sweep(&spec.dlq_url, wanted.as_ref(), |m| {
            let spec = spec.clone();
            async move {
                // Sent first, deleted second: a crash between them leaves a copy in both
                // queues (the consumers are idempotent), never none.
                let mut send = self
                    .client
                    .send_message()
                    .queue_url(&spec.source_url)
                    .message_body(m.body.clone().unwrap_or_default());
                for (k, v) in m.message_attributes.clone().unwrap_or_default() {
                    send = send.message_attributes(k, v);
                }
                send.send()
                    .await
                    .map_err(|e| sdk_error("redriving a dead letter", e))?;
                self.delete(
                    &spec.dlq_url,
                    m.receipt_handle.as_deref().unwrap_or_default(),
                )
                .await
            }
        })
        .await
    }

    async fn discard(&self, queue: &str, ids: &[String]) -> Result<u64> {
        let url = self.spec(queue)?.dlq_url.clone();
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        self.sweep(&url, Some(&wanted), |m| {
            let url = url.clone();
            async move {
                self.delete(&url, m.receipt_handle.as_deref().unwrap_or_default())
                    .await
            }
        })
        .await
    }
}
