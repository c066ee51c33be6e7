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
    /// The ids of the messages reported failed, in order.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

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
    let Some(event) = sqs_event(payload, consumer) else {
        return (response, Vec::new());
    };
    let mut out = Vec::with_capacity(event.records.len());
    for m in event.records {
        let id = m.message_id.clone();
        // Every line logged while handling it names the consumer and the message.
        let span = tracing::info_span!("message", %consumer, message_id = %id);
        match tracing::Instrument::instrument(handle(m), span).await {
            Ok(t) => out.push(t),
            Err(e) => failed(&mut response, consumer, &id, &e),
        }
    }
    (response, out)
}

/// [`handle_each`] for a consumer that handles the whole batch at once (one transaction):
/// `handle` answers one result per message, in order, and the same policy applies to each — a
/// failed message is logged and reported for redelivery (then the dead-letter queue), never
/// dropped. A message `handle` gave no answer for counts as failed.
pub async fn handle_all<T, F, Fut>(
    payload: serde_json::Value,
    consumer: &str,
    handle: F,
) -> (BatchResponse, Vec<(String, T)>)
where
    F: FnOnce(Vec<SqsMessage>) -> Fut,
    Fut: std::future::Future<Output = Vec<crate::Result<T>>>,
{
    let mut response = BatchResponse::default();
    let Some(event) = sqs_event(payload, consumer) else {
        return (response, Vec::new());
    };
    let ids: Vec<String> = event.records.iter().map(|m| m.message_id.clone()).collect();
    let span = tracing::info_span!("messages", %consumer, count = ids.len());
    let mut results = tracing::Instrument::instrument(handle(event.records), span)
        .await
        .into_iter();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match results.next() {
            Some(Ok(t)) => out.push((id, t)),
            Some(Err(e)) => failed(&mut response, consumer, &id, &e),
            None => failed(
                &mut response,
                consumer,
                &id,
                &crate::Error::fatal("the handler gave no answer for this message"),
            ),
        }
    }
    (response, out)
}

/// The SQS event a Lambda was invoked with; `None` (logged) when it is something else, which
/// has no message to report.
fn sqs_event(payload: serde_json::Value, consumer: &str) -> Option<SqsEvent> {
    match serde_json::from_value(payload) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(%consumer, error = %e, "invoked with something that is not an SQS event");
            None
        }
    }
}

/// The one poison-message policy: logged with its reason, reported for redelivery.
fn failed(response: &mut BatchResponse, consumer: &str, id: &str, e: &crate::Error) {
    tracing::error!(%consumer, message_id = %id, error = %e.chain(), error_type = e.kind().error_type(), "message failed");
    response.fail(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[&str]) -> serde_json::Value {
        let records: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| serde_json::json!({"messageId": id, "body": format!("body of {id}")}))
            .collect();
        serde_json::json!({ "Records": records })
    }

    #[tokio::test]
    async fn each_failed_message_is_reported_and_none_is_dropped() {
        let (r, out) = handle_each(event(&["a", "b", "c"]), "test", |m| async move {
            match m.message_id.as_str() {
                "b" => Err(crate::Error::invalid("not for us")),
                _ => Ok(m.message_id),
            }
        })
        .await;
        assert_eq!(r.failed_ids(), ["b"]);
        assert_eq!(out, ["a", "c"]);

        // A batch handler that answers fewer results than messages: the rest count as failed.
        let (r, out) = handle_all(event(&["a", "b", "c"]), "test", |ms| async move {
            vec![Ok(ms.len()), Err(crate::Error::retryable("database away"))]
        })
        .await;
        assert_eq!(r.failed_ids(), ["b", "c"]);
        assert_eq!(out, [("a".to_string(), 3)]);

        // Not an SQS event: nothing to report (there is no message to send back).
        let (r, out) = handle_all(serde_json::json!({"x": 1}), "test", |_| async move {
            vec![Ok(())]
        })
        .await;
        assert!(r.failed_ids().is_empty() && out.is_empty());
    }
}
