//! JSON and NDJSON → Parquet, in two streaming passes: the first collects the union of keys
//! (first-seen order), the second writes the rows.
//!
//! Nothing holds more than one object at a time: a JSON array is walked element by element
//! by a serde `Visitor` (`visit_seq`), a stream of objects by serde_json's
//! `StreamDeserializer`, NDJSON line by line. Values are captured as `RawValue`, so numbers
//! keep the exact text of the file (`1.10` stays `1.10`, big integers stay exact) and
//! unflattened objects and arrays become their JSON text (whitespace removed).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::sink::{MAX_COLUMNS, ParquetSink};
use crate::{ConvertError, ConvertOptions, ConvertReport, JsonOptions};

const READ_BUFFER: usize = 256 << 10;

/// How the objects are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[ {...}, {...} ]`
    Array,
    /// `{...}\n{...}` or `{...}{...}`: any whitespace-separated objects.
    Stream,
    /// Strictly one object per line (NDJSON), blank lines skipped.
    Lines,
}

/// Where an object is, for messages.
#[derive(Debug, Clone, Copy)]
enum Loc {
    Element(u64),
    Object(u64),
    Line(u64),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Element(n) => write!(f, "array element {n}"),
            Loc::Object(n) => write!(f, "object {n}"),
            Loc::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// A JSON object's members in file order (serde_json's `Map` would sort them).
struct Obj<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Obj<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for ObjVisitor<V> {
            type Value = Obj<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<V>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry::<String, V>()? {
                    members.push(member);
                }
                Ok(Obj(members))
            }
        }
        deserializer.deserialize_map(ObjVisitor(PhantomData))
    }
}

type TopObj = Obj<Box<RawValue>>;

pub(crate) fn convert(
    input: &Path,
    opts: &JsonOptions,
    ndjson: bool,
    output: &Path,
    copts: &ConvertOptions,
) -> Result<ConvertReport, ConvertError> {
    let flatten = opts.flatten_nested.unwrap_or(true);
    let (bytes_in, bom, first) = sniff(input)?;
    let layout = match (first, ndjson) {
        (None, _) => {
            return Err(ConvertError::NoDataRows(
                "it contains only whitespace".into(),
            ));
        }
        (Some(b'['), false) => Layout::Array,
        (Some(b'{'), false) => Layout::Stream,
        (Some(b'{'), true) => Layout::Lines,
        (Some(b'['), true) => {
            return Err(ConvertError::InvalidJson(
                "line 1 starts a JSON array, but NDJSON has one object per line; \
                 for a JSON array of objects use source_type json"
                    .into(),
            ));
        }
        (Some(other), _) => {
            return Err(ConvertError::InvalidJson(format!(
                "expected {} but the file starts with {:?}",
                if ndjson {
                    "one JSON object per line"
                } else {
                    "a JSON array of objects (or one object per line)"
                },
                char::from(other)
            )));
        }
    };

    // Pass 1: the columns.
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // The object number that last set each column, to find a key given twice in one object.
    let mut seen_in: Vec<u64> = Vec::new();
    let mut count = 0u64;
    for_each_object(input, bom, layout, &mut |obj, loc| {
        count += 1;
        walk(&obj, &mut String::new(), flatten, &mut |key, _| {
            let idx = match index.get(key) {
                Some(&i) => i,
                None => {
                    if names.len() >= MAX_COLUMNS {
                        return Err(ConvertError::Malformed(format!(
                            "{loc}: more than {MAX_COLUMNS} distinct keys; the objects seem to \
                             carry data in their keys, which cannot become columns"
                        )));
                    }
                    index.insert(key.to_owned(), names.len());
                    names.push(key.to_owned());
                    seen_in.push(0);
                    names.len() - 1
                }
            };
            if seen_in[idx] == count {
                return Err(ConvertError::InvalidJson(format!(
                    "{loc}: key {key:?} appears twice{}",
                    if flatten && key.contains('.') {
                        " (after flattening nested objects into dotted names)"
                    } else {
                        ""
                    }
                )));
            }
            seen_in[idx] = count;
            Ok(())
        })
    })?;
    if count == 0 {
        return Err(ConvertError::NoDataRows(match layout {
            Layout::Array => "the array is empty".into(),
            _ => "no objects".into(),
        }));
    }
    if names.is_empty() {
        return Err(ConvertError::NoDataRows(
            "every object is empty, so there are no columns".into(),
        ));
    }

    // Pass 2: the rows.
    let mut sink = ParquetSink::create(output, names, copts)?;
    let mut slots: Vec<Option<String>> = vec![None; sink.columns().len()];
    let blank_lines = for_each_object(input, bom, layout, &mut |obj, loc| {
        walk(&obj, &mut String::new(), flatten, &mut |key, raw| {
            // Pass 1 saw the same file, so every key is known.
            if let Some(&i) = index.get(key) {
                slots[i] = leaf_text(raw, loc)?.map(Cow::into_owned);
            }
            Ok(())
        })?;
        for slot in &mut slots {
            sink.push(slot.take().as_deref());
        }
        sink.end_row()
    })?;
    let rows = sink.rows();
    let columns = sink.columns().to_vec();
    let bytes_out = sink.finish()?;
    Ok(ConvertReport {
        rows,
        blank_lines,
        columns,
        encoding: Some("utf-8".into()),
        delimiter: None,
        bytes_in,
        bytes_out,
    })
}

