//! Recorder XML → [`Recording`] through a configurable [`Profile`].
//!
//! Recorder vendors each write their own XML, so the mapping is data: a [`Profile`] names, for
//! each field of [`Recording`], one path or a list of candidate paths into the document (the
//! first candidate with a non-empty value wins), plus how times and durations are written. The
//! agent reads profiles from its TOML configuration; two are built in ([`Profile::builtin`]):
//! `default` (the muara schema) and `attributes` (everything in attributes of one element).
//!
//! # Paths
//!
//! - A path is relative to the document's root element; segments are separated by `/`:
//!   `agent/name` is the `<name>` inside the `<agent>` inside the root.
//! - Names are local names matched case-insensitively: namespace prefixes are ignored, in the
//!   document and in the path (`r:callId`, `callid` and `CallID` all match `<x:callId>`).
//! - A last segment `@name` reads an attribute: `agent/@id`. `@name` alone is an attribute of the
//!   root element, and `.` is the root element's own text.
//! - An element's value is its text (entities resolved, CDATA included, trimmed); when several
//!   elements match, the first in document order wins. An empty value counts as absent, so the
//!   next candidate path is tried.
//!
//! # Times and durations
//!
//! `time_format` is `rfc3339` (the default; a time without an offset, `2026-11-22T09:15:02` or
//! `2026-11-22 09:15:02`, is also accepted and read in `timezone`), `epoch` (seconds since 1970,
//! decimals allowed), `epoch_ms`, or a [`time` format description] such as
//! `[year]-[month]-[day] [hour]:[minute]:[second]`; a description without an offset is read in
//! `timezone` (default `+00:00`). A duration is a number in `duration_unit` (`s`, the default,
//! decimals allowed, or `ms`), or `HH:MM:SS` / `MM:SS` (seconds may have decimals).
//!
//! A recording needs a call id, a start time and either an end time or a duration; when both
//! are given they must agree within 2 seconds.
//!
//! # Encodings
//!
//! A UTF-8 or UTF-16 byte order mark, else the XML declaration's `encoding=`, else UTF-8.
//! Other encodings (ISO-8859-1, windows-1252, Shift_JIS, …) are decoded with `encoding_rs`;
//! a byte that does not decode is an error, never a replacement character. A document declared
//! UTF-16 whose bytes are plainly 8-bit (a common .NET mistake) is read as UTF-8.
//!
//! [`time` format description]: https://time-rs.github.io/book/api/format-description.html

use crate::model::{Direction, Recording};
use encoding_rs::{DecoderResult, Encoding};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use time::error::{Parse as TimeParseError, TryFromParsed};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Why a recorder XML could not be mapped to a [`Recording`]. The messages go to operators as
/// they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML (quick-xml's reason and the byte position), or no root element.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The bytes do not match the declared (or implied) encoding, or the encoding is unknown.
    #[error("bad XML encoding: {0}")]
    Encoding(String),
    /// A required field has no value at any of the profile's paths: `(field, paths tried)`.
    #[error("missing {0}: no value at {1}")]
    Missing(&'static str, String),
    /// A time that does not parse, or an impossible date.
    #[error("bad {field} {value:?}: {reason}")]
    BadTime {
        /// `started_at` or `ended_at`.
        field: &'static str,
        /// The value as found in the XML.
        value: String,
        /// What is wrong with it.
        #[source]
        reason: TimeError,
    },
    /// A duration that is not a number in the profile's unit, `HH:MM:SS` or `MM:SS`.
    #[error(
        "bad duration {value:?}: expected a number (of seconds, or of milliseconds when the \
         profile's duration_unit is \"ms\"), HH:MM:SS or MM:SS"
    )]
    BadDuration {
        /// The value as found in the XML.
        value: String,
    },
    /// A direction no recorder spelling matches.
    #[error(
        "bad direction {value:?}: expected inbound, outbound or internal (or in/out, I/O, \
         incoming/outgoing, 1/2/3, local)"
    )]
    BadDirection {
        /// The value as found in the XML.
        value: String,
    },
    /// A call id that is too long or contains control characters.
    #[error("bad call_id {value:?}: {reason}")]
    BadCallId {
        /// The value as found in the XML (shortened when very long).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// End before start, or end − start disagreeing with the explicit duration by more than 2 s.
    #[error("inconsistent times: {0}")]
    Inconsistent(String),
}

/// Why a time value is not read in the profile's format (the reason in [`XmlError::BadTime`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Each field is in range, but the day is past the end of its month (2026-02-30).
    #[error("impossible date: that month has no such day")]
    NoSuchDay(#[source] time::error::ComponentRange),
    /// An hour, minute or second out of range.
    #[error("impossible time: {0}")]
    ImpossibleTime(#[source] time::error::ComponentRange),
    /// Another date component out of range.
    #[error("impossible date: {0}")]
    ImpossibleDate(#[source] time::error::ComponentRange),
    /// Neither RFC 3339 nor the same without an offset.
    #[error("not an RFC 3339 time like 2026-11-22T09:15:02+07:00: {0}")]
    NotRfc3339(#[source] TimeParseError),
    /// Does not match the profile's custom format description.
    #[error("does not match the format {desc:?}: {source}")]
    FormatMismatch {
        /// The profile's format description.
        desc: String,
        #[source]
        source: TimeParseError,
    },
    /// The profile's custom format description itself is not valid.
    #[error(transparent)]
    Format(#[from] TimeFormatError),
    /// Not a number, for the `epoch` and `epoch_ms` formats.
    #[error("not a number of {unit} since 1970")]
    NotEpoch {
        /// `seconds` or `milliseconds`.
        unit: &'static str,
    },
    /// A number of seconds or milliseconds past the year 9999.
    #[error("{unit} since 1970 beyond the year 9999{hint}")]
    EpochOutOfRange {
        /// `seconds` or `milliseconds`.
        unit: &'static str,
        /// A hint on the other unit, or empty.
        hint: &'static str,
    },
}

/// A `time_format` that is none of the known names and not a valid `time` format description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "time_format {desc:?} is neither rfc3339, epoch, epoch_ms nor a valid time format \
     description: {source}"
)]
pub struct TimeFormatError {
    /// The value as configured.
    pub desc: String,
    #[source]
    pub source: time::error::InvalidFormatDescription,
}

/// A `timezone` that is not a UTC offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timezone {0:?} is not a UTC offset like \"+07:00\"")]
pub struct TimezoneError(pub String);

/// What is wrong with a profile path's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// A leading, trailing or doubled `/`.
    #[error("empty segment (a leading, trailing or doubled `/`)")]
    EmptySegment,
    /// A segment with whitespace in it.
    #[error("segment {0:?} contains whitespace")]
    Whitespace(String),
    /// An `@attribute` segment that is not the last.
    #[error("attribute segment {0:?} must be the last one")]
    AttributeNotLast(String),
    /// A bare `@`.
    #[error("`@` without an attribute name")]
    NoAttributeName,
    /// `.` inside a longer path, or `..`.
    #[error("segment {0:?}: `.` only stands alone, `..` is not supported")]
    Dots(String),
}

/// An entity or character reference that cannot be resolved.
#[derive(Debug, thiserror::Error)]
enum ReferenceError {
    /// A named entity other than the five predefined ones (DTD entities are not supported).
    #[error(
        "unknown entity &{0}; (only &lt; &gt; &amp; &apos; &quot; and character references are \
         understood)"
    )]
    UnknownEntity(String),
    /// A character reference that is not a valid character.
    #[error("bad character reference &{name};: {source}")]
    BadCharRef {
        /// The reference's content, `#xD800` say.
        name: String,
        #[source]
        source: quick_xml::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------------

/// Candidate paths for one field; the first with a non-empty value wins.
///
/// Deserialises from one string (`"callId"`) or an array of strings (`["agent/name", "agent"]`);
/// each path is checked then (see the [module docs](self) for the syntax).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths(pub Vec<String>);

impl Paths {
    /// Candidate paths, in order.
    pub fn new<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Paths(paths.into_iter().map(Into::into).collect())
    }

    /// No path: the field is not mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The paths for a message: `` `callId`, `@id` ``.
    fn describe(&self) -> String {
        if self.0.is_empty() {
            return "no path (the profile does not map this field)".to_owned();
        }
        self.0
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Serialize for Paths {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PathsVisitor;

        impl<'de> serde::de::Visitor<'de> for PathsVisitor {
            type Value = Vec<String>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or an array of paths (strings)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(vec![v.to_owned()])
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut paths = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    paths.push(p);
                }
                Ok(paths)
            }
        }

        let paths = d.deserialize_any(PathsVisitor)?;
        for p in &paths {
            check_path(p).map_err(|reason| {
                serde::de::Error::custom(format!("invalid path {p:?}: {reason}"))
            })?;
        }
        Ok(Paths(paths))
    }
}

