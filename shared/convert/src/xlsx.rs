//! XLSX → Parquet with calamine.
//!
//! Memory: calamine's cell reader streams the sheet's XML cell by cell, so the sheet itself
//! is never loaded whole; the workbook's shared-strings table (every distinct text of the
//! workbook) and styles are loaded in memory when it is opened. XLSX is capped by Excel at
//! 1,048,576 rows, so this stays well within a Lambda's memory in practice.
//!
//! Layout: the first row with a non-empty cell is the header; its first and last non-empty
//! cells delimit the columns (a table may start at B3). Entirely empty rows are skipped. A
//! value outside the header's columns is an error rather than silently dropped.
//!
//! Cell text: strings as they are, integers without `.0`, other numbers rounded to Excel's
//! 15 significant digits (what Excel shows; `0.1+0.2` gives `0.3`), booleans `true`/`false`,
//! dates `YYYY-MM-DD`, date-times `YYYY-MM-DD HH:MM:SS[.mmm]`, times `HH:MM:SS`, durations
//! `[-]H:MM:SS`, error cells as Excel writes them (`#N/A`).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{DataRef, ExcelDateTime, Reader, Xlsx, XlsxError};

use crate::sink::{ParquetSink, normalize_header};
use crate::{ConvertError, ConvertOptions, ConvertReport, XlsxOptions};

/// Where the header's columns are: first column index and width.
struct Columns {
    first: u32,
    width: u32,
}

pub(crate) fn convert(
    input: &Path,
    opts: &XlsxOptions,
    output: &Path,
    copts: &ConvertOptions,
) -> Result<ConvertReport, ConvertError> {
    let mut file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    let bytes_in = file
        .metadata()
        .map_err(|e| ConvertError::io("stat", input, e))?
        .len();
    if bytes_in == 0 {
        return Err(ConvertError::EmptyFile);
    }
    let mut magic = [0u8; 4];
    let n = file
        .read(&mut magic)
        .map_err(|e| ConvertError::io("read", input, e))?;
    check_magic(&magic[..n])?;
    check_parts(input)?;
    let file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;

    let mut workbook: Xlsx<_> = Xlsx::new(BufReader::new(file)).map_err(workbook_error)?;
    let sheets = workbook.sheet_names();
    let sheet = match &opts.sheet {
        Some(wanted) if sheets.iter().any(|s| s == wanted) => wanted.clone(),
        Some(wanted) => {
            return Err(ConvertError::SheetNotFound {
                sheet: wanted.clone(),
                available: sheets,
            });
        }
        None => sheets
            .first()
            .cloned()
            .ok_or_else(|| ConvertError::InvalidWorkbook("the workbook has no sheets".into()))?,
    };
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(workbook_error)?;

    let mut header: Option<(Columns, ParquetSink)> = None;
    // Rows after the header whose cells are all empty (skipped, and counted).
    let mut blank_lines = 0u64;
    // Non-empty cells of the row being read: (column index, text).
    let mut row: Vec<(u32, String)> = Vec::new();
    let mut row_index: Option<u32> = None;
    loop {
        let cell = cells.next_cell().map_err(workbook_error)?;
        let position = cell.as_ref().map(|c| c.get_position());
        if position.map(|p| p.0) != row_index {
            if let Some(r) = row_index {
                if row.is_empty() && header.is_some() {
                    blank_lines += 1;
                }
                end_row(r, &mut row, &mut header, output, copts)?;
            }
            row_index = position.map(|p| p.0);
        }
        let Some(cell) = cell else { break };
        if let Some(text) = cell_text(cell.get_value()) {
            row.push((cell.get_position().1, text.into_owned()));
        }
    }

    let Some((_, sink)) = header else {
        return Err(ConvertError::NoDataRows(format!(
            "sheet {sheet:?} is empty"
        )));
    };
    if sink.rows() == 0 {
        return Err(ConvertError::NoDataRows(format!(
            "sheet {sheet:?} has only a header row"
        )));
    }
    let rows = sink.rows();
    let columns = sink.columns().to_vec();
    let bytes_out = sink.finish()?;
    Ok(ConvertReport {
        rows,
        blank_lines,
        columns,
        encoding: None,
        delimiter: None,
        bytes_in,
        bytes_out,
    })
}

