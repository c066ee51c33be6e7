//! Dead-letter queues on SQS, for the console (`MUARA_DEAD_LETTER_QUEUES`: a JSON list of
//! `{"name", "dlq_url", "source_url"}`).
//!
//! SQS cannot read a message without receiving it, nor delete one without a receipt, so:
//! peek receives with a short visibility timeout and releases what it saw when it is done;
//! redrive and discard receive in rounds within a time budget, act once on each message asked
//! for, hold the others and release them at the end (also after a failure).

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use muara_core::ports::{DeadLetter, DeadLetterQueue, Swept};
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
        wait_secs: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        Ok(self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .wait_time_seconds(wait_secs)
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

    /// Receives in rounds (long polls of a second) until every wanted message is handled, the
    /// queue gives nothing more, or the deadline passes. Each message is acted on once (SQS may
    /// deliver one twice); what is not wanted is held and released at the end, also when an
    /// action fails. What was done is returned with why it stopped, if early.
    async fn sweep<F, Fut>(&self, url: &str, wanted: Option<&HashSet<&str>>, mut act: F) -> Swept
    where
        F: FnMut(aws_sdk_sqs::types::Message) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let deadline = tokio::time::Instant::now() + SWEEP_BUDGET;
        let mut out = Swept::default();
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        'rounds: loop {
            if wanted.is_some_and(|w| out.done.len() >= w.len()) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                out.stopped = Some(format!(
                    "the {}-second budget ran out; ask again for the rest",
                    SWEEP_BUDGET.as_secs()
                ));
                break;
            }
            let batch = match self.receive(url, 30, 1).await {
                Ok(b) => b,
                Err(e) => {
                    out.stopped = Some(e.chain());
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let id = m.message_id.clone().unwrap_or_default();
                let receipt = m.receipt_handle.clone().unwrap_or_default();
                let first_time = seen.insert(id.clone());
                if !first_time || !wanted.is_none_or(|w| w.contains(id.as_str())) {
                    held.push(receipt);
                    continue;
                }
                let letter = letter(&m);
                match act(m).await {
                    Ok(()) => out.done.push(letter),
                    Err(e) => {
                        held.push(receipt);
                        out.stopped = Some(e.chain());
                        break 'rounds;
                    }
                }
            }
        }
        for r in held {
            self.release(url, &r).await;
        }
        out
    }
}

/// How long one redrive or discard may run (the console Lambda has 29 seconds).
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// A received message as the console shows it.
fn letter(m: &aws_sdk_sqs::types::Message) -> DeadLetter {
    let attrs = m.attributes.clone().unwrap_or_default();
    let attr = |k: MessageSystemAttributeName| attrs.get(&k).cloned();
    DeadLetter {
        id: m.message_id.clone().unwrap_or_default(),
        body: m.body.clone().unwrap_or_default(),
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
    }
}

#[async_trait]
impl muara_core::ports::DeadLetters for SqsDeadLetters {
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
        let result = async {
            while out.len() < limit {
                let batch = self.receive(&url, 10, 1).await?;
                if batch.is_empty() {
                    break;
                }
                let mut fresh = false;
                for m in batch {
                    receipts.push(m.receipt_handle.clone().unwrap_or_default());
                    let l = letter(&m);
                    if out.len() < limit && !out.iter().any(|d| d.id == l.id) {
                        fresh = true;
                        out.push(l);
                    }
                }
                if !fresh {
                    break;
                }
            }
            Ok::<_, muara_core::Error>(())
        }
        .await;
        for r in receipts {
            self.release(&url, &r).await;
        }
        result.map(|()| out)
    }

    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> Result<Swept> {
        let spec = self.spec(queue)?.clone();
        let wanted: Option<HashSet<&str>> = ids.map(|i| i.iter().map(String::as_str).collect());
        Ok(self
            .sweep(&spec.dlq_url, wanted.as_ref(), |m| {
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
            .await)
    }

    async fn discard(&self, queue: &str, ids: &[String]) -> Result<Swept> {
        let url = self.spec(queue)?.dlq_url.clone();
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        Ok(self
            .sweep(&url, Some(&wanted), |m| {
                let url = url.clone();
                async move {
                    self.delete(&url, m.receipt_handle.as_deref().unwrap_or_default())
                        .await
                }
            })
            .await)
    }
}
