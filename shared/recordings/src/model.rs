//! The normalised recording: what every vendor's XML is mapped to, what the sidecar carries,
//! and what the index stores.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
    #[default]
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::Unknown => "unknown",
        }
    }

    /// Reads the spellings recorders use (`in`, `Inbound`, `incoming`, `I`, …), any case.
    /// `None` for a value that names no direction.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "in" | "i" | "inbound" | "incoming" | "inb" | "1" => Some(Direction::Inbound),
            "out" | "o" | "outbound" | "outgoing" | "outb" | "2" => Some(Direction::Outbound),
            "internal" | "int" | "local" | "3" => Some(Direction::Internal),
            "" | "unknown" => Some(Direction::Unknown),
            _ => None,
        }
    }
}

/// A call's metadata, normalised from the recorder's XML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub call_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ended_at: Option<OffsetDateTime>,
    /// From the XML's duration, or its end minus start.
    pub duration_ms: u64,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub callee: Option<String>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub queue: Option<String>,
    /// Further fields the profile maps by name (`custom.<name>` in key templates).
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
}

/// What the WAV header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormat {
    /// `pcm`, `float`, `alaw`, `mulaw`, `ima-adpcm`, `gsm610`, `g722`, `g729`, `mp3`.
    pub codec: String,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits_per_sample: u16,
    /// Bytes of audio in the `data` chunk.
    pub data_len: u64,
    pub duration_ms: u64,
}
