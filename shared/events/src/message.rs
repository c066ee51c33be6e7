//! What travels on the queue: new events, a few hundred KiB per message at most, each message
//! with its own id so a redelivered message is applied once.

use crate::model::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub topic: String,
    pub event_id: String,
    /// RFC 3339, with the publisher's offset.
    pub timestamp: String,
    pub source: String,
    pub payload: Value,
    pub payload_hash: String,
}

impl QueuedEvent {
    pub fn from_event(e: &Event, payload_hash: String) -> Self {
        Self {
            topic: e.topic.clone(),
            event_id: e.event_id.clone(),
            timestamp: e
                .timestamp
                .format(&Rfc3339)
                .unwrap_or_else(|_| e.timestamp.to_string()),
            source: e.source.clone(),
            payload: Value::Object(e.payload.clone()),
            payload_hash,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsMessage {
    pub message_id: String,
    pub events: Vec<QueuedEvent>,
}

impl EventsMessage {
    /// Splits events into messages of at most `budget` bytes of JSON (one event per message at
    /// least, whatever its size; the body limit keeps any one event far below the queue's).
    pub fn chunk(events: Vec<QueuedEvent>, budget: usize) -> Vec<EventsMessage> {
        let mut out = Vec::new();
        let mut current: Vec<QueuedEvent> = Vec::new();
        let mut size = 0;
        for e in events {
            let len = serde_json::to_string(&e).map(|s| s.len()).unwrap_or(0) + 1;
            if !current.is_empty() && size + len > budget {
                out.push(Self::new(std::mem::take(&mut current)));
                size = 0;
            }
            size += len;
            current.push(e);
        }
        if !current.is_empty() {
            out.push(Self::new(current));
        }
        out
    }

    fn new(events: Vec<QueuedEvent>) -> Self {
        Self {
            message_id: uuid::Uuid::new_v4().to_string(),
            events,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize, pad: usize) -> QueuedEvent {
        QueuedEvent {
            topic: "t".into(),
            event_id: format!("e{i}"),
            timestamp: "2026-11-22T05:00:00Z".into(),
            source: "s".into(),
            payload: serde_json::json!({"pad": "x".repeat(pad)}),
            payload_hash: "h".into(),
        }
    }

    #[test]
    fn events_are_split_under_the_budget_and_none_is_lost() {
        let events: Vec<QueuedEvent> = (0..50).map(|i| ev(i, 1000)).collect();
        let msgs = EventsMessage::chunk(events, 10_000);
        assert!(msgs.len() > 1);
        assert!(msgs.iter().all(|m| m.to_json().len() <= 10_000 + 200));
        let ids: Vec<String> = msgs
            .iter()
            .flat_map(|m| m.events.iter().map(|e| e.event_id.clone()))
            .collect();
        assert_eq!(ids.len(), 50);
        assert_ne!(msgs[0].message_id, msgs[1].message_id);
        assert_eq!(EventsMessage::chunk(vec![ev(0, 50_000)], 1000).len(), 1);
        assert!(EventsMessage::chunk(vec![], 1000).is_empty());
    }
}
