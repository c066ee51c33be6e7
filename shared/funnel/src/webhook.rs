//! `POST /webhook/{channel}` bodies: the WhatsApp Cloud API webhook and the generic JSON
//! format, parsed into [`Incoming`] messages; the `X-Hub-Signature-256` check.
//!
//! WhatsApp (`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{…}}]}]}`):
//! each `value.messages[]` is a message — text (`text.body`), interactive replies
//! (`interactive.button_reply.title`, `interactive.list_reply.title`), quick-reply buttons
//! (`button.text`), media with a caption (`image.caption`, …); `from` is the sender's number
//! and `timestamp` Unix seconds. `value.statuses[]` (delivery receipts) are counted, not
//! processed.
//!
//! Generic: one object, an array, or `{"messages":[…]}` of
//! `{"message_id", "phone", "text", "timestamp", "channel"?, "campaign"?}` — `timestamp` in
//! RFC 3339 or Unix seconds; `channel` defaults to the path's.

use hmac::{KeyInit, Mac};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One message as received, before normalisation. Its identity is
/// `(channel, source, message_id)`: equal ids from different channels or WhatsApp numbers are
/// different messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Incoming {
    pub message_id: String,
    pub channel: String,
    /// The account the message was sent to within its channel: WhatsApp's
    /// `metadata.phone_number_id`; empty for generic messages.
    #[serde(default)]
    pub source: String,
    /// As sent; normalised to E.164 by the worker.
    pub phone: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(default)]
    pub campaign: Option<String>,
}

/// A message that could not be read, with its id when it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub message_id: Option<String>,
    pub reason: String,
}

/// What a body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Messages {
        messages: Vec<Incoming>,
        unreadable: Vec<Unreadable>,
        /// WhatsApp delivery statuses in the same body (ignored, counted).
        statuses: usize,
    },
    /// Valid JSON of no known shape: kept raw and reported.
    Unknown(String),
}

/// Why a webhook body is refused as a whole. Its text is the `error` of the `400` answer.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

/// Why a message's `timestamp` is not read. Its text is the message's rejection reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Unix seconds out of the range of a date.
    #[error("timestamp {value:?}: {source}")]
    OutOfRange {
        value: String,
        #[source]
        source: time::error::ComponentRange,
    },
    /// A string that is neither Unix seconds nor RFC 3339.
    #[error("timestamp {value:?} is neither Unix seconds nor RFC 3339: {source}")]
    NotATime {
        value: String,
        #[source]
        source: time::error::Parse,
    },
    /// A number that is not whole Unix seconds of a date.
    #[error("timestamp {0} is not Unix seconds")]
    NotUnixSeconds(serde_json::Number),
    /// No `timestamp` (or `null`).
    #[error("timestamp is missing")]
    Missing,
    /// A JSON value of another kind (a boolean, an object…).
    #[error("timestamp {0} is not a time")]
    NotATimeValue(Value),
}

/// Parses a webhook body. `Err` when it is not JSON at all.
pub fn parse(body: &[u8], channel: &str) -> Result<Body, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    if v.get("object").is_some() || v.get("entry").is_some() {
        return Ok(whatsapp(&v, channel));
    }
    let items: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => match o.get("messages") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ if o.contains_key("message_id") => vec![&v],
            _ => {
                return Ok(Body::Unknown(
                    "neither a WhatsApp webhook nor generic messages (no message_id)".into(),
                ));
            }
        },
        _ => {
            return Ok(Body::Unknown(
                "a JSON value that is not an object or array".into(),
            ));
        }
    };
    if items.is_empty() {
        return Ok(Body::Unknown("an empty list of messages".into()));
    }
    let mut messages = Vec::new();
    let mut unreadable = Vec::new();
    for item in items {
        match generic(item, channel) {
            Ok(m) => messages.push(m),
            Err(u) => unreadable.push(u),
        }
    }
    Ok(Body::Messages {
        messages,
        unreadable,
        statuses: 0,
    })
}