/// Checks a path's syntax; the error says what is wrong.
fn check_path(p: &str) -> Result<(), PathError> {
    if p.trim().is_empty() {
        return Err(PathError::Empty);
    }
    if p.trim() == "." {
        return Ok(());
    }
    let segments: Vec<&str> = p.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if seg.chars().any(char::is_whitespace) {
            return Err(PathError::Whitespace((*seg).to_owned()));
        }
        if let Some(name) = seg.strip_prefix('@') {
            if i + 1 != segments.len() {
                return Err(PathError::AttributeNotLast((*seg).to_owned()));
            }
            if name.is_empty() {
                return Err(PathError::NoAttributeName);
            }
        } else if *seg == "." || *seg == ".." {
            return Err(PathError::Dots((*seg).to_owned()));
        }
    }
    Ok(())
}

/// How the recorder writes times.
///
/// Deserialises from `"rfc3339"`, `"epoch"`, `"epoch_ms"`, or any other string, which must be a
/// valid `time` format description (checked when the profile is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimeFormat {
    /// `2026-11-22T09:15:02+07:00`; without an offset, read in the profile's timezone.
    #[default]
    Rfc3339,
    /// Seconds since 1970-01-01 UTC, decimals allowed.
    Epoch,
    /// Milliseconds since 1970-01-01 UTC.
    EpochMs,
    /// A `time` crate format description (version 2 syntax), e.g.
    /// `[year]-[month]-[day] [hour]:[minute]:[second]`.
    Custom(String),
}

impl TryFrom<String> for TimeFormat {
    type Error = TimeFormatError;

    fn try_from(s: String) -> Result<Self, TimeFormatError> {
        Ok(match s.as_str() {
            "rfc3339" => TimeFormat::Rfc3339,
            "epoch" => TimeFormat::Epoch,
            "epoch_ms" => TimeFormat::EpochMs,
            _ => {
                custom_items(&s)?;
                TimeFormat::Custom(s)
            }
        })
    }
}

impl From<TimeFormat> for String {
    fn from(f: TimeFormat) -> String {
        match f {
            TimeFormat::Rfc3339 => "rfc3339".to_owned(),
            TimeFormat::Epoch => "epoch".to_owned(),
            TimeFormat::EpochMs => "epoch_ms".to_owned(),
            TimeFormat::Custom(s) => s,
        }
    }
}

/// Parses a custom time format description; the error names it.
fn custom_items(desc: &str) -> Result<Vec<BorrowedFormatItem<'_>>, TimeFormatError> {
    time::format_description::parse_borrowed::<2>(desc).map_err(|source| TimeFormatError {
        desc: desc.to_owned(),
        source,
    })
}

/// The UTC offset for times written without one. Deserialises from `"+07:00"`, `"-03:30"`,
/// `"+0700"`, `"+07"`, `"Z"` or `"UTC"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(pub UtcOffset);

impl Default for Timezone {
    fn default() -> Self {
        Timezone(UtcOffset::UTC)
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, _) = self.0.as_hms();
        let sign = if self.0.is_negative() { '-' } else { '+' };
        write!(f, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
    }
}

impl TryFrom<String> for Timezone {
    type Error = TimezoneError;

    fn try_from(s: String) -> Result<Self, TimezoneError> {
        match parse_offset(&s) {
            Some(offset) => Ok(Timezone(offset)),
            None => Err(TimezoneError(s)),
        }
    }
}

impl From<Timezone> for String {
    fn from(t: Timezone) -> String {
        t.to_string()
    }
}

/// `+07:00`, `-0330`, `+07`, `Z`, `UTC` → the offset.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i8, &s[1..]),
        b'-' => (-1i8, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "00"),
    };
    if h.len() != 2 || m.len() != 2 || !is_digits(h) || !is_digits(m) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m >= 60 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// The unit of a plain-number duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurationUnit {
    /// Seconds, decimals allowed (`"s"`).
    #[default]
    #[serde(rename = "s")]
    Seconds,
    /// Milliseconds (`"ms"`).
    #[serde(rename = "ms")]
    Milliseconds,
}

/// How one vendor's XML maps to a [`Recording`]. See the [module docs](self) for paths and
/// formats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The recorder's call id (required).
    pub call_id: Paths,
    /// When the call started (required).
    pub started_at: Paths,
    /// When the call ended; this or `duration` is required.
    #[serde(default)]
    pub ended_at: Paths,
    /// How long the call took; this or `ended_at` is required.
    #[serde(default)]
    pub duration: Paths,
    /// The agent's id.
    #[serde(default)]
    pub agent_id: Paths,
    /// The agent's name.
    #[serde(default)]
    pub agent_name: Paths,
    /// The agent's phone extension.
    #[serde(default)]
    pub extension: Paths,
    /// The calling number (ANI).
    #[serde(default)]
    pub caller: Paths,
    /// The called number (DNIS).
    #[serde(default)]
    pub callee: Paths,
    /// Inbound, outbound or internal, in any spelling [`Direction::parse`] reads.
    #[serde(default)]
    pub direction: Paths,
    /// The queue, skill or hunt group.
    #[serde(default)]
    pub queue: Paths,
    /// Further fields by name, kept in [`Recording::custom`] when they have a value.
    #[serde(default)]
    pub custom: BTreeMap<String, Paths>,
    /// How times are written: "rfc3339" (default), "epoch", "epoch_ms", or a `time` crate format
    /// description like "[year]-[month]-[day] [hour]:[minute]:[second]" for times without an
    /// offset, read in `timezone`.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// UTC offset for times without one, e.g. "+07:00" (default "+00:00").
    #[serde(default)]
    pub timezone: Timezone,
    /// Unit of a numeric duration: "s" (default, decimals allowed) or "ms"; "HH:MM:SS" and
    /// "MM:SS" are always understood.
    #[serde(default)]
    pub duration_unit: DurationUnit,
}

const BUILTIN_NAMES: &[&str] = &["default", "attributes"];

