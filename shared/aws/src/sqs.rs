//! [`Queue`] on SQS: batches of ten (SQS's limit), long polling, receive counts from
//! `ApproximateReceiveCount`, dead-lettering by the queue's redrive policy.

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use muara_core::ports::{OutgoingMessage, Queue, ReceivedMessage};
use muara_core::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a queue (for tests and local provisioning; in AWS the template creates them).
    /// `redrive`: `(dead-letter queue URL, maxReceiveCount)`.
    pub async fn create(
        client: &Client,
        name: &str,
        visibility_timeout: Duration,
        redrive: Option<(&str, u32)>,
    ) -> Result<Self> {
        let mut attrs = HashMap::new();
        attrs.insert(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        );
        if let Some((dlq_url, max)) = redrive {
            let arn = Self::new(client.clone(), dlq_url).arn().await?;
            attrs.insert(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string(),
            );
        }
        let out = client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("SQS CreateQueue {name}"), e))?;
        let url = out
            .queue_url()
            .ok_or_else(|| Error::fatal("SQS returned no queue URL"))?;
        Ok(Self::new(client.clone(), url))
    }

    pub async fn arn(&self) -> Result<String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sdk_error("SQS GetQueueAttributes", e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| Error::fatal("SQS returned no queue ARN"))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let attrs: HashMap<String, MessageAttributeValue> = m
                        .attributes
                        .iter()
                        .filter_map(|(k, v)| {
                            MessageAttributeValue::builder()
                                .data_type("String")
                                .string_value(v)
                                .build()
                                .ok()
                                .map(|a| (k.clone(), a))
                        })
                        .collect();
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .set_delay_seconds(m.delay.map(secs_i32))
                        .set_message_attributes((!attrs.is_empty()).then_some(attrs))
                        .build()
                        .map_err(|e| {
                            Error::with_source(ErrorKind::Invalid, "building an SQS entry", e)
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("SQS SendMessageBatch", e))?;
            if let Some(f) = out.failed().first() {
                let kind = if f.sender_fault() {
                    ErrorKind::Invalid
                } else {
                    ErrorKind::Retryable
                };
                return Err(Error::new(
                    kind,
                    format!(
                        "SQS rejected {} of {} messages: {}: {}",
                        out.failed().len(),
                        chunk.len(),
                        f.code(),
                        f.message().unwrap_or("")
                    ),
                ));
            }
            let mut ok: Vec<(usize, String)> = out
                .successful()
                .iter()
                .map(|s| {
                    (
                        s.id().parse().unwrap_or(usize::MAX),
                        s.message_id().to_string(),
                    )
                })
                .collect();
            ok.sort();
            ids.extend(ok.into_iter().map(|(_, id)| id));
        }
        Ok(ids)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(secs_i32(wait).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sdk_error("SQS ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| ReceivedMessage {
                id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| {
                                v.string_value().map(|s| (k.clone(), s.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_else(BTreeMap::new),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| {
                            Error::with_source(ErrorKind::Invalid, "building an SQS entry", e)
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("SQS DeleteMessageBatch", e))?;
            for f in out.failed() {
                // A stale receipt (the message was redelivered meanwhile) is not an error to
                // the caller: the newer delivery will be processed and deleted.
                tracing::debug!(
                    code = f.code(),
                    message = f.message().unwrap_or(""),
                    "SQS did not delete a message"
                );
            }
        }
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs_i32(timeout))
            .send()
            .await
            .map_err(|e| sdk_error("SQS ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn depth(&self) -> Result<u64> {
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("SQS GetQueueAttributes", e))?;
        let attrs = out.attributes();
        Ok(names
            .iter()
            .filter_map(|n| {
                attrs
                    .and_then(|a| a.get(n))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .sum())
    }
}