/// Handles one complete row: the first non-empty one is the header, the others are data.
fn end_row(
    index: u32,
    row: &mut Vec<(u32, String)>,
    header: &mut Option<(Columns, ParquetSink)>,
    output: &Path,
    copts: &ConvertOptions,
) -> Result<(), ConvertError> {
    if row.is_empty() {
        return Ok(());
    }
    // Cells come in column order within a row in every writer we know; sort to be sure.
    row.sort_by_key(|(c, _)| *c);
    match header {
        None => {
            let first = row.first().map_or(0, |(c, _)| *c);
            let last = row.last().map_or(0, |(c, _)| *c);
            let mut names = vec![String::new(); (last - first + 1) as usize];
            for (c, text) in row.drain(..) {
                names[(c - first) as usize] = text;
            }
            let names = normalize_header(names)?;
            let sink = ParquetSink::create(output, names, copts)?;
            *header = Some((
                Columns {
                    first,
                    width: last - first + 1,
                },
                sink,
            ));
        }
        Some((cols, sink)) => {
            let mut next = cols.first;
            for (c, text) in row.drain(..) {
                if c < cols.first || c >= cols.first + cols.width {
                    return Err(ConvertError::Malformed(format!(
                        "row {}: cell {}{} has a value ({:?}) outside the header's columns {}..{}",
                        index + 1,
                        column_name(c),
                        index + 1,
                        preview(&text),
                        column_name(cols.first),
                        column_name(cols.first + cols.width - 1),
                    )));
                }
                while next < c {
                    sink.push(None);
                    next += 1;
                }
                sink.push(Some(&text));
                next = c + 1;
            }
            while next < cols.first + cols.width {
                sink.push(None);
                next += 1;
            }
            sink.end_row()?;
        }
    }
    Ok(())
}

fn check_magic(magic: &[u8]) -> Result<(), ConvertError> {
    if magic.starts_with(b"PK") {
        return Ok(());
    }
    let what = if magic.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        "it is a legacy Excel 97-2003 (.xls) file or an encrypted workbook; save it as .xlsx"
    } else if magic
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "it looks like text (CSV or JSON?); check the source_type"
    } else {
        "it is not a ZIP container, as every .xlsx file is"
    };
    Err(ConvertError::InvalidWorkbook(what.into()))
}

/// The most distinct strings a workbook may declare (calamine reserves room for all of them at
/// once: 16 Mi strings is ~400 MiB before one is read).
const MAX_SHARED_STRINGS: u64 = 16 << 20;
/// The largest ratio of a part's size to its compressed size (deflated XML of real workbooks
/// stays well under 100; a decompression bomb is far above).
const MAX_RATIO: u64 = 1000;
/// The smallest a shared string can be in XML (`<si/>`).
const MIN_SHARED_STRING_BYTES: u64 = 5;

/// Checks what a workbook says about itself before calamine relies on it: no part may inflate
/// more than [`MAX_RATIO`] times, and the shared-strings table may not declare more strings
/// (`uniqueCount`) than fit in its size or than [`MAX_SHARED_STRINGS`] — calamine reserves
/// memory for the declared count up front, and a crafted count aborted the process.
fn check_parts(input: &Path) -> Result<(), ConvertError> {
    let file = File::open(input).map_err(|e| ConvertError::io("open", input, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        ConvertError::InvalidWorkbook(format!("the ZIP container is truncated or corrupt ({e})"))
    })?;
    for i in 0..zip.len() {
        let (name, size, compressed) = {
            let entry = zip.by_index_raw(i).map_err(|e| {
                ConvertError::InvalidWorkbook(format!("part {i} of the ZIP container: {e}"))
            })?;
            let name = entry
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| format!("#{i}"));
            (name, entry.size(), entry.compressed_size())
        };
        if size > compressed.max(1).saturating_mul(MAX_RATIO) {
            return Err(ConvertError::InvalidWorkbook(format!(
                "part {name} inflates from {compressed} to {size} bytes (more than {MAX_RATIO} times): refused as a decompression bomb"
            )));
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("xl/worksheets/") && lower.ends_with(".xml") {
            let part = zip
                .by_index(i)
                .map_err(|e| ConvertError::InvalidWorkbook(format!("part {name}: {e}")))?;
            check_references(&name, BufReader::new(part))?;
            continue;
        }
        if !lower.ends_with("sharedstrings.xml") {
            continue;
        }
        let mut head = Vec::with_capacity(8192);
        zip.by_index(i)
            .map_err(|e| ConvertError::InvalidWorkbook(format!("part {name}: {e}")))?
            .take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| ConvertError::InvalidWorkbook(format!("part {name}: {e}")))?;
        if let Some(declared) = declared_unique_count(&head) {
            let room = size / MIN_SHARED_STRING_BYTES + 1;
            if declared > room.min(MAX_SHARED_STRINGS) {
                return Err(ConvertError::InvalidWorkbook(format!(
                    "part {name} declares uniqueCount=\"{declared}\" shared strings in {size} bytes (at most {} can be there, and at most {MAX_SHARED_STRINGS} are read)",
                    room.min(MAX_SHARED_STRINGS)
                )));
            }
        }
    }
    Ok(())
}

