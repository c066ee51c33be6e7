//! SQS events as Lambda receives them, and the partial batch failure response that makes
//! SQS redeliver only the messages that failed (one bad message never blocks the rest).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsMessage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
}

/// `{"batchItemFailures":[{"itemIdentifier": "<messageId>"}]}` (needs
/// `FunctionResponseTypes: [ReportBatchItemFailures]` on the event source).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn fail(&mut self, message_id: &str) {
        self.batch_item_failures.push(ItemFailure {
            item_identifier: message_id.to_string(),
        });
    }
}

/// Runs `handle` on every message of an SQS event (`payload`, as Lambda passes it). A message
/// whose handling fails is logged and reported for redelivery; what the others returned comes
/// back in order. A payload that is not an SQS event is logged and nothing is reported.
pub async fn handle_each<T, F, Fut>(
    payload: serde_json::Value,
    consumer: &str,
    mut handle: F,
) -> (BatchResponse, Vec<T>)
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let mut response = BatchResponse::default();
    let event: SqsEvent = match serde_json::from_value(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(%consumer, error = %e, "invoked with something that is not an SQS event");
            return (response, Vec::new());
        }
    };
    let mut out = Vec::with_capacity(event.records.len());
    for m in event.records {
        let id = m.message_id.clone();
        match handle(m).await {
            Ok(t) => out.push(t),
            Err(e) => {
                tracing::error!(%consumer, message_id = %id, error = %e.chain(), error_type = e.kind().error_type(), "message failed");
                response.fail(&id);
            }
        }
    }
    (response, out)
}
