//! The metadata sidecar the agent writes next to each audio object, last, once the audio is
//! verified: `recordings/…/{call_id}.json`. Its arrival is what the indexer is notified of.

use crate::model::{AudioFormat, Recording};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The current sidecar layout.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub schema: u32,
    pub recording: Recording,
    pub audio: AudioObject,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    pub agent_version: String,
}

/// The audio object as the store verified it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioObject {
    pub key: String,
    pub size: u64,
    /// Base64 SHA-256 of the whole file.
    pub sha256: String,
    /// The checksum the store reports for the object: the whole-file SHA-256, or for a
    /// multipart upload the composite `<b64>-<parts>`.
    pub checksum: String,
    pub format: AudioFormat,
}

/// Where the recording came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub host: String,
    pub path: String,
    /// Base64 SHA-256 of the recorder's XML as read.
    pub xml_sha256: String,
}

/// Why a sidecar is refused. Its text is the rejection reason the indexer stores.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Not JSON, or not the sidecar's shape.
    #[error("not a recording sidecar: {0}")]
    Malformed(#[source] serde_json::Error),
    /// A sidecar of a layout this version does not read.
    #[error("sidecar schema {0} is not supported (expected {SCHEMA})")]
    UnsupportedSchema(u32),
}

impl Sidecar {
    pub fn parse(raw: &[u8]) -> Result<Self, SidecarError> {
        let s: Sidecar = serde_json::from_slice(raw).map_err(SidecarError::Malformed)?;
        if s.schema != SCHEMA {
            return Err(SidecarError::UnsupportedSchema(s.schema));
        }
        Ok(s)
    }
}

/// Whether a checksum the store reports is `expected`: S3 reports multipart composites as
/// `<b64>-<parts>`, and some emulators drop the `-<parts>` suffix.
pub fn checksum_matches(reported: &str, expected: &str) -> bool {
    let digest = |s: &str| {
        s.split_once('-')
            .map_or(s.to_string(), |(d, _)| d.to_string())
    };
    reported == expected || digest(reported) == digest(expected)
}