impl Profile {
    /// A built-in profile by name (see [`Profile::builtin_names`]), any case.
    ///
    /// - `default`: the documented muara schema, `<recording><callId>…</callId>
    ///   <startTime>…</startTime><endTime>…</endTime> <agent id="…">name</agent>…</recording>`
    ///   with RFC 3339 times and a duration in seconds.
    /// - `attributes`: everything in attributes of one element, `<Call id="…" start="2026-11-22
    ///   09:15:02" durationMs="222000" agent="A-104" ext="2104" ani="…" dnis="…" dir="I"
    ///   skill="billing"/>`, local times at +07:00.
    pub fn builtin(name: &str) -> Option<Profile> {
        let p = |paths: &[&str]| Paths::new(paths.iter().copied());
        match name.trim().to_ascii_lowercase().as_str() {
            "default" => Some(Profile {
                call_id: p(&["callId"]),
                started_at: p(&["startTime"]),
                ended_at: p(&["endTime"]),
                duration: p(&["duration"]),
                agent_id: p(&["agent/@id", "agentId"]),
                agent_name: p(&["agent/name", "agent", "agentName"]),
                extension: p(&["extension"]),
                caller: p(&["caller"]),
                callee: p(&["callee"]),
                direction: p(&["direction"]),
                queue: p(&["queue"]),
                custom: BTreeMap::new(),
                time_format: TimeFormat::Rfc3339,
                timezone: Timezone::default(),
                duration_unit: DurationUnit::Seconds,
            }),
            "attributes" => Some(Profile {
                call_id: p(&["@id"]),
                started_at: p(&["@start"]),
                ended_at: p(&["@end"]),
                duration: p(&["@durationMs"]),
                agent_id: p(&["@agent"]),
                agent_name: p(&["@agentName"]),
                extension: p(&["@ext"]),
                caller: p(&["@ani"]),
                callee: p(&["@dnis"]),
                direction: p(&["@dir"]),
                queue: p(&["@skill"]),
                custom: BTreeMap::new(),
                time_format: TimeFormat::Custom(
                    "[year]-[month]-[day] [hour]:[minute]:[second]".to_owned(),
                ),
                timezone: Timezone(UtcOffset::from_whole_seconds(7 * 3600).ok()?),
                duration_unit: DurationUnit::Milliseconds,
            }),
            _ => None,
        }
    }

    /// The names [`Profile::builtin`] knows.
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Maps one recorder XML document to a [`Recording`] through `profile`.
pub fn parse(xml: &[u8], profile: &Profile) -> Result<Recording, XmlError> {
    let text = decode(xml)?;
    let doc = Document::read(&text, &Wanted::of(profile))?;
    build(&doc, profile)
}

/// The normalised paths a profile reads, and the element paths that lead to them. Only these
/// elements get a path built and a value kept: building every element's full path made the
/// work and memory quadratic in the nesting depth (a 200 KB document of nested elements
/// needed gigabytes).
#[derive(Debug, Default)]
struct Wanted {
    /// Paths whose value is read (elements and attributes).
    values: HashSet<String>,
    /// Element paths that are, or lead to, a wanted path (the root `.` always is).
    elements: HashSet<String>,
}

impl Wanted {
    fn of(profile: &Profile) -> Self {
        let mut wanted = Wanted::default();
        let fields = [
            &profile.call_id,
            &profile.started_at,
            &profile.ended_at,
            &profile.duration,
            &profile.agent_id,
            &profile.agent_name,
            &profile.extension,
            &profile.caller,
            &profile.callee,
            &profile.direction,
            &profile.queue,
        ];
        for paths in fields.into_iter().chain(profile.custom.values()) {
            for p in &paths.0 {
                wanted.add(normalize_path(p));
            }
        }
        wanted
    }

    fn add(&mut self, path: String) {
        let segments: Vec<&str> = path.split('/').filter(|s| *s != ".").collect();
        let mut prefix = String::new();
        for s in segments.iter().filter(|s| !s.starts_with('@')) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(s);
            self.elements.insert(prefix.clone());
        }
        self.values.insert(path);
    }
}

/// The values of a document a profile reads, by normalised path (see [`normalize_path`]):
/// the first element's trimmed text, or the first attribute value.
#[derive(Debug, Default)]
struct Document {
    values: HashMap<String, String>,
}

impl Document {
    /// One pass over the document with quick-xml's event reader, keeping the `wanted` values.
    fn read(text: &str, wanted: &Wanted) -> Result<Self, XmlError> {
        let mut reader = Reader::from_str(text);
        let mut values: HashMap<String, String> = HashMap::new();
        // Open elements: (qualified name, path if it leads to a wanted one, text so far).
        let mut open: Vec<(String, Option<String>, String)> = Vec::new();
        let mut root_seen = false;
        loop {
            let event = reader.read_event().map_err(|e| {
                XmlError::Malformed(format!("{e} (at byte {})", reader.error_position()))
            })?;
            let pos = reader.buffer_position();
            match event {
                Event::Start(e) | Event::Empty(e) if open.is_empty() && root_seen => {
                    return Err(XmlError::Malformed(format!(
                        "a second root element <{}> (ending at byte {pos}); a document has one",
                        e.name().into_inner()
                    )));
                }
                Event::Start(e) => {
                    root_seen = true;
                    let path = element_path(&open, &e, wanted);
                    add_attributes(&mut values, path.as_deref(), &e, pos, wanted)?;
                    open.push((e.name().into_inner().to_owned(), path, String::new()));
                }
                Event::Empty(e) => {
                    root_seen = true;
                    let path = element_path(&open, &e, wanted);
                    add_attributes(&mut values, path.as_deref(), &e, pos, wanted)?;
                    if let Some(path) = path.filter(|p| wanted.values.contains(p)) {
                        values.entry(path).or_default();
                    }
                }
                Event::End(_) => {
                    if let Some((_, Some(path), text)) = open.pop()
                        && wanted.values.contains(&path)
                    {
                        values.entry(path).or_insert_with(|| text.trim().to_owned());
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = wanted_top(&mut open, wanted) {
                        top.push_str(&t.xml10_content());
                    }
                }
                Event::CData(c) => {
                    if let Some(top) = wanted_top(&mut open, wanted) {
                        top.push_str(&c.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = resolve_reference(&r).map_err(|reason| {
                        XmlError::Malformed(format!("{reason} (ending at byte {pos})"))
                    })?;
                    if let Some(top) = wanted_top(&mut open, wanted) {
                        top.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if let Some((name, _, _)) = open.last() {
            return Err(XmlError::Malformed(format!(
                "the document ends before <{name}> is closed (at byte {})",
                text.len()
            )));
        }
        if !root_seen {
            return Err(XmlError::Malformed(
                "no root element: the document is empty or has no element".to_owned(),
            ));
        }
        Ok(Document { values })
    }

    /// The first non-empty value at any of `paths`.
    fn first(&self, paths: &Paths) -> Option<&str> {
        paths
            .0
            .iter()
            .filter_map(|p| self.values.get(&normalize_path(p)))
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
    }
}

/// The normalised path of an element (`.` for the root, else `parent/local-name` lowercased)
/// when it is or leads to a wanted path; `None` otherwise, and for every element inside one
/// that is not, so no path is built for them.
fn element_path(
    open: &[(String, Option<String>, String)],
    e: &BytesStart<'_>,
    wanted: &Wanted,
) -> Option<String> {
    let parent = match open.last() {
        None => return Some(".".to_owned()),
        Some((_, parent, _)) => parent.as_deref()?,
    };
    let local = e.local_name().into_inner().to_lowercase();
    let path = if parent == "." {
        local
    } else {
        format!("{parent}/{local}")
    };
    wanted.elements.contains(&path).then_some(path)
}

/// The text of the innermost open element if its value is wanted.
fn wanted_top<'a>(
    open: &'a mut [(String, Option<String>, String)],
    wanted: &Wanted,
) -> Option<&'a mut String> {
    match open.last_mut() {
        Some((_, Some(path), text)) if wanted.values.contains(path.as_str()) => Some(text),
        _ => None,
    }
}

/// Records the wanted attributes of the element at `path` (`@name` for the root, `path/@name`
/// below); namespace declarations are skipped. Every attribute is still checked, so a
/// malformed one is an error wherever it is.
fn add_attributes(
    values: &mut HashMap<String, String>,
    path: Option<&str>,
    e: &BytesStart<'_>,
    pos: u64,
    wanted: &Wanted,
) -> Result<(), XmlError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| {
            XmlError::Malformed(format!(
                "bad attribute in <{}>: {err} (tag ending at byte {pos})",
                e.name().into_inner()
            ))
        })?;
        let qname = attr.key.into_inner();
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| {
                XmlError::Malformed(format!(
                    "bad value of attribute {qname} in <{}>: {err} (tag ending at byte {pos})",
                    e.name().into_inner()
                ))
            })?;
        let Some(path) = path else { continue };
        let local = attr.key.local_name().into_inner().to_lowercase();
        let key = if path == "." {
            format!("@{local}")
        } else {
            format!("{path}/@{local}")
        };
        if wanted.values.contains(&key) {
            values.entry(key).or_insert_with(|| value.trim().to_owned());
        }
    }
    Ok(())
}

/// `&#233;`, `&#xE9;` or one of the five predefined entities; anything else is an error (DTD
/// entities are not supported).
fn resolve_reference(r: &BytesRef<'_>) -> Result<String, ReferenceError> {
    let name: &str = r.as_ref();
    match r.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => quick_xml::escape::resolve_xml_entity(name)
            .map(str::to_owned)
            .ok_or_else(|| ReferenceError::UnknownEntity(name.to_owned())),
        Err(source) => Err(ReferenceError::BadCharRef {
            name: name.to_owned(),
            source,
        }),
    }
}