/// Excel's grid: columns A..XFD, rows 1..1048576.
const MAX_COLUMN: u32 = 16_384;
const MAX_ROW: u32 = 1_048_576;

/// Checks every cell (`<c r>`), row (`<row r>`) and dimension (`<dimension ref>`) reference of
/// a worksheet part before calamine reads it: calamine computes positions from them with
/// unchecked arithmetic (a column of many letters overflowed, a dimension ending before it
/// starts underflowed), and the header's width is sized from them.
fn check_references(name: &str, part: impl std::io::BufRead) -> Result<(), ConvertError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(part);
    let mut buf = Vec::new();
    let invalid = |what: String| ConvertError::InvalidWorkbook(format!("part {name}: {what}"));
    loop {
        buf.clear();
        let event = xml
            .read_event_into(&mut buf)
            .map_err(|e| invalid(format!("not well-formed XML ({e})")))?;
        let element = match &event {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => return Ok(()),
            _ => continue,
        };
        let (attribute, kind) = match element.local_name().as_ref() {
            "c" => ("r", Reference::Cell),
            "row" => ("r", Reference::Row),
            "dimension" => ("ref", Reference::Range),
            _ => continue,
        };
        for a in element.attributes() {
            let a = a.map_err(|e| invalid(format!("a malformed attribute ({e})")))?;
            if a.key.local_name().as_ref() != attribute {
                continue;
            }
            if !kind.valid(a.value.as_bytes()) {
                return Err(invalid(format!(
                    "{} reference {:?} is not within Excel's grid A1:XFD1048576",
                    kind.word(),
                    a.value
                )));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Reference {
    Cell,
    Row,
    Range,
}

impl Reference {
    fn word(self) -> &'static str {
        match self {
            Reference::Cell => "cell",
            Reference::Row => "row",
            Reference::Range => "dimension",
        }
    }

    fn valid(self, text: &[u8]) -> bool {
        match self {
            Reference::Cell => cell_position(text).is_some(),
            Reference::Row => row_number(text).is_some(),
            Reference::Range => {
                let mut ends = text.splitn(2, |b| *b == b':');
                let start = ends.next().and_then(cell_position);
                match (start, ends.next()) {
                    (Some(_), None) => true,
                    (Some(s), Some(end)) => {
                        cell_position(end).is_some_and(|e| e.0 >= s.0 && e.1 >= s.1)
                    }
                    (None, _) => false,
                }
            }
        }
    }
}

/// `A1`-style reference → (row, column), both 1-based, when inside Excel's grid.
fn cell_position(text: &[u8]) -> Option<(u32, u32)> {
    let letters = text.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if !(1..=3).contains(&letters) {
        return None;
    }
    let (col, row) = text.split_at(letters);
    let col = col.iter().fold(0u32, |n, b| {
        n * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1
    });
    (col <= MAX_COLUMN).then_some(())?;
    Some((row_number(row)?, col))
}

/// A 1-based row number inside Excel's grid.
fn row_number(text: &[u8]) -> Option<u32> {
    if !(1..=7).contains(&text.len()) || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let row = text.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    (1..=MAX_ROW).contains(&row).then_some(row)
}

/// The `uniqueCount` attribute of the `<sst …>` element at the start of a shared-strings part
/// (a value too large for u64 counts as the largest).
fn declared_unique_count(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let sst = text.find("<sst")?;
    let tag = text.get(sst..)?;
    let tag = tag.get(..tag.find('>')?)?;
    let at = tag.find("uniqueCount")?;
    let value = tag.get(at + "uniqueCount".len()..)?.trim_start();
    let value = value.strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = value.get(1..)?;
    let digits = value.get(..value.find(quote)?)?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().unwrap_or(u64::MAX))
}

fn workbook_error(e: XlsxError) -> ConvertError {
    let detail = match &e {
        XlsxError::Zip(_) | XlsxError::Io(_) => {
            format!("the ZIP container is truncated or corrupt ({e})")
        }
        XlsxError::Password => "the workbook is password protected".into(),
        _ => e.to_string(),
    };
    ConvertError::InvalidWorkbook(detail)
}

fn cell_text<'a>(value: &'a DataRef<'_>) -> Option<Cow<'a, str>> {
    let text: Cow<'a, str> = match value {
        DataRef::Empty => return None,
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            Cow::Borrowed(s.as_str())
        }
        DataRef::SharedString(s) => Cow::Borrowed(s),
        DataRef::Int(i) => Cow::Owned(i.to_string()),
        DataRef::Float(f) => Cow::Owned(float_text(*f)),
        DataRef::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        DataRef::DateTime(dt) => Cow::Owned(datetime_text(dt)),
        DataRef::Error(e) => Cow::Owned(e.to_string()),
    };
    (!text.is_empty()).then_some(text)
}

