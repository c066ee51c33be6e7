//! S3 event notifications, as S3 sends them to SQS (and as the local lake watcher emits them).
//!
//! S3 URL-encodes object keys in notifications, with `+` for spaces (moto percent-encodes as
//! well); [`decode_key`] undoes both, so handlers always see the real key.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Event {
    #[serde(rename = "Records", default)]
    pub records: Vec<S3EventRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3EventRecord {
    #[serde(default)]
    pub event_source: String,
    #[serde(default)]
    pub event_name: String,
    #[serde(default)]
    pub event_time: String,
    pub s3: S3Entity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Entity {
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Bucket {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Object {
    /// As sent: URL-encoded. Use [`S3EventRecord::key`] for the real key.
    pub key: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(rename = "eTag", default)]
    pub e_tag: Option<String>,
    #[serde(default)]
    pub sequencer: Option<String>,
}

impl S3EventRecord {
    /// A notification for a newly created object, key encoded the way S3 encodes it.
    pub fn object_created(bucket: &str, key: &str, size: u64, event_time: &str) -> Self {
        S3EventRecord {
            event_source: "aws:s3".into(),
            event_name: "ObjectCreated:Put".into(),
            event_time: event_time.into(),
            s3: S3Entity {
                bucket: S3Bucket {
                    name: bucket.into(),
                },
                object: S3Object {
                    key: encode_key(key),
                    size: Some(size),
                    e_tag: None,
                    sequencer: None,
                },
            },
        }
    }

    /// The decoded object key.
    pub fn key(&self) -> Result<String> {
        decode_key(&self.s3.object.key)
    }

    pub fn is_object_created(&self) -> bool {
        self.event_name.starts_with("ObjectCreated")
    }
}

impl S3Event {
    /// Parses a notification body. S3's `s3:TestEvent` (sent when notifications are
    /// configured) has no records and parses to an empty event.
    pub fn parse(body: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(body)?;
        if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
            return Ok(S3Event { records: vec![] });
        }
        serde_json::from_value(v)
            .map_err(|e| Error::with_source(crate::ErrorKind::Invalid, "not an S3 event", e))
    }
}

const KEY_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/')
    .remove(b' ');

/// Encodes a key as S3 does in notifications (`+` for space, `%XX` otherwise).
pub fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY_SET)
        .to_string()
        .replace(' ', "+")
}

/// Decodes a notification key: `+` is a space, then `%XX` sequences.
pub fn decode_key(encoded: &str) -> Result<String> {
    let plus = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| Error::with_source(crate::ErrorKind::Invalid, "object key is not UTF-8", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_s3_encoding() {
        for key in [
            "raw/acme/sales/incoming/Q1 report (final).csv",
            "raw/a+b/x%y/ünïcode.csv",
            "plain/key.json",
        ] {
            let enc = encode_key(key);
            assert!(!enc.contains(' '));
            assert_eq!(decode_key(&enc).unwrap(), key);
        }
    }

    #[test]
    fn decodes_keys_as_aws_and_moto_send_them() {
        assert_eq!(decode_key("a+b%2Bc.csv").unwrap(), "a b+c.csv");
        assert_eq!(
            decode_key("raw/x/y/incoming/f%20g.csv").unwrap(),
            "raw/x/y/incoming/f g.csv"
        );
    }

    #[test]
    fn parses_a_real_notification_and_the_test_event() {
        let body = include_str!("../tests/data/s3-object-created.json");
        let ev = S3Event::parse(body).unwrap();
        assert_eq!(ev.records.len(), 1);
        assert!(ev.records[0].is_object_created());
        assert_eq!(
            ev.records[0].key().unwrap(),
            "raw/acme/sales/incoming/sales 2024.csv"
        );
        let test = S3Event::parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#)
            .unwrap();
        assert!(test.records.is_empty());
    }
}