fn text_of(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

fn time_of(v: &Value) -> Result<OffsetDateTime, TimestampError> {
    match v {
        Value::String(s) => {
            if let Ok(secs) = s.trim().parse::<i64>() {
                return OffsetDateTime::from_unix_timestamp(secs).map_err(|source| {
                    TimestampError::OutOfRange {
                        value: s.clone(),
                        source,
                    }
                });
            }
            OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|source| TimestampError::NotATime {
                value: s.clone(),
                source,
            })
        }
        Value::Number(n) => n
            .as_i64()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| TimestampError::NotUnixSeconds(n.clone())),
        Value::Null => Err(TimestampError::Missing),
        other => Err(TimestampError::NotATimeValue(other.clone())),
    }
}

/// A message id as a refusal records it: control characters (which PostgreSQL's text cannot
/// all hold: NUL) escaped, so the refusal itself is always recorded.
fn recordable(id: Option<String>) -> Option<String> {
    id.map(|s| {
        if s.chars().any(char::is_control) {
            s.escape_debug().to_string()
        } else {
            s
        }
    })
}

/// A message id is a key (claims, lake objects, rows): at most 256 characters, none a control
/// character.
fn check_id(id: &str) -> Result<(), String> {
    if id.len() > 256 || id.chars().any(char::is_control) {
        return Err("message_id is longer than 256 characters or has control characters".into());
    }
    Ok(())
}

/// Text kept in a row: NUL (which PostgreSQL's text cannot hold) becomes U+FFFD.
fn storable(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s
    }
}

fn generic(v: &Value, channel: &str) -> Result<Incoming, Unreadable> {
    let id = text_of(v, "message_id").filter(|s| !s.trim().is_empty());
    let bad = |reason: String| Unreadable {
        message_id: recordable(id.clone()),
        reason,
    };
    let message_id = id
        .clone()
        .ok_or_else(|| bad("message_id is missing".into()))?;
    check_id(&message_id).map_err(bad)?;
    let phone = text_of(v, "phone")
        .map(storable)
        .ok_or_else(|| bad("phone is missing".into()))?;
    let text = match v.get("text") {
        Some(Value::String(s)) => storable(s.clone()),
        Some(Value::Null) | None => String::new(),
        Some(other) => return Err(bad(format!("text {other} is not a string"))),
    };
    let sent_at =
        time_of(v.get("timestamp").unwrap_or(&Value::Null)).map_err(|e| bad(e.to_string()))?;
    // A message may name its own channel; it becomes part of keys, so it obeys the route's rule.
    let channel = match text_of(v, "channel").filter(|c| !c.trim().is_empty()) {
        Some(c) if crate::ingest::valid_channel(&c) => c,
        Some(c) => {
            return Err(bad(format!("channel {c:?} is not 1-32 of a-z 0-9 _ -")));
        }
        None => channel.to_string(),
    };
    Ok(Incoming {
        message_id,
        channel,
        source: String::new(),
        phone,
        text,
        sent_at,
        campaign: text_of(v, "campaign").map(storable),
    })
}

