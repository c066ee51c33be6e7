//! Source files (CSV, XLSX, JSON, NDJSON) to Parquet for the batch ETL's "convert" stage,
//! streaming with bounded memory, and Parquet back to strings for the stages after it.
//!
//! Every column is written as nullable `Utf8`: bronze keeps the raw text, and typing happens
//! later, at validation, against the configured column mapping. An empty field is NULL.
//!
//! | module | role |
//! |---|---|
//! | `options.rs` | [`SourceFormat`] and its options, [`ConvertOptions`], [`source_format`] from `source_type` + `source_config` |
//! | `delimited.rs` | CSV: encoding detection (BOM, UTF-8, else Windows-1252), delimiter detection, record-by-record reading with the `csv` crate |
//! | `encoding.rs` | streaming UTF-8 validation with exact offsets, and transcoding (Latin-1, Windows-1252, UTF-16) |
//! | `json.rs` | JSON array / object stream / NDJSON, two passes (columns, then rows), nested objects flattened to `a.b` |
//! | `xlsx.rs` | XLSX with calamine's streaming cell reader |
//! | `sink.rs` | Arrow string builders → a writer thread → `ArrowWriter`; temp file + rename |
//! | `read.rs` | [`parquet_columns`], [`read_string_batches`] |
//! | `error.rs` | [`ConvertError`] and its classification ([`ConvertError::is_bad_input`]) |
//!
//! Memory is bounded whatever the input size: one batch of rows (`batch_rows`, or 32 MiB of
//! text, whichever comes first) being built, one queued, one being encoded, and one Parquet
//! row group (closed at ~128 MiB encoded). XLSX also keeps the workbook's shared strings in
//! memory (see `xlsx.rs`). The output appears at its path only when complete (temp file in
//! the same folder, fsync, rename); on any error no partial file is left behind.

mod delimited;
mod encoding;
mod error;
mod json;
mod options;
mod read;
mod sink;
mod xlsx;

use std::path::Path;

pub use error::ConvertError;
pub use json::MAX_FLATTEN_DEPTH;
pub use options::{
    Compression, ConvertOptions, CsvOptions, JsonOptions, SourceFormat, XlsxOptions, source_format,
};
pub use read::{StringBatch, parquet_columns, parquet_rows, read_string_batches};

/// What a conversion did, for the audit log (`tools.file_audit_log.total_rows` etc.).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConvertReport {
    /// Data rows written (the header is not counted).
    pub rows: u64,
    /// Lines (CSV, NDJSON) or sheet rows (XLSX) skipped because they hold nothing: blank lines,
    /// rows whose cells are all empty. They are not rows of the file's data, and are not in
    /// the Parquet file; the row ledger shows them as their own bucket.
    pub blank_lines: u64,
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The text encoding read (CSV: configured or detected; JSON: always `utf-8`; XLSX: none).
    pub encoding: Option<String>,
    /// The delimiter used (CSV only: configured or detected).
    pub delimiter: Option<char>,
    /// Size of the input file.
    pub bytes_in: u64,
    /// Size of the Parquet file written.
    pub bytes_out: u64,
}

/// Converts `input` to a Parquet file at `output` (replaced atomically if it exists).
///
/// Blocking and CPU-bound (it also starts one writer thread): call it from
/// `tokio::task::spawn_blocking` in async code.
pub fn convert_file(
    input: &Path,
    format: &SourceFormat,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<ConvertReport, ConvertError> {
    match format {
        SourceFormat::Csv(o) => delimited::convert(input, o, output, opts),
        SourceFormat::Xlsx(o) => xlsx::convert(input, o, output, opts),
        SourceFormat::Json(o) => json::convert(input, o, false, output, opts),
        SourceFormat::Ndjson(o) => json::convert(input, o, true, output, opts),
    }
}
