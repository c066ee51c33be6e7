//! What to convert and how: the source formats with their options, the output options, and
//! [`source_format`], which builds a [`SourceFormat`] from the batch configuration
//! (`tools.client_config.source_type` + `source_config`).

use serde_json::Value;

use crate::ConvertError;

/// The kind of a source file, with its options.
#[derive(Debug, Clone)]
pub enum SourceFormat {
    /// Delimited text.
    Csv(CsvOptions),
    /// An Excel 2007+ workbook; one sheet is converted.
    Xlsx(XlsxOptions),
    /// A JSON array of objects. A stream of objects (one per line or concatenated) is
    /// accepted too, since "json" sources are often NDJSON in practice.
    Json(JsonOptions),
    /// One JSON object per line (blank lines are skipped).
    Ndjson(JsonOptions),
}

/// Options of a CSV source. `None` means the default or detection.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Field delimiter; `None` detects it among `,` `;` tab `|` on the first lines.
    pub delimiter: Option<u8>,
    /// Quote character; default `"` (doubled inside a quoted field to escape it).
    pub quote: Option<u8>,
    /// `None` detects the encoding (BOM, else UTF-8 if the whole file is valid UTF-8, else
    /// Windows-1252); otherwise `"utf-8"` (strict: invalid bytes are an error), `"latin-1"`
    /// (ISO-8859-1) or `"windows-1252"`. Aliases: `utf8`, `latin1`, `iso-8859-1`, `cp1252`.
    pub encoding: Option<String>,
    /// Whether the first row names the columns; default `true`. Without a header the
    /// columns are named `column_1`, `column_2`, ….
    pub has_header: Option<bool>,
}

/// Options of an XLSX source.
#[derive(Debug, Clone, Default)]
pub struct XlsxOptions {
    /// The sheet to convert (exact name); `None` converts the first sheet.
    pub sheet: Option<String>,
}

/// Options of a JSON or NDJSON source.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// Default `true`: `{"a":{"b":1}}` gives column `a.b`. `false`: nested objects are kept
    /// as JSON text in column `a`. Arrays are always kept as JSON text.
    pub flatten_nested: Option<bool>,
}

/// Parquet compression codec of the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Fast, the default (what the original pandas/pyarrow pipeline wrote).
    #[default]
    Snappy,
    /// Smaller files; level 1..=22 (3 is zstd's own default).
    Zstd(i32),
}

/// Output options of [`crate::convert_file`].
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Codec of every column chunk.
    pub compression: Compression,
    /// Rows per Arrow batch handed to the Parquet writer (memory is bounded by this and by a
    /// byte limit per batch, whichever comes first).
    pub batch_rows: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            compression: Compression::Snappy,
            batch_rows: 8192,
        }
    }
}

/// A text encoding the CSV reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    Utf8,
    Latin1,
    Windows1252,
    Utf16Le,
    Utf16Be,
}

impl TextEncoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Latin1 => "latin-1",
            TextEncoding::Windows1252 => "windows-1252",
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16Be => "utf-16be",
        }
    }

    /// Parses a configured encoding label; `Ok(None)` means "detect".
    pub(crate) fn parse(label: &str) -> Result<Option<TextEncoding>, ConvertError> {
        let norm = label.trim().to_ascii_lowercase().replace('_', "-");
        Ok(Some(match norm.as_str() {
            "" | "auto" | "detect" => return Ok(None),
            "utf-8" | "utf8" => TextEncoding::Utf8,
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => TextEncoding::Latin1,
            "windows-1252" | "cp1252" | "win-1252" => TextEncoding::Windows1252,
            _ => {
                return Err(ConvertError::Config(format!(
                    "unsupported encoding {label:?}; use \"utf-8\", \"latin-1\" or \
                     \"windows-1252\", or leave it unset to detect it"
                )));
            }
        }))
    }
}

const CSV_KEYS: &[&str] = &["delimiter", "quote", "encoding", "has_header"];
const XLSX_KEYS: &[&str] = &["sheet"];
const JSON_KEYS: &[&str] = &["flatten_nested"];

