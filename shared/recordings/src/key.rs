//! Object key templates: `recordings/{yyyy}/{mm}/{dd}/{call_id}.wav` and the like.
//!
//! A template is checked once, when the configuration is read: it must start with the literal
//! prefix the indexer is notified on, name `{call_id}` (so two calls never share a key), and
//! end in `.wav`. Each rendered value is checked again: a value that would add a folder level
//! or leave the prefix (`/`, `\`, `..`, control characters) makes the file fail with that
//! reason rather than land somewhere unexpected.

use crate::model::Recording;

/// The prefix every recording key starts with; S3 notifies the indexer for sidecars under it.
pub const PREFIX: &str = "recordings/";

/// Fields a template may use.
pub const FIELDS: &[&str] = &[
    "yyyy",
    "mm",
    "dd",
    "hh",
    "min",
    "ss",
    "call_id",
    "agent_id",
    "extension",
    "direction",
    "queue",
    "host",
    "custom.<name>",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("key template {template:?}: {reason}")]
    Template { template: String, reason: String },
    #[error("unsafe key: field {field} = {value:?} {reason}")]
    UnsafeValue {
        field: String,
        value: String,
        reason: &'static str,
    },
    #[error("unsafe key: field {field} is empty for this recording")]
    Empty { field: String },
    #[error("unsafe key {key:?}: {reason}")]
    UnsafeKey { key: String, reason: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Field(String),
}

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    source: String,
    parts: Vec<Part>,
}

impl KeyTemplate {
    pub fn parse(template: &str) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::Template {
            template: template.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| bad("a '{' is never closed".into()))?
                + open;
            let name = &rest[open + 1..close];
            let known = FIELDS.contains(&name)
                || name
                    .strip_prefix("custom.")
                    .is_some_and(|n| !n.is_empty() && !n.contains(['{', '}']));
            if !known {
                return Err(bad(format!(
                    "unknown field {{{name}}}; fields are {}",
                    FIELDS.join(", ")
                )));
            }
            parts.push(Part::Field(name.to_string()));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(bad("a '}' has no '{'".into()));
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        match parts.first() {
            Some(Part::Lit(l)) if l.starts_with(PREFIX) => {}
            _ => {
                return Err(bad(format!(
                    "must start with {PREFIX:?}, the prefix the indexer is notified on"
                )));
            }
        }
        if !parts.iter().any(|p| *p == Part::Field("call_id".into())) {
            return Err(bad(
                "must contain {call_id}, or two calls could share one key".into(),
            ));
        }
        if !template.to_ascii_lowercase().ends_with(".wav") {
            return Err(bad("must end with .wav".into()));
        }
        for p in &parts {
            if let Part::Lit(l) = p
                && (l.contains("..") || l.contains('\\') || l.contains("//"))
            {
                return Err(bad("contains '..', '\\' or an empty folder".into()));
            }
        }
        Ok(Self {
            source: template.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The audio key for `rec`, uploaded from `host`.
    pub fn render(&self, rec: &Recording, host: &str) -> Result<String, KeyError> {
        let t = rec.started_at;
        let mut key = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => key.push_str(l),
                Part::Field(f) => {
                    let v = match f.as_str() {
                        "yyyy" => format!("{:04}", t.year()),
                        "mm" => format!("{:02}", u8::from(t.month())),
                        "dd" => format!("{:02}", t.day()),
                        "hh" => format!("{:02}", t.hour()),
                        "min" => format!("{:02}", t.minute()),
                        "ss" => format!("{:02}", t.second()),
                        "call_id" => rec.call_id.clone(),
                        "agent_id" => rec.agent_id.clone().unwrap_or_default(),
                        "extension" => rec.extension.clone().unwrap_or_default(),
                        "direction" => rec.direction.as_str().to_string(),
                        "queue" => rec.queue.clone().unwrap_or_default(),
                        "host" => host.to_string(),
                        other => other
                            .strip_prefix("custom.")
                            .and_then(|n| rec.custom.get(n).cloned())
                            .unwrap_or_default(),
                    };
                    check_value(f, &v)?;
                    key.push_str(&v);
                }
            }
        }
        if key.len() > 1024 {
            return Err(KeyError::UnsafeKey {
                key,
                reason: "is longer than S3's 1024 bytes",
            });
        }
        Ok(key)
    }
}

