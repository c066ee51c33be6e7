//! CSV → Parquet: encoding detection, delimiter detection, then record by record into the
//! sink.
//!
//! Encoding: a BOM decides (UTF-8, UTF-16LE/BE); otherwise the file is read as strict UTF-8
//! and, when detection is on and an invalid byte turns up, the conversion starts again as
//! Windows-1252 (the partial output is discarded). Valid UTF-8 files, the common case, are
//! therefore read once; only non-UTF-8 files pay a second pass, and nothing is held in memory
//! to make that possible.
//!
//! Delimiter: the first [`SAMPLE_BYTES`] of decoded text are parsed with each candidate; the
//! one giving the same field count (at least two) on every sampled record, with the most
//! fields, wins. The sample is then replayed in front of the rest of the stream.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use csv::ByteRecord;

use crate::encoding::{
    Decoded, Utf8Checked, binary_kind, invalid_utf8_of, line_of_offset, sniff_bom,
};
use crate::options::{TextEncoding, validate_csv};
use crate::sink::{ParquetSink, normalize_header};
use crate::{ConvertError, ConvertOptions, ConvertReport, CsvOptions};

/// Decoded bytes looked at to detect the delimiter.
const SAMPLE_BYTES: u64 = 256 << 10;
/// Records of the sample looked at to detect the delimiter.
const SAMPLE_RECORDS: usize = 200;
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
const READ_BUFFER: usize = 256 << 10;

/// A failed attempt: an invalid UTF-8 byte (which detection answers with a second attempt as
/// Windows-1252) or a final error.
enum Failure {
    InvalidUtf8(u64),
    Final(ConvertError),
}

impl From<ConvertError> for Failure {
    fn from(e: ConvertError) -> Self {
        Failure::Final(e)
    }
}

pub(crate) fn convert(
    input: &Path,
    opts: &CsvOptions,
    output: &Path,
    copts: &ConvertOptions,
) -> Result<ConvertReport, ConvertError> {
    validate_csv(opts)?;
    let configured = match opts.encoding.as_deref() {
        Some(label) => TextEncoding::parse(label)?,
        None => None,
    };
    let mut file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    let bytes_in = file
        .metadata()
        .map_err(|e| ConvertError::io("stat", input, e))?
        .len();
    if bytes_in == 0 {
        return Err(ConvertError::EmptyFile);
    }
    let mut head = Vec::with_capacity(8192);
    (&mut file)
        .take(8192)
        .read_to_end(&mut head)
        .map_err(|e| ConvertError::io("read", input, e))?;

    let bom = sniff_bom(&head);
    // (encoding, bytes to skip, fall back to Windows-1252 on invalid UTF-8)
    let (encoding, skip, fallback) = match (configured, bom) {
        (Some(TextEncoding::Utf8), Some((TextEncoding::Utf8, n))) => (TextEncoding::Utf8, n, false),
        (Some(enc), _) => (enc, 0, false),
        (None, Some((enc, n))) => (enc, n, false),
        (None, None) => (TextEncoding::Utf8, 0, true),
    };
    if !matches!(encoding, TextEncoding::Utf16Le | TextEncoding::Utf16Be)
        && let Some(kind) = binary_kind(&head[skip..])
    {
        return Err(ConvertError::Malformed(format!(
            "this is not a CSV text file: it looks like {kind}"
        )));
    }

    let first = attempt(input, encoding, skip as u64, opts, output, copts);
    let (encoding, result) = match first {
        Err(Failure::InvalidUtf8(_)) if fallback => (
            TextEncoding::Windows1252,
            attempt(input, TextEncoding::Windows1252, 0, opts, output, copts),
        ),
        other => (encoding, other),
    };
    match result {
        Ok((rows, blank_lines, columns, delimiter, bytes_out)) => Ok(ConvertReport {
            rows,
            blank_lines,
            columns,
            encoding: Some(encoding.name().to_owned()),
            delimiter: Some(char::from(delimiter)),
            bytes_in,
            bytes_out,
        }),
        Err(Failure::Final(e)) => Err(e),
        Err(Failure::InvalidUtf8(offset)) => {
            let file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
            let line = line_of_offset(io::BufReader::new(file), offset)
                .map_err(|e| ConvertError::io("read", input, e))?;
            Err(ConvertError::InvalidUtf8 { offset, line })
        }
    }
}

/// Rows, blank lines, columns, delimiter, Parquet bytes.
type Attempt = (u64, u64, Vec<String>, u8, u64);