/// A profile path in the form the [`Document`] stores: lowercased local names, `.` for the
/// root, `@name` for a root attribute.
fn normalize_path(p: &str) -> String {
    let segments: Vec<String> = p
        .trim()
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| {
            let (at, name) = s.strip_prefix('@').map_or(("", s), |n| ("@", n));
            let local = name.rsplit_once(':').map_or(name, |(_, l)| l);
            format!("{at}{}", local.to_lowercase())
        })
        .collect();
    if segments.is_empty() {
        ".".to_owned()
    } else {
        segments.join("/")
    }
}

/// Applies the profile to the document's values.
fn build(doc: &Document, profile: &Profile) -> Result<Recording, XmlError> {
    let call_id = doc
        .first(&profile.call_id)
        .ok_or_else(|| XmlError::Missing("call_id", profile.call_id.describe()))?;
    let call_id = check_call_id(call_id)?;

    let start_value = doc
        .first(&profile.started_at)
        .ok_or_else(|| XmlError::Missing("started_at", profile.started_at.describe()))?;
    let started_at = parse_time("started_at", start_value, profile)?;

    let end_value = doc.first(&profile.ended_at);
    let ended = end_value
        .map(|v| parse_time("ended_at", v, profile))
        .transpose()?;
    let duration_value = doc.first(&profile.duration);
    let duration = duration_value
        .map(|v| {
            parse_duration_ms(v, profile.duration_unit).ok_or_else(|| XmlError::BadDuration {
                value: v.to_owned(),
            })
        })
        .transpose()?;

    let (ended_at, duration_ms) = match (ended, duration, end_value) {
        (Some(end), duration, Some(end_value)) => {
            let span = end - started_at;
            if span.is_negative() {
                return Err(XmlError::Inconsistent(format!(
                    "the end time {end_value:?} is before the start time {start_value:?}"
                )));
            }
            let span_ms = u64::try_from(span.whole_milliseconds()).unwrap_or(u64::MAX);
            if let Some(d) = duration
                && span_ms.abs_diff(d) > 2000
            {
                return Err(XmlError::Inconsistent(format!(
                    "from {start_value:?} to {end_value:?} is {} but the duration {:?} says {}",
                    seconds(span_ms),
                    duration_value.unwrap_or_default(),
                    seconds(d)
                )));
            }
            (end, duration.unwrap_or(span_ms))
        }
        (_, Some(d), _) => {
            let end = i64::try_from(d)
                .ok()
                .and_then(|ms| started_at.checked_add(Duration::milliseconds(ms)))
                .ok_or_else(|| XmlError::BadDuration {
                    value: duration_value.unwrap_or_default().to_owned(),
                })?;
            (end, d)
        }
        _ => {
            return Err(XmlError::Missing(
                "ended_at or duration",
                format!(
                    "{} (ended_at) nor {} (duration)",
                    profile.ended_at.describe(),
                    profile.duration.describe()
                ),
            ));
        }
    };

    let direction = match doc.first(&profile.direction) {
        None => Direction::Unknown,
        Some(v) => Direction::parse(v).ok_or_else(|| XmlError::BadDirection {
            value: v.to_owned(),
        })?,
    };
    let text = |paths: &Paths| doc.first(paths).map(str::to_owned);
    let custom = profile
        .custom
        .iter()
        .filter_map(|(name, paths)| Some((name.clone(), text(paths)?)))
        .collect();

    Ok(Recording {
        call_id,
        started_at,
        ended_at: Some(ended_at),
        duration_ms,
        agent_id: text(&profile.agent_id),
        agent_name: text(&profile.agent_name),
        extension: text(&profile.extension),
        caller: text(&profile.caller),
        callee: text(&profile.callee),
        direction,
        queue: text(&profile.queue),
        custom,
    })
}

/// A call id is 1 to 128 characters without control characters (already trimmed, non-empty).
fn check_call_id(v: &str) -> Result<String, XmlError> {
    let shown = || {
        if v.chars().count() > 60 {
            format!("{}…", v.chars().take(60).collect::<String>())
        } else {
            v.to_owned()
        }
    };
    let n = v.chars().count();
    if n > 128 {
        return Err(XmlError::BadCallId {
            value: shown(),
            reason: format!("it is {n} characters long, at most 128 are allowed"),
        });
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(XmlError::BadCallId {
            value: shown(),
            reason: format!("it contains the control character U+{:04X}", u32::from(c)),
        });
    }
    Ok(v.to_owned())
}

/// `222000` ms → `"222 s"`, `1500` → `"1.5 s"`.
fn seconds(ms: u64) -> String {
    let frac = ms % 1000;
    if frac == 0 {
        format!("{} s", ms / 1000)
    } else {
        let f = format!("{frac:03}");
        format!("{}.{} s", ms / 1000, f.trim_end_matches('0'))
    }
}

// ---------------------------------------------------------------------------------------------
// Times and durations
// ---------------------------------------------------------------------------------------------

/// A time in the profile's format; the error quotes the value and says why.
fn parse_time(
    field: &'static str,
    value: &str,
    profile: &Profile,
) -> Result<OffsetDateTime, XmlError> {
    let tz = profile.timezone.0;
    let result = match &profile.time_format {
        TimeFormat::Rfc3339 => parse_rfc3339(value, tz),
        TimeFormat::Epoch => parse_epoch(value, 3, "seconds"),
        TimeFormat::EpochMs => parse_epoch(value, 0, "milliseconds"),
        TimeFormat::Custom(desc) => parse_custom(value, desc, tz),
    };
    result.map_err(|reason| XmlError::BadTime {
        field,
        value: value.to_owned(),
        reason,
    })
}

/// Local times for the `rfc3339` format when the value has no offset.
const LOCAL_ISO: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
);

/// RFC 3339, or the same without an offset read in `tz`.
fn parse_rfc3339(value: &str, tz: UtcOffset) -> Result<OffsetDateTime, TimeError> {
    let strict = match OffsetDateTime::parse(value, &Rfc3339) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    if let Some(reason) = impossible(&strict) {
        return Err(reason);
    }
    match PrimitiveDateTime::parse(value, LOCAL_ISO) {
        Ok(t) => Ok(t.assume_offset(tz)),
        Err(local) => Err(impossible(&local).unwrap_or(TimeError::NotRfc3339(strict))),
    }
}

/// A custom format description; without an offset in it, the time is read in `tz`.
fn parse_custom(value: &str, desc: &str, tz: UtcOffset) -> Result<OffsetDateTime, TimeError> {
    let items = custom_items(desc)?;
    let result = match OffsetDateTime::parse(value, &items) {
        Err(TimeParseError::TryFromParsed(TryFromParsed::InsufficientInformation)) => {
            PrimitiveDateTime::parse(value, &items).map(|t| t.assume_offset(tz))
        }
        other => other,
    };
    result.map_err(|source| {
        impossible(&source).unwrap_or_else(|| TimeError::FormatMismatch {
            desc: desc.to_owned(),
            source,
        })
    })
}

