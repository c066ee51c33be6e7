//! What a publisher sends, and the rules it must meet. Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest accepted request body (the HTTP layer refuses larger ones before reading them).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most events in one request.
pub const MAX_BATCH: usize = 1000;
pub const MAX_TOPIC: usize = 128;
pub const MAX_EVENT_ID: usize = 256;
pub const MAX_SOURCE: usize = 256;
/// Deepest nesting accepted inside `payload`.
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// A valid event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: String,
    pub event_id: String,
    pub timestamp: OffsetDateTime,
    pub source: String,
    pub payload: Map<String, Value>,
}

impl Event {
    /// The idempotency key: topic and id, separated by a character neither may contain.
    pub fn key(&self) -> String {
        format!("event:{}\u{1f}{}", self.topic, self.event_id)
    }

    /// SHA-256 of the payload in a canonical form (keys sorted at every level): a retry
    /// hashes the same, a different payload under the same id does not.
    pub fn payload_hash(&self) -> String {
        let mut canonical = String::new();
        write_canonical(&Value::Object(self.payload.clone()), &mut canonical);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(*k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One field's problem, as the `422` answer lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn err(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Why a request body as a whole is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// `413`.
    TooLarge(String),
    /// `422`.
    Invalid(String),
}

/// The request: one event, or a batch (a JSON array, or `{"events": [...]}`).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Single(Value),
    Batch(Vec<Value>),
}

pub fn parse_body(bytes: &[u8]) -> Result<Body, BodyError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge(format!(
            "the body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| BodyError::Invalid(format!("the body is not valid UTF-8: {e}")))?;
    let v: Value = serde_json::from_str(text)
        .map_err(|e| BodyError::Invalid(format!("the body is not valid JSON: {e}")))?;
    let items = match v {
        Value::Array(items) => items,
        Value::Object(mut m) if m.len() == 1 && m.contains_key("events") => {
            match m.remove("events") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(BodyError::Invalid(
                        "\"events\" must be an array of events".into(),
                    ));
                }
            }
        }
        Value::Object(m) => return Ok(Body::Single(Value::Object(m))),
        _ => {
            return Err(BodyError::Invalid(
                "the body must be an event object, an array of events, or {\"events\": [...]}"
                    .into(),
            ));
        }
    };
    if items.is_empty() {
        return Err(BodyError::Invalid("the batch is empty".into()));
    }
    if items.len() > MAX_BATCH {
        return Err(BodyError::TooLarge(format!(
            "the batch has {} events; at most {MAX_BATCH} are accepted",
            items.len()
        )));
    }
    Ok(Body::Batch(items))
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn text<'v>(
    m: &'v Map<String, Value>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<&'v str> {
    match m.get(field) {
        None | Some(Value::Null) => {
            errors.push(err(field, "is required"));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(err(field, "must not be empty"));
            None
        }
        Some(Value::String(s)) if s.chars().count() > max => {
            errors.push(err(field, format!("must be at most {max} characters")));
            None
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            errors.push(err(field, "must not contain control characters"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(err(field, "must be a string"));
            None
        }
    }
}

/// Checks one event; every problem is reported, not just the first.
pub fn validate(v: &Value) -> Result<Event, Vec<FieldError>> {
    let Value::Object(m) = v else {
        return Err(vec![err("", "an event must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let topic = text(m, "topic", MAX_TOPIC, &mut errors);
    if let Some(t) = topic
        && !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
    {
        errors.push(err("topic", "may hold only letters, digits and . _ - : /"));
    }
    let event_id = text(m, "event_id", MAX_EVENT_ID, &mut errors);
    let source = text(m, "source", MAX_SOURCE, &mut errors);
    let timestamp = match m.get("timestamp") {
        None | Some(Value::Null) => {
            errors.push(err("timestamp", "is required"));
            None
        }
        Some(Value::String(s)) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(err(
                    "timestamp",
                    "must be ISO 8601 with a UTC offset, e.g. 2026-11-22T05:00:00Z or 2026-11-22T12:00:00+07:00",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(err("timestamp", "must be a string"));
            None
        }
    };
    let payload = match m.get("payload") {
        None | Some(Value::Null) => {
            errors.push(err("payload", "is required"));
            None
        }
        Some(Value::Object(p)) => {
            if depth(&Value::Object(p.clone())) > MAX_PAYLOAD_DEPTH {
                errors.push(err(
                    "payload",
                    format!("is nested deeper than {MAX_PAYLOAD_DEPTH} levels"),
                ));
                None
            } else {
                Some(p.clone())
            }
        }
        Some(_) => {
            errors.push(err("payload", "must be a JSON object"));
            None
        }
    };
    match (topic, event_id, timestamp, source, payload) {
        (Some(topic), Some(event_id), Some(timestamp), Some(source), Some(payload))
            if errors.is_empty() =>
        {
            Ok(Event {
                topic: topic.to_string(),
                event_id: event_id.to_string(),
                timestamp,
                source: source.to_string(),
                payload,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"topic": "orders.created", "event_id": "e-1", "timestamp": "2026-11-22T12:00:00+07:00",
               "source": "shop", "payload": {"b": 1, "a": [1, {"y": 2, "x": 1}]}})
    }

    #[test]
    fn a_good_event_passes_and_hashes_the_same_whatever_the_key_order() {
        let e = validate(&good()).unwrap();
        assert_eq!(e.topic, "orders.created");
        assert_eq!(e.timestamp.offset().whole_hours(), 7);
        let mut reordered = good();
        reordered["payload"] = json!({"a": [1, {"x": 1, "y": 2}], "b": 1});
        assert_eq!(
            e.payload_hash(),
            validate(&reordered).unwrap().payload_hash()
        );
        let mut other = good();
        other["payload"]["b"] = json!(2);
        assert_ne!(e.payload_hash(), validate(&other).unwrap().payload_hash());
    }

    #[test]
    fn every_problem_is_reported_by_field() {
        let errors = validate(
            &json!({"topic": "has space", "event_id": "", "timestamp": "2026-11-22T12:00:00",
                                      "source": 5, "payload": [1]}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["topic", "event_id", "source", "timestamp", "payload"],
            "{errors:?}"
        );
        assert!(errors[3].reason.contains("offset"));
        let errors = validate(&json!({})).unwrap_err();
        assert_eq!(errors.len(), 5);
        assert!(validate(&json!("x")).is_err());
        let long = "x".repeat(MAX_TOPIC + 1);
        let mut e = good();
        e["topic"] = json!(long);
        assert!(validate(&e).is_err());
    }

    #[test]
    fn deep_payloads_are_refused() {
        let mut p = json!(1);
        for _ in 0..=MAX_PAYLOAD_DEPTH {
            p = json!({ "n": p });
        }
        let mut e = good();
        e["payload"] = p;
        let errors = validate(&e).unwrap_err();
        assert_eq!(errors[0].field, "payload");
    }

    #[test]
    fn bodies_are_one_event_or_a_batch_within_limits() {
        assert!(matches!(
            parse_body(br#"{"topic":"t"}"#),
            Ok(Body::Single(_))
        ));
        assert!(matches!(parse_body(b"[{}, {}]"), Ok(Body::Batch(v)) if v.len() == 2));
        assert!(matches!(parse_body(br#"{"events":[{}]}"#), Ok(Body::Batch(v)) if v.len() == 1));
        assert!(matches!(parse_body(b"[]"), Err(BodyError::Invalid(m)) if m.contains("empty")));
        assert!(
            matches!(parse_body(b"{\"a\":\xff}"), Err(BodyError::Invalid(m)) if m.contains("UTF-8"))
        );
        assert!(matches!(parse_body(b"{nope"), Err(BodyError::Invalid(_))));
        assert!(matches!(parse_body(b"42"), Err(BodyError::Invalid(_))));
        let many = format!("[{}]", vec!["{}"; MAX_BATCH + 1].join(","));
        assert!(matches!(
            parse_body(many.as_bytes()),
            Err(BodyError::TooLarge(_))
        ));
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(parse_body(&huge), Err(BodyError::TooLarge(_))));
        // serde_json's own recursion limit turns absurd nesting into a clear 422.
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_body(nested.as_bytes()),
            Err(BodyError::Invalid(_))
        ));
    }
}