/// File size, UTF-8 BOM length (0 or 3), and the first non-whitespace byte after it.
fn sniff(input: &Path) -> Result<(u64, u64, Option<u8>), ConvertError> {
    let file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    let len = file
        .metadata()
        .map_err(|e| ConvertError::io("stat", input, e))?
        .len();
    if len == 0 {
        return Err(ConvertError::EmptyFile);
    }
    let mut reader = BufReader::new(file);
    let mut bom = 0u64;
    let mut first = None;
    let mut at_start = true;
    'outer: loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| ConvertError::io("read", input, e))?;
        if buf.is_empty() {
            break;
        }
        let mut skip = 0;
        if at_start && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bom = 3;
            skip = 3;
        }
        at_start = false;
        for &b in &buf[skip..] {
            if !b.is_ascii_whitespace() {
                first = Some(b);
                break 'outer;
            }
        }
        let n = buf.len();
        reader.consume(n);
    }
    Ok((len, bom, first))
}

type ObjectFn<'a> = dyn FnMut(TopObj, Loc) -> Result<(), ConvertError> + 'a;

/// Calls `f` for every top-level object; returns the blank lines skipped (NDJSON).
fn for_each_object(
    input: &Path,
    bom: u64,
    layout: Layout,
    f: &mut ObjectFn<'_>,
) -> Result<u64, ConvertError> {
    let mut file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    file.seek(SeekFrom::Start(bom))
        .map_err(|e| ConvertError::io("read", input, e))?;
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    match layout {
        Layout::Array => each_in_array(reader, f).map(|()| 0),
        Layout::Stream => {
            let stream = serde_json::Deserializer::from_reader(reader).into_iter::<TopObj>();
            for (i, item) in stream.enumerate() {
                let loc = Loc::Object(i as u64 + 1);
                let obj = item.map_err(|e| json_error(loc, &e, input))?;
                f(obj, loc)?;
            }
            Ok(0)
        }
        Layout::Lines => each_line(reader, f, input),
    }
}

fn each_in_array(reader: impl Read, f: &mut ObjectFn<'_>) -> Result<(), ConvertError> {
    struct ArrayVisitor<'a, 'f> {
        f: &'a mut ObjectFn<'f>,
        current: &'a Cell<u64>,
        failure: &'a mut Option<ConvertError>,
    }
    impl<'de> Visitor<'de> for ArrayVisitor<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            loop {
                let n = self.current.get() + 1;
                self.current.set(n);
                let Some(obj) = seq.next_element::<TopObj>()? else {
                    self.current.set(0);
                    return Ok(());
                };
                if let Err(e) = (self.f)(obj, Loc::Element(n)) {
                    // Keep our error; serde only carries its own type through.
                    *self.failure = Some(e);
                    return Err(de::Error::custom("stopped"));
                }
            }
        }
    }

    let current = Cell::new(0u64);
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = (&mut de)
        .deserialize_seq(ArrayVisitor {
            f,
            current: &current,
            failure: &mut failure,
        })
        .and_then(|()| de.end());
    match (result, failure) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => {
            let at = match current.get() {
                0 => "after the array".to_owned(),
                n => format!("array element {n}"),
            };
            Err(ConvertError::InvalidJson(format!(
                "{at}: {} (line {}, column {})",
                strip_position(&e),
                e.line(),
                e.column()
            )))
        }
    }
}

fn each_line(
    mut reader: impl BufRead,
    f: &mut ObjectFn<'_>,
    input: &Path,
) -> Result<u64, ConvertError> {
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut blank = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ConvertError::io("read", input, e))?;
        if n == 0 {
            return Ok(blank);
        }
        number += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            blank += 1;
            continue;
        }
        let loc = Loc::Line(number);
        if text.first() == Some(&b'[') {
            return Err(ConvertError::InvalidJson(format!(
                "{loc} is a JSON array, but NDJSON has one object per line"
            )));
        }
        let obj = serde_json::from_slice::<TopObj>(text).map_err(|e| {
            ConvertError::InvalidJson(format!(
                "{loc}, column {}: {}",
                e.column(),
                strip_position(&e)
            ))
        })?;
        f(obj, loc)?;
    }
}

fn json_error(loc: Loc, e: &serde_json::Error, input: &Path) -> ConvertError {
    if e.is_io() {
        return ConvertError::io("read", input, std::io::Error::other(e.to_string()));
    }
    ConvertError::InvalidJson(format!(
        "{loc}: {} (line {}, column {})",
        strip_position(e),
        e.line(),
        e.column()
    ))
}

/// serde_json's message without its " at line L column C" suffix (we say where ourselves).
fn strip_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    msg.strip_suffix(&suffix).map_or(msg.clone(), str::to_owned)
}