fn attempt(
    input: &Path,
    encoding: TextEncoding,
    skip: u64,
    opts: &CsvOptions,
    output: &Path,
    copts: &ConvertOptions,
) -> Result<Attempt, Failure> {
    let read_err = |e: io::Error| match invalid_utf8_of(&e) {
        Some(at) => Failure::InvalidUtf8(at.offset),
        None => Failure::Final(ConvertError::io("read", input, e)),
    };
    let mut file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    file.seek(SeekFrom::Start(skip))
        .map_err(|e| ConvertError::io("read", input, e))?;
    let mut text: Box<dyn Read> = match encoding {
        TextEncoding::Utf8 => Box::new(Utf8Checked::new(file, skip)),
        other => Box::new(Decoded::new(file, other)),
    };

    let mut sample = Vec::new();
    (&mut text)
        .take(SAMPLE_BYTES)
        .read_to_end(&mut sample)
        .map_err(read_err)?;
    let complete = (sample.len() as u64) < SAMPLE_BYTES;
    let quote = opts.quote.unwrap_or(b'"');
    let delimiter = match opts.delimiter {
        Some(d) => {
            check_configured_delimiter(&sample, d, quote, complete)?;
            d
        }
        None => detect_delimiter(&sample, quote, complete),
    };

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        // Field counts are checked here, to report the line in our own words.
        .flexible(true)
        .buffer_capacity(READ_BUFFER)
        .from_reader(LastByte {
            inner: Cursor::new(sample).chain(text),
            last: None,
        });
    let csv_err = |e: csv::Error| -> Failure {
        let line = e.position().map(|p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => read_err(io),
            other => Failure::Final(ConvertError::Malformed(format!(
                "CSV parse error{}: {other:?}",
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            ))),
        }
    };

    let mut record = ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(csv_err)? {
        return Err(ConvertError::NoDataRows("it contains only blank lines".into()).into());
    }
    let mut blank = BlankLines::default();
    blank.record(&record);
    let has_header = opts.has_header.unwrap_or(true);
    let width = record.len();
    let columns = if has_header {
        let names = record
            .iter()
            .map(|f| field_str(f, &record).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        normalize_header(names)?
    } else {
        (1..=width).map(|i| format!("column_{i}")).collect()
    };

    let mut sink = ParquetSink::create(output, columns, copts)?;
    if !has_header {
        push_record(&mut sink, &record)?;
    }
    while reader.read_byte_record(&mut record).map_err(csv_err)? {
        if record.len() != width {
            return Err(ConvertError::RaggedRow {
                line: record.position().map_or(0, |p| p.line()),
                expected: width,
                found: record.len(),
            }
            .into());
        }
        blank.record(&record);
        push_record(&mut sink, &record)?;
    }
    let ends_with_break = reader.get_ref().last == Some(b'\n');
    let blank_lines = blank.end(reader.position().line(), ends_with_break);
    if sink.rows() == 0 {
        return Err(ConvertError::NoDataRows("only a header row".into()).into());
    }
    let rows = sink.rows();
    let columns = sink.columns().to_vec();
    let bytes_out = sink.finish()?;
    Ok((rows, blank_lines, columns, delimiter, bytes_out))
}

/// Counts the blank lines the CSV reader skips (before, between and after records). The
/// reader's record positions do not say (a record after blank lines reports the line before
/// them), so the count comes from line breaks: every break of the input ends a record's line,
/// is inside a quoted field, or ends a blank line.
#[derive(Debug, Default)]
struct BlankLines {
    records: u64,
    /// Line breaks inside quoted fields.
    inner: u64,
}

impl BlankLines {
    fn record(&mut self, record: &ByteRecord) {
        self.records += 1;
        self.inner += record.as_slice().iter().filter(|b| **b == b'\n').count() as u64;
    }

    /// The total, given the line the reader ended on (1 + the input's line breaks) and
    /// whether the input's last byte is a line break (else the last record has none).
    fn end(self, last_line: u64, ends_with_break: bool) -> u64 {
        let breaks = last_line.saturating_sub(1);
        let terminated = if ends_with_break {
            self.records
        } else {
            self.records.saturating_sub(1)
        };
        breaks.saturating_sub(self.inner + terminated)
    }
}

/// A reader that remembers the last byte it gave out.
struct LastByte<R> {
    inner: R,
    last: Option<u8>,
}

impl<R: Read> Read for LastByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = buf.get(..n).and_then(|b| b.last()) {
            self.last = Some(*b);
        }
        Ok(n)
    }
}