fn check_value(field: &str, v: &str) -> Result<(), KeyError> {
    let unsafe_value = |reason| KeyError::UnsafeValue {
        field: field.to_string(),
        value: v.to_string(),
        reason,
    };
    if v.is_empty() {
        return Err(KeyError::Empty {
            field: field.to_string(),
        });
    }
    if v.contains('/') || v.contains('\\') {
        return Err(unsafe_value("contains a path separator"));
    }
    if v == "." || v == ".." || v.starts_with('.') {
        return Err(unsafe_value("starts with a dot"));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(unsafe_value("contains a control character"));
    }
    if v.trim() != v {
        return Err(unsafe_value("starts or ends with white space"));
    }
    Ok(())
}

/// The sidecar's key: the audio key with `.json` for its extension.
pub fn sidecar_key(audio_key: &str) -> String {
    let stem = audio_key
        .len()
        .checked_sub(4)
        .filter(|&i| audio_key.is_char_boundary(i) && audio_key[i..].eq_ignore_ascii_case(".wav"))
        .map_or(audio_key, |i| &audio_key[..i]);
    format!("{stem}.json")
}

/// Whether `key` is a sidecar: a `.json` under [`PREFIX`].
pub fn is_sidecar(key: &str) -> bool {
    key.starts_with(PREFIX) && key.ends_with(".json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Direction;
    use std::collections::BTreeMap;
    use time::macros::datetime;

    fn rec(call_id: &str) -> Recording {
        Recording {
            call_id: call_id.into(),
            started_at: datetime!(2026-11-22 09:15:02 +07:00),
            ended_at: None,
            duration_ms: 1000,
            agent_id: Some("A-104".into()),
            agent_name: None,
            extension: None,
            caller: None,
            callee: None,
            direction: Direction::Inbound,
            queue: None,
            custom: BTreeMap::from([("site".into(), "jkt".into())]),
        }
    }

    #[test]
    fn default_template_renders_the_date_layout() {
        let t = KeyTemplate::parse("recordings/{yyyy}/{mm}/{dd}/{call_id}.wav").expect("valid");
        assert_eq!(
            t.render(&rec("C-1"), "h1").expect("renders"),
            "recordings/2026/11/22/C-1.wav"
        );
        let t = KeyTemplate::parse("recordings/{custom.site}/{host}/{agent_id}/{call_id}.wav")
            .expect("valid");
        assert_eq!(
            t.render(&rec("C-1"), "h1").expect("renders"),
            "recordings/jkt/h1/A-104/C-1.wav"
        );
    }

    #[test]
    fn bad_templates_are_refused_when_read() {
        for (t, why) in [
            ("other/{call_id}.wav", "must start with"),
            ("recordings/{yyyy}.wav", "{call_id}"),
            ("recordings/{call_id}.mp3", ".wav"),
            ("recordings/{nope}/{call_id}.wav", "unknown field"),
            ("recordings/{call_id.wav", "never closed"),
            ("recordings/../{call_id}.wav", "'..'"),
        ] {
            let e = KeyTemplate::parse(t).expect_err(t).to_string();
            assert!(e.contains(why), "{t}: {e}");
        }
    }

    #[test]
    fn values_that_would_escape_the_layout_are_refused() {
        let t = KeyTemplate::parse("recordings/{yyyy}/{call_id}.wav").expect("valid");
        for id in [
            "../etc/passwd",
            "a/b",
            "a\\b",
            "..",
            ".hidden",
            "a\nb",
            " x",
        ] {
            let e = t.render(&rec(id), "h").expect_err(id).to_string();
            assert!(e.starts_with("unsafe key"), "{id}: {e}");
        }
        let t = KeyTemplate::parse("recordings/{queue}/{call_id}.wav").expect("valid");
        assert!(matches!(
            t.render(&rec("C"), "h"),
            Err(KeyError::Empty { .. })
        ));
    }

    #[test]
    fn sidecar_sits_next_to_the_audio() {
        assert_eq!(sidecar_key("recordings/a/C-1.wav"), "recordings/a/C-1.json");
        assert_eq!(sidecar_key("recordings/a/C-1.WAV"), "recordings/a/C-1.json");
        assert!(is_sidecar("recordings/a/C-1.json"));
        assert!(!is_sidecar("reports/agent/h/r.json"));
    }
}