fn whatsapp(v: &Value, channel: &str) -> Body {
    let mut messages = Vec::new();
    let mut unreadable = Vec::new();
    let mut statuses = 0;
    let mut values = 0;
    let empty = Vec::new();
    for entry in v.get("entry").and_then(Value::as_array).unwrap_or(&empty) {
        for change in entry
            .get("changes")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
        {
            let Some(value) = change.get("value") else {
                continue;
            };
            values += 1;
            let source = value
                .get("metadata")
                .and_then(|m| m.get("phone_number_id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            statuses += value
                .get("statuses")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for m in value
                .get("messages")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
            {
                match whatsapp_message(m, channel, source) {
                    Ok(i) => messages.push(i),
                    Err(u) => unreadable.push(u),
                }
            }
        }
    }
    if values == 0 {
        return Body::Unknown("a WhatsApp webhook without entry[].changes[].value".into());
    }
    Body::Messages {
        messages,
        unreadable,
        statuses,
    }
}

fn whatsapp_message(m: &Value, channel: &str, source: &str) -> Result<Incoming, Unreadable> {
    let id = text_of(m, "id");
    let bad = |reason: String| Unreadable {
        message_id: recordable(id.clone()),
        reason,
    };
    let message_id = id.clone().ok_or_else(|| bad("message without id".into()))?;
    check_id(&message_id).map_err(bad)?;
    let phone = text_of(m, "from")
        .map(storable)
        .ok_or_else(|| bad("message without from".into()))?;
    let sent_at =
        time_of(m.get("timestamp").unwrap_or(&Value::Null)).map_err(|e| bad(e.to_string()))?;
    let kind = text_of(m, "type").unwrap_or_default();
    let pick = |path: &[&str]| {
        let mut cur = m;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(str::to_string)
    };
    let text = match kind.as_str() {
        "text" => pick(&["text", "body"]),
        "interactive" => pick(&["interactive", "button_reply", "title"])
            .or_else(|| pick(&["interactive", "list_reply", "title"])),
        "button" => pick(&["button", "text"]),
        "image" | "video" | "document" => pick(&[kind.as_str(), "caption"]),
        _ => None,
    }
    .map(storable)
    .unwrap_or_default();
    Ok(Incoming {
        message_id,
        channel: channel.to_string(),
        source: source.to_string(),
        phone,
        text,
        sent_at,
        campaign: pick(&["referral", "source_id"]).map(storable),
    })
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not sha256=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` in constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The signature header value for `body` (tests and the demo sender).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text message as the WhatsApp Cloud API documents its webhook payload.
    pub(crate) const WA_TEXT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "6281234567890"}],
            "messages": [{
              "from": "6281234567890",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
              "timestamp": "1763802000",
              "text": {"body": "Halo kak, mau tanya info promo"},
              "type": "text"
            }]
          },
          "field": "messages"
        }]
      }]
    }"#;

    #[test]
    fn whatsapp_text_interactive_button_and_statuses() {
        let Ok(Body::Messages {
            messages,
            unreadable,
            statuses,
        }) = parse(WA_TEXT.as_bytes(), "whatsapp")
        else {
            panic!("a WhatsApp message")
        };
        assert!(unreadable.is_empty() && statuses == 0);
        assert_eq!(messages[0].phone, "6281234567890");
        assert_eq!(messages[0].text, "Halo kak, mau tanya info promo");
        assert_eq!(messages[0].sent_at.unix_timestamp(), 1_763_802_000);
        let interactive = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp","metadata":{},"messages":[
              {"from":"6281","id":"wamid.a","timestamp":"1763802001","type":"interactive",
               "interactive":{"type":"button_reply","button_reply":{"id":"book","title":"Booking sekarang"}}},
              {"from":"6281","id":"wamid.b","timestamp":"1763802002","type":"button","button":{"text":"Sudah transfer","payload":"p"}},
              {"from":"6281","id":"wamid.c","timestamp":"1763802003","type":"image","image":{"caption":"bukti transfer","id":"x"}}],
            "statuses":[{"id":"wamid.z","status":"delivered","timestamp":"1763802004","recipient_id":"6281"}]}}]}]}"#;
        let Ok(Body::Messages {
            messages, statuses, ..
        }) = parse(interactive.as_bytes(), "whatsapp")
        else {
            panic!("messages")
        };
        let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Booking sekarang", "Sudah transfer", "bukti transfer"]
        );
        assert_eq!(statuses, 1);
        let only_status = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"read"}]}}]}]}"#;
        assert_eq!(
            parse(only_status.as_bytes(), "whatsapp").ok(),
            Some(Body::Messages {
                messages: vec![],
                unreadable: vec![],
                statuses: 1
            })
        );
    }

    #[test]
    fn generic_messages_and_what_is_wrong_with_them() {
        let body = r#"[{"message_id":"g-1","phone":"0812 3456 7890","text":"mau booking","timestamp":"2026-11-22T09:00:00+07:00","campaign":"promo-nov"},
                      {"message_id":"g-2","phone":"0812","text":"x","timestamp":1763802000,"channel":"website"},
                      {"phone":"0812","text":"no id","timestamp":1},
                      {"message_id":"g-4","text":"no phone","timestamp":1},
                      {"message_id":"g-5","phone":"0812","text":"bad time","timestamp":"yesterday"}]"#;
        let Ok(Body::Messages {
            messages,
            unreadable,
            ..
        }) = parse(body.as_bytes(), "ads")
        else {
            panic!("messages")
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(
            (
                messages[0].channel.as_str(),
                messages[0].campaign.as_deref()
            ),
            ("ads", Some("promo-nov"))
        );
        assert_eq!(messages[1].channel, "website");
        let reasons: Vec<&str> = unreadable.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(reasons[0], "message_id is missing");
        assert_eq!(reasons[1], "phone is missing");
        assert!(
            reasons[2].contains("neither Unix seconds nor RFC 3339"),
            "{reasons:?}"
        );
        assert!(matches!(
            parse(br#"{"hello":"world"}"#, "ads"),
            Ok(Body::Unknown(_))
        ));
        assert!(matches!(parse(b"[]", "ads"), Ok(Body::Unknown(_))));
        assert!(parse(b"{not json", "ads").is_err());
    }

    #[test]
    fn ids_channels_and_text_that_keys_or_rows_cannot_hold_are_refused_or_cleaned() {
        // WhatsApp: an id with a NUL is unreadable, recorded with the NUL escaped.
        let body = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{
            "metadata":{"phone_number_id":"p1"},
            "messages":[{"id":"wamid.\u0000x","from":"62812","timestamp":"1763802000","type":"text","text":{"body":"hai"}},
                        {"id":"wamid.ok","from":"62812\u0000","timestamp":"1763802000","type":"text","text":{"body":"a\u0000b"}}]}}]}]}"#;
        let Ok(Body::Messages {
            messages,
            unreadable,
            ..
        }) = parse(body, "wa")
        else {
            panic!("not parsed");
        };
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].message_id.as_deref(), Some("wamid.\\0x"));
        assert!(unreadable[0].reason.contains("control characters"));
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].text, "a\u{FFFD}b");
        assert_eq!(messages[0].phone, "62812\u{FFFD}");
        // Generic: a channel of its own must be a channel name (it becomes part of keys).
        let body = br#"[{"message_id":"g-1","phone":"0812","text":"x","timestamp":1,"channel":"../../etc"},
                        {"message_id":"g-2","phone":"0812","text":"x","timestamp":1,"channel":"web"}]"#;
        let Ok(Body::Messages {
            messages,
            unreadable,
            ..
        }) = parse(body, "ads")
        else {
            panic!("not parsed");
        };
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(
            unreadable[0].reason.contains("\"../../etc\" is not"),
            "{unreadable:?}"
        );
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].channel, "web");
    }

    #[test]
    fn timestamp_reasons() {
        let reason = |v: Value| time_of(&v).map_err(|e| e.to_string());
        assert_eq!(reason(Value::Null), Err("timestamp is missing".into()));
        assert_eq!(
            reason(serde_json::json!(1.5)),
            Err("timestamp 1.5 is not Unix seconds".into())
        );
        assert_eq!(
            reason(serde_json::json!(true)),
            Err("timestamp true is not a time".into())
        );
        assert!(
            reason(serde_json::json!("99999999999999"))
                .is_err_and(|r| r.starts_with("timestamp \"99999999999999\": ")),
        );
        assert!(reason(serde_json::json!("yesterday")).is_err_and(|r| {
            r.starts_with("timestamp \"yesterday\" is neither Unix seconds nor RFC 3339: ")
        }),);
        assert_eq!(
            parse(b"{not json", "ads").map_err(|e| e.to_string()),
            Err("not JSON: key must be a string at line 1 column 2".into())
        );
    }

    #[test]
    fn signatures() {
        let body = WA_TEXT.as_bytes();
        let good = sign(b"app-secret", body);
        assert_eq!(verify_signature(b"app-secret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_signature(b"other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"app-secret", b"tampered", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"app-secret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"app-secret", body, Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"app-secret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }
}