#[inline]
fn push_record(sink: &mut ParquetSink, record: &ByteRecord) -> Result<(), ConvertError> {
    // One UTF-8 check per record rather than per field: the per-call cost dominated.
    let text = record_str(record)?;
    for i in 0..record.len() {
        let field = record
            .range(i)
            .and_then(|r| text.get(r))
            .ok_or_else(|| not_text(record))?;
        sink.push(Some(field));
    }
    sink.end_row()
}

/// The record's fields, concatenated, as text. They are UTF-8 already (validated or
/// transcoded upstream, and split only at ASCII bytes); the check is what lets us hand
/// `&str` to Arrow without `unsafe`.
#[inline]
fn record_str(record: &ByteRecord) -> Result<&str, ConvertError> {
    std::str::from_utf8(record.as_slice()).map_err(|_| not_text(record))
}

fn field_str<'a>(field: &'a [u8], record: &ByteRecord) -> Result<&'a str, ConvertError> {
    std::str::from_utf8(field).map_err(|_| not_text(record))
}

fn not_text(record: &ByteRecord) -> ConvertError {
    ConvertError::Malformed(format!(
        "line {}: a field is not valid text after decoding",
        record.position().map_or(0, |p| p.line())
    ))
}

/// Field counts of the sampled records with one delimiter.
#[derive(Debug, Clone, Copy)]
struct Shape {
    delimiter: u8,
    header_fields: usize,
    records: usize,
    consistent: usize,
}

fn shape(sample: &[u8], delimiter: u8, quote: u8, complete: bool) -> Shape {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample);
    let mut counts = Vec::new();
    let mut record = ByteRecord::new();
    while counts.len() <= SAMPLE_RECORDS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => counts.push(record.len()),
            _ => break,
        }
    }
    // The sample may cut the last record short; ignore it unless it is all we have.
    if !complete && counts.len() > 1 {
        counts.pop();
    }
    counts.truncate(SAMPLE_RECORDS);
    let header_fields = counts.first().copied().unwrap_or(0);
    Shape {
        delimiter,
        header_fields,
        records: counts.len(),
        consistent: counts.iter().filter(|&&c| c == header_fields).count(),
    }
}

/// The best candidate: several fields, same count on every record (or the largest share of
/// records), most fields; ties go to the earlier candidate (`,` before `;` …).
fn best_shape(sample: &[u8], quote: u8, complete: bool) -> Option<Shape> {
    CANDIDATES
        .iter()
        .filter(|&&d| d != quote)
        .map(|&d| shape(sample, d, quote, complete))
        .filter(|s| s.header_fields >= 2)
        .enumerate()
        .max_by_key(|(i, s)| {
            (
                s.consistent == s.records,
                s.consistent * 1000 / s.records.max(1),
                s.header_fields,
                usize::MAX - i,
            )
        })
        .map(|(_, s)| s)
}

fn detect_delimiter(sample: &[u8], quote: u8, complete: bool) -> u8 {
    best_shape(sample, quote, complete).map_or(b',', |s| s.delimiter)
}

fn check_configured_delimiter(
    sample: &[u8],
    delimiter: u8,
    quote: u8,
    complete: bool,
) -> Result<(), ConvertError> {
    if shape(sample, delimiter, quote, complete).header_fields != 1 {
        return Ok(());
    }
    match best_shape(sample, quote, complete) {
        Some(s) if s.delimiter != delimiter && s.consistent == s.records => {
            Err(ConvertError::WrongDelimiter {
                configured: char::from(delimiter),
                detected: char::from(s.delimiter),
                columns: s.header_fields,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_candidate() {
        for d in CANDIDATES {
            let d = char::from(d);
            let text = format!("id{d}name{d}amount\n1{d}\"a, b; c\"{d}2.5\n2{d}x{d}3\n");
            assert_eq!(char::from(detect_delimiter(text.as_bytes(), b'"', true)), d);
        }
    }

    #[test]
    fn prefers_consistent_over_more_fields() {
        // Decimal commas: ',' gives 3 then 4 fields, ';' gives 2 everywhere.
        let text = b"name;amount\nx;1,5\ny;2,75\n";
        assert_eq!(detect_delimiter(text, b'"', true), b';');
    }

    #[test]
    fn single_column_defaults_to_comma() {
        assert_eq!(detect_delimiter(b"name\nx\ny\n", b'"', true), b',');
    }

    #[test]
    fn truncated_sample_ignores_its_last_record() {
        let text = b"a;b;c\n1;2;3\n4;5";
        assert_eq!(detect_delimiter(text, b'"', false), b';');
    }
}
