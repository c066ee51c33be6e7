//! Pipeline C `POST /publish` bodies: `muara_events::model::parse_body`, then `validate` of
//! every event, its idempotency key and payload hash, the queue message it becomes
//! (`message::QueuedEvent` / `EventsMessage::chunk`), and that message read back as the
//! worker reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use muara_events::message::{EventsMessage, QueuedEvent};
use muara_events::model::{Body, parse_body, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_body(data) else {
        return;
    };
    let items = match body {
        Body::Single(v) => vec![v],
        Body::Batch(v) => v,
    };
    let mut queued = Vec::new();
    for item in &items {
        if let Ok(event) = validate(item) {
            let _ = event.key();
            let hash = event.payload_hash();
            queued.push(QueuedEvent::from_event(&event, hash));
        }
    }
    let n = queued.len();
    let messages = EventsMessage::chunk(queued, 4096);
    assert_eq!(messages.iter().map(|m| m.events.len()).sum::<usize>(), n);
    for m in &messages {
        let json = m.to_json();
        let back: EventsMessage = serde_json::from_str(&json).expect("queue message reads back");
        assert_eq!(back.events.len(), m.events.len());
    }
});