/// Seconds (`scale` 3, decimals allowed) or milliseconds (`scale` 0) since 1970.
fn parse_epoch(value: &str, scale: u32, unit: &'static str) -> Result<OffsetDateTime, TimeError> {
    let ms = parse_decimal(value.trim(), scale).ok_or(TimeError::NotEpoch { unit })?;
    i128::from(ms)
        .checked_mul(1_000_000)
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok())
        .ok_or_else(|| {
            let hint = if scale == 3 {
                " (if it is in milliseconds, set time_format = \"epoch_ms\")"
            } else {
                ""
            };
            TimeError::EpochOutOfRange { unit, hint }
        })
}

/// `Some(reason)` when a `time` parse error is an impossible date or time (like 2026-02-30).
fn impossible(e: &TimeParseError) -> Option<TimeError> {
    match e {
        TimeParseError::TryFromParsed(TryFromParsed::ComponentRange(cr)) => Some(match cr.name() {
            // Each field was in range when parsed, so the day is past the end of its month.
            "day" => TimeError::NoSuchDay(*cr),
            "hour" | "minute" | "second" | "subsecond" | "nanosecond" => {
                TimeError::ImpossibleTime(*cr)
            }
            _ => TimeError::ImpossibleDate(*cr),
        }),
        _ => None,
    }
}

/// A duration in milliseconds: `HH:MM:SS`, `MM:SS` (seconds may have decimals), or a number in
/// `unit`.
fn parse_duration_ms(value: &str, unit: DurationUnit) -> Option<u64> {
    let v = value.trim();
    if v.contains(':') {
        return parse_clock_ms(v);
    }
    match unit {
        DurationUnit::Seconds => parse_decimal(v, 3),
        DurationUnit::Milliseconds => parse_decimal(v, 0),
    }
}

/// `HH:MM:SS` or `MM:SS`, seconds below 60 (decimals allowed), minutes below 60 after hours.
fn parse_clock_ms(v: &str) -> Option<u64> {
    let parts: Vec<&str> = v.split(':').collect();
    let (hours, minutes, secs) = match parts.as_slice() {
        [m, s] => ("0", *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if !is_digits(hours) || !is_digits(minutes) {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    let secs_ms = parse_decimal(secs, 3)?;
    if secs_ms >= 60_000 || (parts.len() == 3 && minutes >= 60) {
        return None;
    }
    hours
        .checked_mul(3_600_000)?
        .checked_add(minutes.checked_mul(60_000)?)?
        .checked_add(secs_ms)
}

/// A non-negative decimal `digits[.digits]` times 10^`scale`, rounded half up.
fn parse_decimal(s: &str, scale: u32) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !is_digits(int) || !(frac.is_empty() || is_digits(frac)) || s.ends_with('.') {
        return None;
    }
    let mut n: u64 = int
        .parse::<u64>()
        .ok()?
        .checked_mul(10u64.checked_pow(scale)?)?;
    let mut digits = frac.bytes();
    for place in (0..scale).rev() {
        let d = digits.next().map_or(0, |b| u64::from(b - b'0'));
        n = n.checked_add(d * 10u64.pow(place))?;
    }
    if digits.next().is_some_and(|b| b >= b'5') {
        n = n.checked_add(1)?;
    }
    Some(n)
}

/// Non-empty and ASCII digits only.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------------------------

/// The document as UTF-8 text: BOM first, then the declaration's `encoding=`, else UTF-8.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, XmlError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest, 3, "UTF-8 byte order mark").map(Cow::Borrowed);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return decode_strict(encoding_rs::UTF_16LE, rest, 2, "UTF-16LE byte order mark")
            .map(Cow::Owned);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return decode_strict(encoding_rs::UTF_16BE, rest, 2, "UTF-16BE byte order mark")
            .map(Cow::Owned);
    }
    // UTF-16 without a byte order mark, recognised by `<?` (XML spec, appendix F).
    if bytes.starts_with(b"<\0?\0") {
        return decode_strict(
            encoding_rs::UTF_16LE,
            bytes,
            0,
            "UTF-16LE without byte order mark",
        )
        .map(Cow::Owned);
    }
    if bytes.starts_with(b"\0<\0?") {
        return decode_strict(
            encoding_rs::UTF_16BE,
            bytes,
            0,
            "UTF-16BE without byte order mark",
        )
        .map(Cow::Owned);
    }
    let Some(label) = declared_encoding(bytes) else {
        return utf8(bytes, 0, "no encoding declared (so UTF-8)").map(Cow::Borrowed);
    };
    let encoding = Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        XmlError::Encoding(format!(
            "the XML declaration names the unknown encoding {label:?}"
        ))
    })?;
    if encoding == encoding_rs::REPLACEMENT {
        return Err(XmlError::Encoding(format!(
            "the XML declaration names the encoding {label:?}, which is not supported"
        )));
    }
    if encoding == encoding_rs::UTF_8 {
        return utf8(bytes, 0, &format!("declared {label}")).map(Cow::Borrowed);
    }
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        // We read the declaration as ASCII, so the bytes are not UTF-16 whatever it says.
        return utf8(
            bytes,
            0,
            &format!("declared {label} but written in 8-bit characters, read as UTF-8,"),
        )
        .map(Cow::Borrowed);
    }
    decode_strict(encoding, bytes, 0, &format!("declared {label}")).map(Cow::Owned)
}

/// `bytes` as UTF-8; the error names the first bad byte and its offset in the file (`base` is
/// the offset of `bytes` in it).
fn utf8<'a>(bytes: &'a [u8], base: usize, what: &str) -> Result<&'a str, XmlError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        XmlError::Encoding(format!(
            "{what} but byte 0x{:02X} at offset {} is not valid UTF-8",
            bytes.get(at).copied().unwrap_or_default(),
            base + at
        ))
    })
}

/// Decodes `bytes` without replacement characters; the error names the first bytes that do not
/// decode and their offset in the file.
fn decode_strict(
    encoding: &'static Encoding,
    bytes: &[u8],
    base: usize,
    what: &str,
) -> Result<String, XmlError> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut chunk = "\0".repeat(8192);
    let mut read = 0;
    loop {
        let (result, r, written) =
            decoder.decode_to_str_without_replacement(&bytes[read..], chunk.as_mut_str(), true);
        read += r;
        out.push_str(&chunk[..written]);
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(bad, after) => {
                let end = read.saturating_sub(usize::from(after));
                let start = end.saturating_sub(usize::from(bad));
                let shown: Vec<String> = bytes[start..end]
                    .iter()
                    .map(|b| format!("0x{b:02X}"))
                    .collect();
                return Err(XmlError::Encoding(format!(
                    "{what} but the byte{} {} at offset {} {} not valid {}",
                    if shown.len() == 1 { "" } else { "s" },
                    shown.join(" "),
                    base + start,
                    if shown.len() == 1 { "is" } else { "are" },
                    encoding.name()
                )));
            }
        }
    }
}

/// The `encoding="…"` of an XML declaration at the very start of `bytes`, if any.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(String::from_utf8_lossy(&value[..close]).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FULL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording>
  <callId>C-20261122-000001</callId>
  <startTime>2026-11-22T09:15:02+07:00</startTime>
  <endTime>2026-11-22T09:18:44+07:00</endTime>
  <agent id="A-104">Siti Rahma</agent>
  <extension>2104</extension>
  <caller>+6281234567890</caller>
  <callee>+62215550100</callee>
  <direction>inbound</direction>
  <queue>billing</queue>