fn float_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    // Excel keeps 15 significant digits; the stored binary value often has noise beyond.
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    format!("{rounded}")
}

fn datetime_text(dt: &ExcelDateTime) -> String {
    let serial = dt.as_f64();
    if dt.is_duration() {
        let ms = (serial * 86_400_000.0).round() as i64;
        let sign = if ms < 0 { "-" } else { "" };
        let ms = ms.unsigned_abs();
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        return if milli == 0 {
            format!("{sign}{h}:{m:02}:{s:02}")
        } else {
            format!("{sign}{h}:{m:02}:{s:02}.{milli:03}")
        };
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let time = if ms == 0 {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
    };
    if (0.0..1.0).contains(&serial) {
        // A time of day without a date (Excel's day 0).
        time
    } else if h == 0 && mi == 0 && s == 0 && ms == 0 {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {time}")
    }
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
fn column_name(mut index: u32) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8_lossy(&name).into_owned()
}

fn preview(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((i, _)) => Cow::Owned(format!("{}…", &text[..i])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_inside_excels_grid_and_only_those_pass() {
        assert_eq!(cell_position(b"A1"), Some((1, 1)));
        assert_eq!(cell_position(b"xfd1048576"), Some((1_048_576, 16_384)));
        for bad in [
            &b"XFE1"[..],
            b"A0",
            b"A1048577",
            b"AAAA1",
            b"A",
            b"1",
            b"A1x",
            b"A&#49;",
            b"",
        ] {
            assert_eq!(cell_position(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert!(Reference::Range.valid(b"B3:D9"));
        assert!(Reference::Range.valid(b"B3"));
        assert!(!Reference::Range.valid(b"D9:B3"));
        assert!(!Reference::Range.valid(b"B3:"));
        assert!(Reference::Row.valid(b"1048576"));
        assert!(!Reference::Row.valid(b"4294967296"));
    }
    use calamine::ExcelDateTimeType;

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn floats_read_as_excel_shows_them() {
        assert_eq!(float_text(42.0), "42");
        assert_eq!(float_text(-3.0), "-3");
        assert_eq!(float_text(1234.5), "1234.5");
        assert_eq!(float_text(0.1 + 0.2), "0.3");
        assert_eq!(float_text(1e20), "100000000000000000000");
    }

    #[test]
    fn dates_and_times() {
        let dt = |v, t| datetime_text(&ExcelDateTime::new(v, t, false));
        assert_eq!(dt(45943.0, ExcelDateTimeType::DateTime), "2025-10-13");
        assert_eq!(
            dt(45943.5, ExcelDateTimeType::DateTime),
            "2025-10-13 12:00:00"
        );
        assert_eq!(dt(0.75, ExcelDateTimeType::DateTime), "18:00:00");
        assert_eq!(dt(1.5, ExcelDateTimeType::TimeDelta), "36:00:00");
    }
}