/// How many levels of nested objects are flattened into dotted names; an object nested deeper
/// is kept whole, as its JSON text, in the column named by the path so far. (A crafted file
/// nested 100,000 levels deep once overflowed the stack here.)
pub const MAX_FLATTEN_DEPTH: usize = 32;

/// Calls `f(column name, raw JSON text)` for each leaf of `obj`. With `flatten`, nested
/// objects become dotted names (up to [`MAX_FLATTEN_DEPTH`] levels); an empty nested object
/// contributes nothing.
fn walk<V: Deref<Target = RawValue>>(
    obj: &Obj<V>,
    prefix: &mut String,
    flatten: bool,
    f: &mut dyn FnMut(&str, &str) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    walk_at(obj, prefix, flatten, 0, f)
}

fn walk_at<V: Deref<Target = RawValue>>(
    obj: &Obj<V>,
    prefix: &mut String,
    flatten: bool,
    depth: usize,
    f: &mut dyn FnMut(&str, &str) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    for (key, value) in &obj.0 {
        let len = prefix.len();
        if len > 0 {
            prefix.push('.');
        }
        prefix.push_str(key);
        let raw = value.get();
        if flatten && raw.starts_with('{') && depth < MAX_FLATTEN_DEPTH {
            // Already validated by the outer parse; borrowed, so no copy of the text.
            let nested: Obj<&RawValue> = parse_nested(raw)?;
            walk_at(&nested, prefix, flatten, depth + 1, f)?;
        } else {
            f(prefix, raw)?;
        }
        prefix.truncate(len);
    }
    Ok(())
}

fn parse_nested<'a, T: Deserialize<'a>>(raw: &'a str) -> Result<T, ConvertError> {
    serde_json::from_str(raw).map_err(|e| ConvertError::InvalidJson(e.to_string()))
}

fn parse_owned<T: DeserializeOwned>(raw: &str) -> Result<T, ConvertError> {
    serde_json::from_str(raw).map_err(|e| ConvertError::InvalidJson(e.to_string()))
}

/// The text stored for a leaf: strings unescaped, numbers and booleans as written, `null`
/// and `""` as NULL, objects and arrays as compact JSON.
fn leaf_text(raw: &str, loc: Loc) -> Result<Option<Cow<'_, str>>, ConvertError> {
    let text: Cow<'_, str> = match raw.as_bytes().first() {
        None | Some(b'n') => return Ok(None),
        Some(b'"') => {
            if raw.contains('\\') {
                Cow::Owned(
                    parse_owned::<String>(raw)
                        .map_err(|e| ConvertError::InvalidJson(format!("{loc}: {e}")))?,
                )
            } else {
                Cow::Borrowed(raw.get(1..raw.len() - 1).unwrap_or_default())
            }
        }
        Some(b'{' | b'[') => Cow::Owned(compact(raw)),
        Some(_) => Cow::Borrowed(raw),
    };
    Ok((!text.is_empty()).then_some(text))
}

/// Removes whitespace outside strings, so nested values read the same however the source
/// was indented.
fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_texts() {
        let loc = Loc::Line(1);
        let t = |raw: &str| leaf_text(raw, loc).unwrap().map(Cow::into_owned);
        assert_eq!(t("\"abc\""), Some("abc".into()));
        assert_eq!(t(r#""a\"b\u00e9""#), Some("a\"bé".into()));
        assert_eq!(t("\"\""), None);
        assert_eq!(t("null"), None);
        assert_eq!(t("1.10"), Some("1.10".into()));
        assert_eq!(
            t("123456789012345678901234567890"),
            Some("123456789012345678901234567890".into())
        );
        assert_eq!(t("true"), Some("true".into()));
        assert_eq!(t("[1, 2,\n 3]"), Some("[1,2,3]".into()));
        assert_eq!(t(r#"{ "a" : "x y" }"#), Some(r#"{"a":"x y"}"#.into()));
    }

    #[test]
    fn walk_flattens_in_order() {
        let obj: Obj<&RawValue> =
            serde_json::from_str(r#"{"z":1,"a":{"y":2,"b":{"c":3}},"e":{},"l":[1]}"#).unwrap();
        let mut keys = Vec::new();
        walk(&obj, &mut String::new(), true, &mut |k, v| {
            keys.push(format!("{k}={v}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, ["z=1", "a.y=2", "a.b.c=3", "l=[1]"]);
    }

    /// 100,000 levels of nesting: flattened to the limit, the rest kept as JSON text, on a
    /// stack of 256 KiB (it once overflowed the default one).
    #[test]
    fn deep_nesting_is_kept_not_recursed() {
        let depth = 100_000;
        let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let obj: Obj<&RawValue> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                let mut leaves = Vec::new();
                walk(&obj, &mut String::new(), true, &mut |k, v| {
                    leaves.push((k.split('.').count(), v.len()));
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(leaves)
            })
            .expect("a thread");
        let leaves = handle.join().expect("no stack overflow").expect("parsed");
        assert_eq!(leaves.len(), 1);
        assert_eq!(leaves[0].0, MAX_FLATTEN_DEPTH + 1);
        assert_eq!(leaves[0].1, 6 * (depth - MAX_FLATTEN_DEPTH - 1) + 1);
    }
}