</recording>
"#;

    fn default_profile() -> Profile {
        Profile::builtin("default").expect("built in")
    }

    fn parse_default(xml: &str) -> Result<Recording, XmlError> {
        parse(xml.as_bytes(), &default_profile())
    }

    /// A minimal default-schema document with the given inner elements.
    fn doc(inner: &str) -> String {
        format!("<recording><callId>C-1</callId>{inner}</recording>")
    }

    fn malformed(r: Result<Recording, XmlError>) -> String {
        match r {
            Err(XmlError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn encoding_error(r: Result<Recording, XmlError>) -> String {
        match r {
            Err(XmlError::Encoding(m)) => m,
            other => panic!("expected Encoding, got {other:?}"),
        }
    }

    #[test]
    fn default_profile_full_sample() {
        let r = parse_default(FULL).expect("parses");
        assert_eq!(
            r,
            Recording {
                call_id: "C-20261122-000001".into(),
                started_at: datetime!(2026-11-22 09:15:02 +07:00),
                ended_at: Some(datetime!(2026-11-22 09:18:44 +07:00)),
                duration_ms: 222_000,
                agent_id: Some("A-104".into()),
                agent_name: Some("Siti Rahma".into()),
                extension: Some("2104".into()),
                caller: Some("+6281234567890".into()),
                callee: Some("+62215550100".into()),
                direction: Direction::Inbound,
                queue: Some("billing".into()),
                custom: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn duration_only_sample() {
        let xml = doc(
            "<startTime>2026-11-22T09:15:02+07:00</startTime><duration>222</duration>\
             <agent><name>Siti</name></agent><agentId>A-9</agentId>",
        );
        let r = parse_default(&xml).expect("parses");
        assert_eq!(r.duration_ms, 222_000);
        assert_eq!(r.ended_at, Some(datetime!(2026-11-22 09:18:44 +07:00)));
        assert_eq!(r.agent_name.as_deref(), Some("Siti"));
        assert_eq!(r.agent_id.as_deref(), Some("A-9"));
        assert_eq!(r.direction, Direction::Unknown);
        assert_eq!(r.queue, None);

        let decimal = doc("<startTime>2026-11-22T09:15:02Z</startTime><duration>1.5</duration>");
        assert_eq!(parse_default(&decimal).expect("parses").duration_ms, 1500);
    }

    #[test]
    fn hh_mm_ss_durations() {
        for (d, ms) in [
            ("00:03:42", 222_000),
            ("3:42", 222_000),
            ("01:00:00.5", 3_600_500),
        ] {
            let xml = doc(&format!(
                "<startTime>2026-11-22T09:15:02Z</startTime><duration>{d}</duration>"
            ));
            assert_eq!(parse_default(&xml).expect(d).duration_ms, ms, "{d}");
        }
        for bad in ["3:75", "1:60:00", "abc", "-5", "1..2", "1:2:3:4", "12."] {
            let xml = doc(&format!(
                "<startTime>2026-11-22T09:15:02Z</startTime><duration>{bad}</duration>"
            ));
            let e = parse_default(&xml).expect_err(bad);
            assert_eq!(e, XmlError::BadDuration { value: bad.into() });
            assert!(e.to_string().contains("HH:MM:SS or MM:SS"));
        }
    }

    #[test]
    fn attributes_profile() {
        let xml = r#"<Call id="X-77" start="2026-11-22 09:15:02" durationMs="222000" agent="A-104"
            ext="2104" ani="081234567890" dnis="0215550100" dir="I" skill="billing"/>"#;
        let p = Profile::builtin("attributes").expect("built in");
        let r = parse(xml.as_bytes(), &p).expect("parses");
        assert_eq!(r.call_id, "X-77");
        assert_eq!(r.started_at, datetime!(2026-11-22 09:15:02 +07:00));
        assert_eq!(r.ended_at, Some(datetime!(2026-11-22 09:18:44 +07:00)));
        assert_eq!(r.duration_ms, 222_000);
        assert_eq!(r.agent_id.as_deref(), Some("A-104"));
        assert_eq!(r.agent_name, None);
        assert_eq!(r.extension.as_deref(), Some("2104"));
        assert_eq!(r.caller.as_deref(), Some("081234567890"));
        assert_eq!(r.callee.as_deref(), Some("0215550100"));
        assert_eq!(r.direction, Direction::Inbound);
        assert_eq!(r.queue.as_deref(), Some("billing"));
        assert_eq!(Profile::builtin_names(), &["default", "attributes"]);
        assert!(Profile::builtin("nope").is_none());
    }

    #[test]
    fn builtins_round_trip_through_serde() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).expect("built in");
            let json = serde_json::to_value(&p).expect("serialises");
            let back: Profile = serde_json::from_value(json).expect("deserialises");
            assert_eq!(back, p, "{name}");
        }
    }

    #[test]
    fn custom_profile_from_config() {
        let p: Profile = serde_json::from_value(serde_json::json!({
            "call_id": ["@callRef", "ref"],
            "started_at": "times/begin",
            "ended_at": "times/end",
            "agent_id": "Agent/@Code",
            "direction": "@dir",
            "custom": { "campaign": "meta/campaign", "site": ["@site", "meta/site"], "none": "x" },
            "time_format": "epoch",
            "timezone": "+07:00",
        }))
        .expect("profile deserialises");
        assert_eq!(p.call_id, Paths::new(["@callRef", "ref"]));
        assert_eq!(p.started_at, Paths::new(["times/begin"]));
        assert!(p.duration.is_empty());
        assert_eq!(p.time_format, TimeFormat::Epoch);
        assert_eq!(p.timezone.to_string(), "+07:00");
        assert_eq!(p.duration_unit, DurationUnit::Seconds);

        let xml = r#"<call dir="out"><ref>R-1</ref><times><begin>1795000000</begin>
            <end>1795000060.5</end></times><agent code="A-1"/>
            <meta><campaign>winter</campaign><site>JKT</site></meta></call>"#;
        let r = parse(xml.as_bytes(), &p).expect("parses");
        assert_eq!(r.call_id, "R-1");
        assert_eq!(r.started_at.unix_timestamp(), 1_795_000_000);
        assert_eq!(r.duration_ms, 60_500);
        assert_eq!(r.agent_id.as_deref(), Some("A-1"));
        assert_eq!(r.direction, Direction::Outbound);
        let custom: Vec<(&str, &str)> = r
            .custom
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(custom, [("campaign", "winter"), ("site", "JKT")]);
    }

    #[test]
    fn profile_config_errors_are_clear() {
        let base = || serde_json::json!({"call_id": "id", "started_at": "start", "duration": "d"});
        let err = |patch: serde_json::Value| {
            let mut v = base();
            if let (Some(o), Some(p)) = (v.as_object_mut(), patch.as_object()) {
                o.extend(p.clone());
            }
            serde_json::from_value::<Profile>(v)
                .expect_err("rejected")
                .to_string()
        };
        assert!(err(serde_json::json!({"agent": "a"})).contains("unknown field `agent`"));
        assert!(err(serde_json::json!({"queue": "a//b"})).contains("invalid path \"a//b\""));
        assert!(err(serde_json::json!({"queue": "@a/b"})).contains("must be the last one"));
        assert!(err(serde_json::json!({"queue": 5})).contains("expected a path or an array"));
        assert!(err(serde_json::json!({"time_format": "[year"})).contains("time_format \"[year\""));
        assert!(err(serde_json::json!({"timezone": "WIB"})).contains("timezone \"WIB\""));
        assert!(err(serde_json::json!({"duration_unit": "min"})).contains("unknown variant"));
        let missing = serde_json::from_value::<Profile>(serde_json::json!({"call_id": "id"}))
            .expect_err("started_at required")
            .to_string();
        assert!(missing.contains("missing field `started_at`"), "{missing}");
    }

    #[test]
    fn timezone_spellings() {
        for (s, secs) in [
            ("+07:00", 25_200),
            ("-0330", -12_600),
            ("+05", 18_000),
            ("Z", 0),
            ("UTC", 0),
        ] {
            let tz = Timezone::try_from(s.to_owned()).expect(s);
            assert_eq!(tz.0.whole_seconds(), secs, "{s}");
        }
        assert_eq!(
            Timezone::try_from("-03:30".to_owned())
                .expect("ok")
                .to_string(),
            "-03:30"
        );
        for bad in ["7", "+7:00", "+07:60", "+25:00", ""] {
            assert!(Timezone::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_are_ignored() {
        let xml = r#"<r:recording xmlns:r="urn:vendor:rec" xmlns:a="urn:vendor:agent">
            <r:callId>C-NS</r:callId><r:startTime>2026-11-22T09:15:02Z</r:startTime>
            <r:duration>10</r:duration><a:agent a:id="A-5">Budi</a:agent></r:recording>"#;
        let r = parse_default(xml).expect("parses");
        assert_eq!(r.call_id, "C-NS");
        assert_eq!(r.agent_id.as_deref(), Some("A-5"));
        assert_eq!(r.agent_name.as_deref(), Some("Budi"));
        // Prefixes in profile paths are ignored too, and matching is case-insensitive.
        let mut p = default_profile();
        p.call_id = Paths::new(["x:CALLID"]);
        assert_eq!(parse(xml.as_bytes(), &p).expect("parses").call_id, "C-NS");
    }

    #[test]
    fn root_paths_entities_and_cdata() {
        let mut p = default_profile();
        p.call_id = Paths::new(["@id"]);
        p.queue = Paths::new(["."]);
        p.caller = Paths::new(["caller"]);
        p.callee = Paths::new(["callee"]);
        let xml = "<rec id=' K&amp;1 '>q&#233;ue<startTime>2026-11-22T09:15:02Z</startTime>\
                   <duration>1</duration><caller><![CDATA[<anon>]]></caller>\
                   <callee>a &lt; b &#x41;</callee></rec>";
        let r = parse(xml.as_bytes(), &p).expect("parses");
        assert_eq!(r.call_id, "K&1");
        assert_eq!(r.queue.as_deref(), Some("qéue"));
        assert_eq!(r.caller.as_deref(), Some("<anon>"));
        assert_eq!(r.callee.as_deref(), Some("a < b A"));

        let unknown = doc("<startTime>&nbsp;</startTime>");
        assert!(malformed(parse_default(&unknown)).contains("unknown entity &nbsp;"));
    }

    #[test]
    fn first_candidate_with_a_value_wins() {
        let xml = doc(
            "<startTime>2026-11-22T09:15:02Z</startTime><duration>1</duration>\
             <agent id='A-1'><name> </name></agent><agentName>Second</agentName>\
             <queue>first</queue><queue>second</queue>",
        );
        let r = parse_default(&xml).expect("parses");
        assert_eq!(r.agent_name.as_deref(), Some("Second"));
        assert_eq!(r.queue.as_deref(), Some("first"));
    }

    #[test]
    fn iso_8859_1_declared() {
        let mut xml = b"<?xml version='1.0' encoding='ISO-8859-1'?><recording><callId>C-1</callId>\
            <startTime>2026-11-22T09:15:02Z</startTime><duration>5</duration><agent>Jos"
            .to_vec();
        xml.push(0xE9);
        xml.extend_from_slice(b"</agent></recording>");
        let r = parse(&xml, &default_profile()).expect("parses");
        assert_eq!(r.agent_name.as_deref(), Some("José"));
    }

    #[test]
    fn utf8_declared_with_latin1_byte() {
        let mut xml = br#"<?xml version="1.0" encoding="UTF-8"?><recording><agent>Jos"#.to_vec();
        let offset = xml.len();
        xml.push(0xE9);
        xml.extend_from_slice(b"</agent></recording>");
        let m = encoding_error(parse(&xml, &default_profile()));
        assert_eq!(
            m,
            format!("declared UTF-8 but byte 0xE9 at offset {offset} is not valid UTF-8")
        );
        let m = encoding_error(parse(&xml[38..], &default_profile()));
        assert!(
            m.starts_with("no encoding declared (so UTF-8) but byte 0xE9"),
            "{m}"
        );
    }

    #[test]
    fn other_encoding_problems() {
        let unknown = br#"<?xml version="1.0" encoding="klingon"?><recording/>"#;
        assert_eq!(
            encoding_error(parse(unknown, &default_profile())),
            "the XML declaration names the unknown encoding \"klingon\""
        );
        // 0x81 0x20 is not a Shift_JIS character.
        let mut sjis = br#"<?xml version="1.0" encoding="Shift_JIS"?><recording>"#.to_vec();
        let offset = sjis.len();
        sjis.extend_from_slice(b"\x81\x20</recording>");
        let m = encoding_error(parse(&sjis, &default_profile()));
        assert!(m.starts_with("declared Shift_JIS but the byte"), "{m}");
        assert!(m.contains(&format!("at offset {offset}")), "{m}");
        // Declared UTF-16 but written as UTF-8 (the .NET StringWriter habit) still parses.
        let dotnet = format!(
            "<?xml version=\"1.0\" encoding=\"utf-16\"?>{}",
            doc("<startTime>2026-11-22T09:15:02Z</startTime><duration>1</duration>")
        );
        assert_eq!(parse_default(&dotnet).expect("parses").call_id, "C-1");
    }

    #[test]
    fn utf16le_with_bom() {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>{}",
            doc(
                "<startTime>2026-11-22T09:15:02Z</startTime><duration>3</duration>\
                 <agent>Dewi Ayu Ñ</agent>"
            )
        );
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let r = parse(&bytes, &default_profile()).expect("parses");
        assert_eq!(r.agent_name.as_deref(), Some("Dewi Ayu Ñ"));

        // An unpaired surrogate is reported, not replaced.
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(&0xD800u16.to_le_bytes());
        let m = encoding_error(parse(&bytes, &default_profile()));
        assert!(
            m.starts_with("UTF-16LE byte order mark but the byte"),
            "{m}"
        );
    }

    #[test]
    fn malformed_documents() {
        let unclosed = malformed(parse_default("<recording><callId>C-1</callId>"));
        assert!(
            unclosed.contains("ends before <recording> is closed"),
            "{unclosed}"
        );
        let mismatched = malformed(parse_default("<recording><callId>C-1</caller></recording>"));
        assert!(
            mismatched.contains("expected `</callId>`, but `</caller>` was found"),
            "{mismatched}"
        );
        assert!(mismatched.contains("at byte"), "{mismatched}");
        let open_tag = malformed(parse_default("<recording><callId"));
        assert!(open_tag.contains("at byte"), "{open_tag}");
        for empty in ["", "   ", "<?xml version=\"1.0\"?>", "<!-- nothing -->"] {
            let m = malformed(parse_default(empty));
            assert!(m.starts_with("no root element"), "{empty:?}: {m}");
        }
        let two = malformed(parse_default("<a/><b/>"));
        assert!(two.contains("a second root element <b>"), "{two}");
    }

    #[test]
    fn missing_fields() {
        let e = parse_default("<recording><startTime>2026-11-22T09:15:02Z</startTime></recording>")
            .expect_err("no call id");
        assert_eq!(e, XmlError::Missing("call_id", "`callId`".into()));
        assert_eq!(e.to_string(), "missing call_id: no value at `callId`");

        let blank = parse_default("<recording><callId>  </callId></recording>").expect_err("blank");
        assert!(matches!(blank, XmlError::Missing("call_id", _)));

        let no_start = parse_default(&doc("")).expect_err("no start");
        assert!(matches!(no_start, XmlError::Missing("started_at", _)));

        let no_end =
            parse_default(&doc("<startTime>2026-11-22T09:15:02Z</startTime>")).expect_err("no end");
        assert_eq!(
            no_end.to_string(),
            "missing ended_at or duration: no value at `endTime` (ended_at) nor `duration` \
             (duration)"
        );
    }

    #[test]
    fn bad_call_ids() {
        let long = "x".repeat(129);
        let e = parse_default(&format!("<recording><callId>{long}</callId></recording>"))
            .expect_err("too long");
        assert!(
            e.to_string().contains("129 characters long, at most 128"),
            "{e}"
        );
        let ok = "y".repeat(128);
        let xml = format!(
            "<recording><callId>{ok}</callId><startTime>2026-11-22T09:15:02Z</startTime>\
             <duration>1</duration></recording>"
        );
        assert_eq!(parse_default(&xml).expect("128 is fine").call_id, ok);
        let ctl =
            parse_default("<recording><callId>a&#9;b</callId></recording>").expect_err("control");
        assert!(
            ctl.to_string().contains("control character U+0009"),
            "{ctl}"
        );
        let slash = "<recording><callId>a/b</callId><startTime>2026-11-22T09:15:02Z</startTime>\
             <duration>1</duration></recording>";
        assert_eq!(
            parse_default(slash).expect("slash allowed here").call_id,
            "a/b"
        );
    }

    #[test]
    fn impossible_date() {
        let xml = doc("<startTime>2026-02-30T09:15:02+07:00</startTime><duration>1</duration>");
        let e = parse_default(&xml).expect_err("impossible");
        let XmlError::BadTime {
            field,
            value,
            reason,
        } = &e
        else {
            panic!("expected BadTime, got {e:?}");
        };
        assert_eq!(
            (*field, value.as_str()),
            ("started_at", "2026-02-30T09:15:02+07:00")
        );
        assert_eq!(
            reason.to_string(),
            "impossible date: that month has no such day"
        );
        assert_eq!(
            e.to_string(),
            "bad started_at \"2026-02-30T09:15:02+07:00\": impossible date: that month has no \
             such day"
        );

        let attrs = Profile::builtin("attributes").expect("built in");
        let e = parse(
            br#"<Call id="1" start="2026-02-30 10:00:00" durationMs="5"/>"#,
            &attrs,
        )
        .expect_err("impossible");
        assert!(e.to_string().contains("impossible date"), "{e}");

        let garbage = doc("<startTime>yesterday</startTime><duration>1</duration>");
        let e = parse_default(&garbage).expect_err("garbage");
        assert!(e.to_string().contains("not an RFC 3339 time"), "{e}");
    }

    #[test]
    fn local_times_in_rfc3339_profile() {
        let mut p = default_profile();
        p.timezone = Timezone::try_from("+07:00".to_owned()).expect("tz");
        for v in [
            "2026-11-22T09:15:02",
            "2026-11-22 09:15:02",
            "2026-11-22T09:15:02.000",
        ] {
            let xml = doc(&format!("<startTime>{v}</startTime><duration>1</duration>"));
            let r = parse(xml.as_bytes(), &p).expect(v);
            assert_eq!(r.started_at, datetime!(2026-11-22 09:15:02 +07:00), "{v}");
        }
    }

    #[test]
    fn end_before_start_and_disagreeing_duration() {
        let xml = doc("<startTime>2026-11-22T09:15:02+07:00</startTime>\
             <endTime>2026-11-22T09:15:01+07:00</endTime>");
        let e = parse_default(&xml).expect_err("end before start");
        assert_eq!(
            e.to_string(),
            "inconsistent times: the end time \"2026-11-22T09:15:01+07:00\" is before the start \
             time \"2026-11-22T09:15:02+07:00\""
        );

        let within = doc(
            "<startTime>2026-11-22T09:15:02Z</startTime><endTime>2026-11-22T09:18:44Z</endTime>\
             <duration>220.5</duration>",
        );
        assert_eq!(
            parse_default(&within).expect("within 2 s").duration_ms,
            220_500
        );
        let off = doc(
            "<startTime>2026-11-22T09:15:02Z</startTime><endTime>2026-11-22T09:18:44Z</endTime>\
             <duration>300</duration>",
        );
        let e = parse_default(&off).expect_err("disagrees");
        assert!(matches!(e, XmlError::Inconsistent(_)));
        assert!(
            e.to_string()
                .contains("is 222 s but the duration \"300\" says 300 s"),
            "{e}"
        );
    }

    #[test]
    fn bad_direction() {
        let xml = doc(
            "<startTime>2026-11-22T09:15:02Z</startTime><duration>1</duration>\
             <direction>sideways</direction>",
        );
        let e = parse_default(&xml).expect_err("bad direction");
        assert_eq!(
            e,
            XmlError::BadDirection {
                value: "sideways".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with("bad direction \"sideways\": expected inbound")
        );
    }

    #[test]
    fn epoch_times() {
        let mut p = default_profile();
        p.time_format = TimeFormat::Epoch;
        let xml = doc("<startTime>1795000000.25</startTime><endTime>1795000010</endTime>");
        let r = parse(xml.as_bytes(), &p).expect("parses");
        assert_eq!(
            r.started_at.unix_timestamp_nanos(),
            1_795_000_000_250_000_000
        );
        assert_eq!(r.duration_ms, 9750);

        let in_ms = doc("<startTime>1795000000000</startTime><duration>1</duration>");
        let e = parse(in_ms.as_bytes(), &p).expect_err("ms as seconds");
        assert!(
            e.to_string().contains("set time_format = \"epoch_ms\""),
            "{e}"
        );

        p.time_format = TimeFormat::EpochMs;
        let r = parse(in_ms.as_bytes(), &p).expect("parses");
        assert_eq!(r.started_at.unix_timestamp(), 1_795_000_000);

        let neg = doc("<startTime>-5</startTime><duration>1</duration>");
        let e = parse(neg.as_bytes(), &p).expect_err("negative");
        assert!(
            e.to_string()
                .contains("not a number of milliseconds since 1970"),
            "{e}"
        );
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("222", 3), Some(222_000));
        assert_eq!(parse_decimal("1.2345", 3), Some(1235));
        assert_eq!(parse_decimal("0.0004", 3), Some(0));
        assert_eq!(parse_decimal("222000", 0), Some(222_000));
        assert_eq!(parse_decimal("2.5", 0), Some(3));
        for bad in ["", ".5", "5.", "1e3", "+1", "1,5", "99999999999999999999"] {
            assert_eq!(parse_decimal(bad, 3), None, "{bad}");
        }
    }

    /// Fuzz finding (recording_xml): every element's full path was built and kept, so deep
    /// nesting cost memory and time quadratic in the depth (this 200 KB document needed about
    /// 1 GB). Only paths leading to what the profile reads are built now.
    #[test]
    fn deep_nesting_keeps_only_wanted_paths() {
        let depth = 30_000;
        let xml = doc(&format!(
            "<startTime>2026-11-22T09:15:02Z</startTime><duration>5</duration>{}{}",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        ));
        let r = parse_default(&xml).expect("parses");
        assert_eq!(r.call_id, "C-1");
        assert_eq!(r.duration_ms, 5000);

        let text = decode(xml.as_bytes()).expect("utf-8");
        let d = Document::read(&text, &Wanted::of(&default_profile())).expect("reads");
        // callId, startTime, duration: nothing of the nested <a> elements.
        assert_eq!(
            d.values.len(),
            3,
            "{:?}",
            d.values.keys().take(5).collect::<Vec<_>>()
        );
    }

    #[test]
    fn wanted_paths_still_read_attributes_nested_text_and_the_root() {
        let mut p = default_profile();
        p.custom.insert("root_text".into(), Paths::new(["."]));
        p.custom
            .insert("site".into(), Paths::new(["@site", "x:meta/x:site/@code"]));
        let xml = "<r:recording xmlns:r=\"urn:r\" site=\"JKT\"><r:callId>C-9</r:callId>\
                   <meta><site code=\"BDG\"/><skip><deep a=\"1\">t</deep></skip></meta>\
                   <startTime>2026-11-22T09:15:02Z</startTime><duration>1</duration>\
                   <agent id=\"A-1\"><name>Siti</name></agent>tail</r:recording>";
        let r = parse(xml.as_bytes(), &p).expect("parses");
        assert_eq!(r.call_id, "C-9");
        assert_eq!(r.agent_id.as_deref(), Some("A-1"));
        assert_eq!(r.agent_name.as_deref(), Some("Siti"));
        assert_eq!(r.custom.get("site").map(String::as_str), Some("JKT"));
        assert_eq!(r.custom.get("root_text").map(String::as_str), Some("tail"));
        // A malformed attribute is still an error on an element no path reads.
        let bad = doc("<x><y a=\"1\" a=\"2\"/></x><startTime>2026-11-22T09:15:02Z</startTime>");
        assert!(malformed(parse_default(&bad)).contains("attribute"));
    }
}
