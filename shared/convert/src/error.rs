//! The one error type of the crate and its classification.
//!
//! Messages are written for the operator who reads them in `tools.file_audit_log`: they say
//! what is wrong with the file and, where it helps, what to change in the source
//! configuration. Line numbers are 1-based lines of the file; XLSX rows are the row numbers
//! Excel shows. Local temp-file paths appear only in machine (I/O) errors, never in
//! bad-input messages, because the operator knows the object key, not the worker's temp path.

use std::io;
use std::path::PathBuf;

/// Why a conversion (or a read-back) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The machine failed us: opening, reading or writing a local file. Retryable.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "read", "create a temp file next to", …).
        action: &'static str,
        /// The local file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The source configuration or the conversion options are invalid (unknown key, bad
    /// value). Not the file's fault, and retrying does not help: fix the configuration.
    #[error("invalid source configuration: {0}")]
    Config(String),

    /// The input file has no bytes at all.
    #[error("the file is empty (0 bytes)")]
    EmptyFile,

    /// A header (or an empty JSON array / only empty objects) but not one data row.
    #[error("the file has no data rows{}", detail_suffix(.0))]
    NoDataRows(String),

    /// A CSV row whose field count differs from the header's.
    #[error(
        "line {line}: found {found} field(s) but the header has {expected}; \
         check for an unquoted delimiter or quote in that row, or a wrong delimiter"
    )]
    RaggedRow {
        /// 1-based line of the file where the row starts.
        line: u64,
        /// Number of fields of the header (first row).
        expected: usize,
        /// Number of fields of the offending row.
        found: usize,
    },

    /// The configured delimiter splits the header into a single column while another common
    /// delimiter splits it consistently into several.
    #[error(
        "the configured delimiter {configured:?} yields a single column, but {detected:?} \
         yields {columns} columns: set \"delimiter\" to {detected:?} or remove it to detect it"
    )]
    WrongDelimiter {
        /// The delimiter from the configuration.
        configured: char,
        /// The delimiter that fits the file.
        detected: char,
        /// How many columns the detected delimiter gives.
        columns: usize,
    },

    /// Bytes that are not UTF-8 while UTF-8 was configured (strict).
    #[error(
        "invalid UTF-8 at byte offset {offset} (line {line}) while the configured encoding is \
         utf-8; if the file is in another encoding set \"encoding\" to \"windows-1252\" or \
         \"latin-1\", or remove it to detect the encoding"
    )]
    InvalidUtf8 {
        /// 0-based byte offset in the file of the first invalid byte.
        offset: u64,
        /// 1-based line containing it.
        line: u64,
    },

    /// The header names one column more than once (after trimming whitespace).
    #[error("duplicate column name(s) in the header: {}", quote_list(names))]
    DuplicateColumns {
        /// Each duplicated name, once.
        names: Vec<String>,
    },

    /// Not a readable XLSX workbook (truncated, corrupt, another format, encrypted).
    #[error("not a readable XLSX workbook: {0}")]
    InvalidWorkbook(String),

    /// The configured sheet does not exist.
    #[error(
        "sheet {sheet:?} not found; the workbook has: {}",
        quote_list(available)
    )]
    SheetNotFound {
        /// The requested sheet.
        sheet: String,
        /// The sheets that exist, in workbook order.
        available: Vec<String>,
    },

    /// JSON that is not an array of objects nor one object per line.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),

    /// Any other problem with the file's content (a binary file given as CSV, a cell
    /// outside the header's columns, too many columns, …).
    #[error("{0}")]
    Malformed(String),

    /// A Parquet file to read back is corrupt or not in the expected shape.
    #[error("cannot read Parquet: {0}")]
    InvalidParquet(String),

    /// Writing the Parquet output failed (disk full, I/O). Retryable.
    #[error("cannot write Parquet: {0}")]
    Write(String),
}

impl ConvertError {
    /// True when the file itself is the problem: retrying the same input gives the same
    /// error, so the file goes to `failed/` at once. False for machine errors (I/O,
    /// writing the output) and for configuration errors (see [`ConvertError::is_config`]).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            ConvertError::Io { .. } | ConvertError::Write(_) | ConvertError::Config(_)
        )
    }

    /// True for an invalid source configuration: neither retryable nor the file's fault.
    pub fn is_config(&self) -> bool {
        matches!(self, ConvertError::Config(_))
    }

    /// True for errors of the machine that may pass on a retry (I/O, disk full).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConvertError::Io { .. } | ConvertError::Write(_))
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ConvertError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

pub(crate) fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