/// Builds a [`SourceFormat`] from the configuration: `source_type` is `csv`, `tsv` (CSV with
/// a tab delimiter), `xlsx`, `json` or `ndjson` (also `jsonl`), case-insensitive;
/// `source_config` is an optional JSON object of options, e.g.
/// `{"delimiter":";","encoding":"latin-1"}` for CSV, `{"sheet":"Data"}` for XLSX,
/// `{"flatten_nested":false}` for JSON. A key set to `null` counts as absent. Unknown keys,
/// keys of another source type and bad values give [`ConvertError::Config`] naming them.
pub fn source_format(
    source_type: &str,
    source_config: Option<&Value>,
) -> Result<SourceFormat, ConvertError> {
    let kind = source_type.trim().to_ascii_lowercase();
    let allowed = match kind.as_str() {
        "csv" | "tsv" => CSV_KEYS,
        "xlsx" => XLSX_KEYS,
        "json" | "ndjson" | "jsonl" => JSON_KEYS,
        _ => {
            return Err(ConvertError::Config(format!(
                "unsupported source_type {source_type:?}; use csv, tsv, xlsx, json or ndjson"
            )));
        }
    };
    let empty = serde_json::Map::new();
    let config = match source_config {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(ConvertError::Config(format!(
                "source_config must be a JSON object, found {}",
                json_kind(other)
            )));
        }
    };
    let unknown: Vec<&str> = config
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(ConvertError::Config(format!(
            "unknown key(s) {} for source_type {kind}; accepted keys: {}",
            unknown
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            allowed.join(", ")
        )));
    }
    let get = |key: &str| config.get(key).filter(|v| !v.is_null());

    Ok(match kind.as_str() {
        "csv" | "tsv" => {
            let mut opts = CsvOptions {
                delimiter: (kind == "tsv").then_some(b'\t'),
                ..CsvOptions::default()
            };
            if let Some(v) = get("delimiter") {
                opts.delimiter = Some(single_byte("delimiter", v)?);
            }
            if let Some(v) = get("quote") {
                opts.quote = Some(single_byte("quote", v)?);
            }
            if let Some(v) = get("encoding") {
                let label = v
                    .as_str()
                    .ok_or_else(|| expected("encoding", "a string", v))?;
                // Validate now so a typo is reported when the configuration is read.
                TextEncoding::parse(label)?;
                opts.encoding = Some(label.to_owned());
            }
            if let Some(v) = get("has_header") {
                opts.has_header = Some(
                    v.as_bool()
                        .ok_or_else(|| expected("has_header", "true or false", v))?,
                );
            }
            validate_csv(&opts)?;
            SourceFormat::Csv(opts)
        }
        "xlsx" => {
            let mut opts = XlsxOptions::default();
            if let Some(v) = get("sheet") {
                let name = v.as_str().ok_or_else(|| expected("sheet", "a string", v))?;
                if name.is_empty() {
                    return Err(ConvertError::Config("\"sheet\" must not be empty".into()));
                }
                opts.sheet = Some(name.to_owned());
            }
            SourceFormat::Xlsx(opts)
        }
        _ => {
            let mut opts = JsonOptions::default();
            if let Some(v) = get("flatten_nested") {
                opts.flatten_nested = Some(
                    v.as_bool()
                        .ok_or_else(|| expected("flatten_nested", "true or false", v))?,
                );
            }
            if kind == "json" {
                SourceFormat::Json(opts)
            } else {
                SourceFormat::Ndjson(opts)
            }
        }
    })
}

/// Checks CSV options that may also come straight from code rather than [`source_format`].
pub(crate) fn validate_csv(opts: &CsvOptions) -> Result<(), ConvertError> {
    for (name, byte) in [("delimiter", opts.delimiter), ("quote", opts.quote)] {
        if let Some(b) = byte
            && (!b.is_ascii() || b == b'\n' || b == b'\r')
        {
            return Err(ConvertError::Config(format!(
                "\"{name}\" must be one ASCII character other than a line break, found byte 0x{b:02x}"
            )));
        }
    }
    let quote = opts.quote.unwrap_or(b'"');
    if opts.delimiter == Some(quote) {
        return Err(ConvertError::Config(format!(
            "\"delimiter\" and \"quote\" are both {:?}",
            char::from(quote)
        )));
    }
    if let Some(label) = &opts.encoding {
        TextEncoding::parse(label)?;
    }
    Ok(())
}

fn single_byte(key: &str, v: &Value) -> Result<u8, ConvertError> {
    let s = v
        .as_str()
        .ok_or_else(|| expected(key, "a one-character string", v))?;
    // "\t" arrives as a real tab from JSON; people also write the escape or the word.
    let s = match s {
        "\\t" | "tab" | "TAB" => "\t",
        other => other,
    };
    match s.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(ConvertError::Config(format!(
            "{key:?} must be a single ASCII character (e.g. \",\", \";\", \"\\t\", \"|\"), found {s:?}"
        ))),
    }
}

fn expected(key: &str, what: &str, found: &Value) -> ConvertError {
    ConvertError::Config(format!(
        "{key:?} must be {what}, found {} {found}",
        json_kind(found)
    ))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
