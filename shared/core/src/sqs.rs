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
