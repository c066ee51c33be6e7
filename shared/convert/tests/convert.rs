//! End-to-end tests of muara-convert: every format, every bad-input case, round trips
//! through `read_string_batches`, codecs, atomic output. Inputs are generated here.

// Helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use muara_convert::{
    Compression, ConvertError, ConvertOptions, ConvertReport, CsvOptions, JsonOptions,
    SourceFormat, XlsxOptions, convert_file, parquet_columns, read_string_batches, source_format,
};
use tempfile::TempDir;

struct Case {
    dir: TempDir,
    input: PathBuf,
    output: PathBuf,
}

fn case(name: &str, bytes: &[u8]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    fs::write(&input, bytes).unwrap();
    let output = dir.path().join("out.parquet");
    Case { dir, input, output }
}

impl Case {
    fn convert(&self, format: &SourceFormat) -> Result<ConvertReport, ConvertError> {
        convert_file(
            &self.input,
            format,
            &self.output,
            &ConvertOptions::default(),
        )
    }

    fn convert_with(
        &self,
        format: &SourceFormat,
        opts: &ConvertOptions,
    ) -> Result<ConvertReport, ConvertError> {
        convert_file(&self.input, format, &self.output, opts)
    }

    /// The whole output as rows (row-major), via the public read-back API.
    fn rows(&self) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        read_all(&self.output, 3)
    }

    /// A failed conversion leaves the folder as it was: the input only.
    fn assert_no_output(&self) {
        let names: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "left behind: {names:?}");
    }
}

fn read_all(path: &Path, batch_rows: usize) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for batch in read_string_batches(path, batch_rows).unwrap() {
        let batch = batch.unwrap();
        assert!(batch.rows <= batch_rows);
        assert_eq!(batch.values.len(), batch.columns.len());
        columns = batch.columns.clone();
        for r in 0..batch.rows {
            rows.push(batch.values.iter().map(|col| col[r].clone()).collect());
        }
    }
    if columns.is_empty() {
        columns = parquet_columns(path).unwrap();
    }
    (columns, rows)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn csv() -> SourceFormat {
    SourceFormat::Csv(CsvOptions::default())
}

fn csv_with(f: impl FnOnce(&mut CsvOptions)) -> SourceFormat {
    let mut o = CsvOptions::default();
    f(&mut o);
    SourceFormat::Csv(o)
}

fn json() -> SourceFormat {
    SourceFormat::Json(JsonOptions::default())
}

fn ndjson() -> SourceFormat {
    SourceFormat::Ndjson(JsonOptions::default())
}

#[track_caller]
fn bad_input(result: Result<ConvertReport, ConvertError>) -> ConvertError {
    let err = result.expect_err("expected an error");
    assert!(err.is_bad_input(), "not classified as bad input: {err:?}");
    assert!(!err.is_retryable());
    err
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_round_trip_with_quotes_commas_newlines_and_nulls() {
    let c = case(
        "f.csv",
        b"id,name,amount,note\r\n\
          1,Alice,12.50,\"likes \"\"quotes\"\", commas\"\r\n\
          2,,0,\"two\nlines\"\r\n\
          3,Bob,,\r\n",
    );
    let report = c.convert(&csv()).unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(report.columns, ["id", "name", "amount", "note"]);
    assert_eq!(report.delimiter, Some(','));
    assert_eq!(report.encoding.as_deref(), Some("utf-8"));
    assert_eq!(report.bytes_in, fs::metadata(&c.input).unwrap().len());
    assert_eq!(report.bytes_out, fs::metadata(&c.output).unwrap().len());
    let (cols, rows) = c.rows();
    assert_eq!(cols, report.columns);
    assert_eq!(
        rows,
        vec![
            vec![
                s("1"),
                s("Alice"),
                s("12.50"),
                s("likes \"quotes\", commas")
            ],
            vec![s("2"), None, s("0"), s("two\nlines")],
            vec![s("3"), s("Bob"), None, None],
        ]
    );
}

#[test]
fn csv_detects_semicolon_tab_and_pipe() {
    for d in [';', '\t', '|'] {
        let text = format!("a{d}b{d}c\n1{d}x, y{d}3\n4{d}z{d}6\n");
        let c = case("f.csv", text.as_bytes());
        let report = c.convert(&csv()).unwrap();
        assert_eq!(report.delimiter, Some(d));
        assert_eq!(report.columns, ["a", "b", "c"]);
        assert_eq!(c.rows().1[0], vec![s("1"), s("x, y"), s("3")]);
    }
}

#[test]
fn csv_header_names_trimmed_bom_stripped_and_kept_verbatim() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(" id ; first name ;amount.eur;Straße;;\n1;a;2;x;y;z\n".as_bytes());
    let c = case("f.csv", &bytes);
    let report = c.convert(&csv()).unwrap();
    assert_eq!(
        report.columns,
        [
            "id",
            "first name",
            "amount.eur",
            "Straße",
            "column_5",
            "column_6"
        ]
    );
    assert_eq!(report.encoding.as_deref(), Some("utf-8"));
    assert_eq!(parquet_columns(&c.output).unwrap(), report.columns);
}

#[test]
fn csv_without_header_names_columns() {
    let c = case("f.csv", b"1,a\n2,b\n");
    let report = c
        .convert(&csv_with(|o| o.has_header = Some(false)))
        .unwrap();
    assert_eq!(report.columns, ["column_1", "column_2"]);
    assert_eq!(report.rows, 2);
}

#[test]
fn csv_windows_1252_detected_when_not_utf8() {
    // "Café" and "€" in Windows-1252.
    let c = case("f.csv", b"name;price\nCaf\xe9;\x8010\n");
    let report = c.convert(&csv()).unwrap();
    assert_eq!(report.encoding.as_deref(), Some("windows-1252"));
    assert_eq!(report.delimiter, Some(';'));
    assert_eq!(c.rows().1, vec![vec![s("Café"), s("€10")]]);
}

#[test]
fn csv_windows_1252_detected_after_the_sample() {
    // The only non-UTF-8 byte comes after 300 KiB: the first attempt fails late and the
    // conversion starts again as Windows-1252.
    let mut bytes = b"id,city\n".to_vec();
    let mut n = 0;
    while bytes.len() < 300 << 10 {
        n += 1;
        bytes.extend_from_slice(format!("{n},Paris\n").as_bytes());
    }
    bytes.extend_from_slice(b"999999,S\xe3o Paulo\n");
    let c = case("f.csv", &bytes);
    let report = c.convert(&csv()).unwrap();
    assert_eq!(report.encoding.as_deref(), Some("windows-1252"));
    assert_eq!(report.rows, n + 1);
    let last = c.rows().1.pop().unwrap();
    assert_eq!(last, vec![s("999999"), s("São Paulo")]);
}

#[test]
fn csv_configured_latin1_is_iso_8859_1() {
    let c = case("f.csv", b"a,b\n\xe9,\x80\n");
    let report = c
        .convert(&csv_with(|o| o.encoding = Some("latin-1".into())))
        .unwrap();
    assert_eq!(report.encoding.as_deref(), Some("latin-1"));
    assert_eq!(c.rows().1, vec![vec![s("é"), s("\u{80}")]]);
}

#[test]
fn csv_utf16le_with_bom() {
    let text = "id\tname\n1\tJürgen\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let c = case("f.csv", &bytes);
    let report = c.convert(&csv()).unwrap();
    assert_eq!(report.encoding.as_deref(), Some("utf-16le"));
    assert_eq!(report.delimiter, Some('\t'));
    assert_eq!(c.rows().1, vec![vec![s("1"), s("Jürgen")]]);
}

#[test]
fn csv_strict_utf8_reports_offset_and_line() {
    let c = case("f.csv", b"a,b\n1,ok\n2,caf\xe9\n");
    let err = bad_input(c.convert(&csv_with(|o| o.encoding = Some("utf-8".into()))));
    match &err {
        ConvertError::InvalidUtf8 { offset, line } => {
            assert_eq!((*offset, *line), (14, 3));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("byte offset 14") && msg.contains("line 3"),
        "{msg}"
    );
    c.assert_no_output();
}

#[test]
fn csv_empty_file() {
    let c = case("f.csv", b"");
    assert!(matches!(
        bad_input(c.convert(&csv())),
        ConvertError::EmptyFile
    ));
    c.assert_no_output();
}

#[test]
fn csv_header_only() {
    for bytes in [&b"a,b,c\n"[..], b"a,b,c", b"a,b,c\n\n\n"] {
        let c = case("f.csv", bytes);
        let err = bad_input(c.convert(&csv()));
        assert!(matches!(err, ConvertError::NoDataRows(_)), "{err:?}");
        assert!(err.to_string().contains("no data rows"), "{err}");
        c.assert_no_output();
    }
}

#[test]
fn csv_ragged_row_names_its_line() {
    // Line 3 holds a quoted field spanning two lines, so the bad row starts on line 5.
    let c = case("f.csv", b"a,b,c\n1,2,3\n4,\"x\ny\",6\n7,8\n9,10,11\n");
    let err = bad_input(c.convert(&csv()));
    match &err {
        ConvertError::RaggedRow {
            line,
            expected,
            found,
        } => assert_eq!((*line, *expected, *found), (5, 3, 2)),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("line 5: found 2 field(s)"),
        "{err}"
    );
    c.assert_no_output();
}

#[test]
fn csv_wrong_delimiter_is_named() {
    let c = case("f.csv", b"a;b;c\n1;2;3\n4;5;6\n");
    let err = bad_input(c.convert(&csv_with(|o| o.delimiter = Some(b','))));
    match &err {
        ConvertError::WrongDelimiter {
            configured,
            detected,
            columns,
        } => assert_eq!((*configured, *detected, *columns), (',', ';', 3)),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("set \"delimiter\" to ';'"),
        "{err}"
    );
    c.assert_no_output();
}

#[test]
fn csv_single_column_file_is_fine() {
    let c = case("f.csv", b"email\na@example.com\nb@example.com\n");
    let report = c.convert(&csv_with(|o| o.delimiter = Some(b';'))).unwrap();
    assert_eq!(report.columns, ["email"]);
    assert_eq!(report.rows, 2);
}

#[test]
fn csv_duplicate_columns_are_named() {
    let c = case("f.csv", b"id,name, id,name,x\n1,2,3,4,5\n");
    let err = bad_input(c.convert(&csv()));
    match &err {
        ConvertError::DuplicateColumns { names } => assert_eq!(names, &["id", "name"]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("\"id\", \"name\""), "{err}");
    c.assert_no_output();
}

#[test]
fn csv_binary_input_is_recognised() {
    let c = case("f.csv", b"PK\x03\x04\x14\x00\x00\x00binary");
    let err = bad_input(c.convert(&csv()));
    assert!(err.to_string().contains("ZIP"), "{err}");
}

#[test]
fn csv_many_batches_round_trip_in_order() {
    let mut text = String::from("n,square,label\n");
    for i in 0..10_000u64 {
        text.push_str(&format!("{i},{},\"row {i}\"\n", i * i));
    }
    let c = case("f.csv", text.as_bytes());
    let opts = ConvertOptions {
        batch_rows: 777,
        ..ConvertOptions::default()
    };
    assert_eq!(c.convert_with(&csv(), &opts).unwrap().rows, 10_000);
    let (_, rows) = read_all(&c.output, 1000);
    assert_eq!(rows.len(), 10_000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].as_deref(), Some(i.to_string().as_str()));
        assert_eq!(row[2].as_deref(), Some(format!("row {i}").as_str()));
    }
    let sizes: Vec<usize> = read_string_batches(&c.output, 4096)
        .unwrap()
        .map(|b| b.unwrap().rows)
        .collect();
    assert_eq!(sizes, [4096, 4096, 1808]);
}

#[test]
fn snappy_and_zstd_outputs_are_readable_and_use_their_codec() {
    use parquet::basic::Compression as Codec;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let text: String = std::iter::once("k,v\n".to_owned())
        .chain((0..500).map(|i| format!("{i},value {}\n", i % 7)))
        .collect();
    for (compression, want) in [
        (Compression::Snappy, "SNAPPY"),
        (Compression::Zstd(3), "ZSTD"),
        (Compression::Zstd(19), "ZSTD"),
    ] {
        let c = case("f.csv", text.as_bytes());
        let opts = ConvertOptions {
            compression,
            ..ConvertOptions::default()
        };
        c.convert_with(&csv(), &opts).unwrap();
        let (_, rows) = c.rows();
        assert_eq!(rows.len(), 500);
        assert_eq!(rows[499], vec![s("499"), s("value 2")]);
        let reader = SerializedFileReader::new(fs::File::open(&c.output).unwrap()).unwrap();
        let codec: Codec = reader.metadata().row_group(0).column(0).compression();
        assert!(format!("{codec:?}").starts_with(want), "{codec:?}");
    }
}

#[test]
fn output_is_replaced_atomically_and_kept_on_error() {
    let c = case("f.csv", b"a\n1\n");
    c.convert(&csv()).unwrap();
    let first = fs::read(&c.output).unwrap();
    // A failing conversion to the same path leaves the previous file untouched.
    fs::write(&c.input, b"a,b\n1\n").unwrap();
    bad_input(c.convert(&csv()));
    assert_eq!(fs::read(&c.output).unwrap(), first);
    let names: Vec<_> = fs::read_dir(c.dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "a temp file was left behind");
}

#[test]
fn invalid_options_are_config_errors() {
    let c = case("f.csv", b"a\n1\n");
    for opts in [
        ConvertOptions {
            compression: Compression::Zstd(99),
            ..ConvertOptions::default()
        },
        ConvertOptions {
            batch_rows: 0,
            ..ConvertOptions::default()
        },
    ] {
        let err = c.convert_with(&csv(), &opts).unwrap_err();
        assert!(
            err.is_config() && !err.is_bad_input() && !err.is_retryable(),
            "{err:?}"
        );
    }
    let err = c
        .convert(&csv_with(|o| o.encoding = Some("ebcdic".into())))
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    c.assert_no_output();
}

#[test]
fn missing_input_is_a_retryable_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = convert_file(
        &dir.path().join("nope.csv"),
        &csv(),
        &dir.path().join("out.parquet"),
        &ConvertOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConvertError::Io { .. }));
    assert!(!err.is_bad_input() && err.is_retryable());
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_array_union_of_keys_flattened_in_first_seen_order() {
    let c = case(
        "f.json",
        br#"[
          {"id": 1, "name": "Ann", "addr": {"city": "Jakarta", "geo": {"lat": -6.2}}},
          {"id": 2, "extra": true, "name": "", "tags": ["a", "b"], "amount": 1.10},
          {"id": 12345678901234567890123, "addr": {"city": null}, "note": "tab\there \u00e9"}
        ]"#,
    );
    let report = c.convert(&json()).unwrap();
    assert_eq!(
        report.columns,
        [
            "id",
            "name",
            "addr.city",
            "addr.geo.lat",
            "extra",
            "tags",
            "amount",
            "note"
        ]
    );
    assert_eq!(report.rows, 3);
    assert_eq!(report.delimiter, None);
    let (_, rows) = c.rows();
    assert_eq!(
        rows,
        vec![
            vec![
                s("1"),
                s("Ann"),
                s("Jakarta"),
                s("-6.2"),
                None,
                None,
                None,
                None
            ],
            vec![
                s("2"),
                None,
                None,
                None,
                s("true"),
                s(r#"["a","b"]"#),
                s("1.10"),
                None
            ],
            vec![
                s("12345678901234567890123"),
                None,
                None,
                None,
                None,
                None,
                None,
                s("tab\there é")
            ],
        ]
    );
}

#[test]
fn json_nested_kept_as_text_without_flattening() {
    let c = case("f.json", br#"[{"a": {"b": 1, "c": [1, 2]}, "d": "x"}]"#);
    let format = SourceFormat::Json(JsonOptions {
        flatten_nested: Some(false),
    });
    let report = c.convert(&format).unwrap();
    assert_eq!(report.columns, ["a", "d"]);
    assert_eq!(c.rows().1, vec![vec![s(r#"{"b":1,"c":[1,2]}"#), s("x")]]);
}

#[test]
fn ndjson_line_by_line_skipping_blank_lines() {
    let c = case(
        "f.ndjson",
        b"{\"a\":1}\n\n{\"b\":\"x\",\"a\":2}\r\n   \n{}\n",
    );
    let report = c.convert(&ndjson()).unwrap();
    assert_eq!(report.columns, ["a", "b"]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.blank_lines, 2, "counted, not lost silently");
    assert_eq!(
        c.rows().1,
        vec![vec![s("1"), None], vec![s("2"), s("x")], vec![None, None]]
    );
}

#[test]
fn json_source_type_also_reads_an_object_stream() {
    let c = case("f.json", b"\xef\xbb\xbf{\"a\":1}\n{\"a\":2,\n \"b\":3}\n");
    let report = c.convert(&json()).unwrap();
    assert_eq!(report.columns, ["a", "b"]);
    assert_eq!(report.rows, 2);
}

#[test]
fn json_array_with_a_non_object_names_the_element() {
    let c = case("f.json", b"[{\"a\":1},\n 42,\n {\"a\":3}]");
    let err = bad_input(c.convert(&json()));
    let msg = err.to_string();
    assert!(matches!(err, ConvertError::InvalidJson(_)));
    assert!(
        msg.contains("array element 2") && msg.contains("line 2"),
        "{msg}"
    );
    c.assert_no_output();
}

#[test]
fn json_truncated_array() {
    let c = case("f.json", b"[{\"a\":1},{\"a\":");
    let err = bad_input(c.convert(&json()));
    assert!(err.to_string().contains("array element 2"), "{err}");
    c.assert_no_output();
}

#[test]
fn json_trailing_garbage_after_the_array() {
    let c = case("f.json", b"[{\"a\":1}] x");
    let err = bad_input(c.convert(&json()));
    assert!(err.to_string().contains("after the array"), "{err}");
}

#[test]
fn ndjson_bad_line_is_named() {
    let c = case("f.ndjson", b"{\"a\":1}\n{\"a\":2}\n[1,2]\n");
    let err = bad_input(c.convert(&ndjson()));
    assert!(err.to_string().contains("line 3"), "{err}");

    let c = case("f.ndjson", b"{\"a\":1}\n\n{\"a\":2\n");
    let err = bad_input(c.convert(&ndjson()));
    assert!(err.to_string().contains("line 3"), "{err}");

    let c = case("f.ndjson", b"{\"a\":1}\n\"text\"\n");
    let err = bad_input(c.convert(&ndjson()));
    let msg = err.to_string();
    assert!(
        msg.contains("line 2") && msg.contains("expected a JSON object"),
        "{msg}"
    );
}

#[test]
fn ndjson_given_an_array_says_so() {
    let c = case("f.ndjson", b"[{\"a\":1}]");
    let err = bad_input(c.convert(&ndjson()));
    assert!(err.to_string().contains("source_type json"), "{err}");
}

#[test]
fn json_neither_array_nor_objects() {
    for bytes in [&b"\"just a string\""[..], b"42", b"  \n  "] {
        let c = case("f.json", bytes);
        bad_input(c.convert(&json()));
        c.assert_no_output();
    }
}

#[test]
fn json_empty_array_and_empty_file() {
    let c = case("f.json", b"[ ]");
    assert!(matches!(
        bad_input(c.convert(&json())),
        ConvertError::NoDataRows(_)
    ));
    let c = case("f.json", b"");
    assert!(matches!(
        bad_input(c.convert(&json())),
        ConvertError::EmptyFile
    ));
}

#[test]
fn json_duplicate_key_after_flattening() {
    let c = case("f.json", br#"[{"a.b": 1, "a": {"b": 2}}]"#);
    let err = bad_input(c.convert(&json()));
    let msg = err.to_string();
    assert!(
        msg.contains("\"a.b\" appears twice") && msg.contains("element 1"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- XLSX

fn workbook(build: impl FnOnce(&mut rust_xlsxwriter::Workbook)) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    build(&mut wb);
    wb.save_to_buffer().unwrap()
}

fn sample_workbook() -> Vec<u8> {
    use rust_xlsxwriter::Format;
    workbook(|wb| {
        let ws = wb.add_worksheet();
        ws.set_name("Summary").unwrap();
        ws.write(0, 0, "total").unwrap();
        ws.write(1, 0, 2).unwrap();

        let ws = wb.add_worksheet();
        ws.set_name("Data").unwrap();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (c, h) in [" id", "name", "amount", "joined", "seen at", "active"]
            .iter()
            .enumerate()
        {
            ws.write(0, c as u16, *h).unwrap();
        }
        ws.write(1, 0, 1).unwrap();
        ws.write(1, 1, "Ann").unwrap();
        ws.write(1, 2, 12.5).unwrap();
        ws.write_number_with_format(1, 3, 45943.0, &date).unwrap();
        ws.write_number_with_format(1, 4, 45943.5, &datetime)
            .unwrap();
        ws.write(1, 5, true).unwrap();
        // Row 3 (index 2) left empty on purpose; row 4 has gaps.
        ws.write(3, 0, 2).unwrap();
        ws.write(3, 2, 0.1 + 0.2).unwrap();
    })
}

fn xlsx(sheet: Option<&str>) -> SourceFormat {
    SourceFormat::Xlsx(XlsxOptions {
        sheet: sheet.map(str::to_owned),
    })
}

#[test]
fn xlsx_named_sheet_with_types_gaps_and_empty_rows() {
    let c = case("f.xlsx", &sample_workbook());
    let report = c.convert(&xlsx(Some("Data"))).unwrap();
    assert_eq!(
        report.columns,
        ["id", "name", "amount", "joined", "seen at", "active"]
    );
    assert_eq!(report.rows, 2);
    assert_eq!(report.encoding, None);
    assert_eq!(
        c.rows().1,
        vec![
            vec![
                s("1"),
                s("Ann"),
                s("12.5"),
                s("2025-10-13"),
                s("2025-10-13 12:00:00"),
                s("true")
            ],
            vec![s("2"), None, s("0.3"), None, None, None],
        ]
    );
}

#[test]
fn xlsx_first_sheet_by_default() {
    let c = case("f.xlsx", &sample_workbook());
    let report = c.convert(&xlsx(None)).unwrap();
    assert_eq!(report.columns, ["total"]);
    assert_eq!(c.rows().1, vec![vec![s("2")]]);
}

#[test]
fn xlsx_missing_sheet_lists_the_sheets() {
    let c = case("f.xlsx", &sample_workbook());
    let err = bad_input(c.convert(&xlsx(Some("Sheet1"))));
    match &err {
        ConvertError::SheetNotFound { sheet, available } => {
            assert_eq!(sheet, "Sheet1");
            assert_eq!(available, &["Summary", "Data"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("\"Summary\", \"Data\""), "{err}");
    c.assert_no_output();
}

#[test]
fn xlsx_empty_truncated_and_corrupt() {
    let c = case("f.xlsx", b"");
    assert!(matches!(
        bad_input(c.convert(&xlsx(None))),
        ConvertError::EmptyFile
    ));

    let full = sample_workbook();
    let c = case("f.xlsx", &full[..full.len() / 2]);
    let err = bad_input(c.convert(&xlsx(None)));
    assert!(matches!(err, ConvertError::InvalidWorkbook(_)), "{err:?}");
    c.assert_no_output();

    let c = case("f.xlsx", b"id,name\n1,a\n");
    let err = bad_input(c.convert(&xlsx(None)));
    assert!(err.to_string().contains("looks like text"), "{err}");

    let c = case("f.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old xls");
    let err = bad_input(c.convert(&xlsx(None)));
    assert!(err.to_string().contains(".xls"), "{err}");

    let mut zip_not_xlsx = full.clone();
    // Corrupt the middle of the archive: entries fail their CRC or do not parse.
    let mid = zip_not_xlsx.len() / 2;
    for b in &mut zip_not_xlsx[mid - 200..mid + 200] {
        *b ^= 0x5A;
    }
    let c = case("f.xlsx", &zip_not_xlsx);
    let err = bad_input(c.convert(&xlsx(Some("Data"))));
    assert!(matches!(err, ConvertError::InvalidWorkbook(_)), "{err:?}");
    c.assert_no_output();
}

#[test]
fn xlsx_header_only_duplicates_and_stray_cells() {
    let c = case(
        "f.xlsx",
        &workbook(|wb| {
            let ws = wb.add_worksheet();
            ws.write(0, 0, "a").unwrap();
            ws.write(0, 1, "b").unwrap();
        }),
    );
    assert!(matches!(
        bad_input(c.convert(&xlsx(None))),
        ConvertError::NoDataRows(_)
    ));

    let c = case(
        "f.xlsx",
        &workbook(|wb| {
            let ws = wb.add_worksheet();
            ws.write(0, 0, "a").unwrap();
            ws.write(0, 1, "a ").unwrap();
            ws.write(1, 0, 1).unwrap();
        }),
    );
    assert!(matches!(
        bad_input(c.convert(&xlsx(None))),
        ConvertError::DuplicateColumns { .. }
    ));

    // A table starting at B3, and a note in F5 outside its columns B..D.
    let c = case(
        "f.xlsx",
        &workbook(|wb| {
            let ws = wb.add_worksheet();
            for col in 1..=3u16 {
                ws.write(2, col, format!("h{col}")).unwrap();
                ws.write(3, col, col).unwrap();
            }
            ws.write(4, 1, 9).unwrap();
            ws.write(4, 5, "note").unwrap();
        }),
    );
    let err = bad_input(c.convert(&xlsx(None)));
    assert_eq!(
        err.to_string(),
        "row 5: cell F5 has a value (\"note\") outside the header's columns B..D"
    );
    c.assert_no_output();
}

#[test]
fn xlsx_table_offset_is_respected() {
    let c = case(
        "f.xlsx",
        &workbook(|wb| {
            let ws = wb.add_worksheet();
            ws.write(2, 1, "x").unwrap();
            ws.write(2, 2, "y").unwrap();
            ws.write(3, 2, "only y").unwrap();
        }),
    );
    let report = c.convert(&xlsx(None)).unwrap();
    assert_eq!(report.columns, ["x", "y"]);
    assert_eq!(c.rows().1, vec![vec![None, s("only y")]]);
}

// ---------------------------------------------------------------- configuration

#[test]
fn source_format_from_configuration() {
    let cfg = serde_json::json!({"delimiter": ";", "encoding": "latin-1", "has_header": false, "quote": "'"});
    match source_format("CSV", Some(&cfg)).unwrap() {
        SourceFormat::Csv(o) => {
            assert_eq!(o.delimiter, Some(b';'));
            assert_eq!(o.quote, Some(b'\''));
            assert_eq!(o.encoding.as_deref(), Some("latin-1"));
            assert_eq!(o.has_header, Some(false));
        }
        other => panic!("{other:?}"),
    }
    match source_format("tsv", None).unwrap() {
        SourceFormat::Csv(o) => assert_eq!(o.delimiter, Some(b'\t')),
        other => panic!("{other:?}"),
    }
    let cfg = serde_json::json!({"delimiter": "\\t"});
    assert!(matches!(
        source_format("csv", Some(&cfg)).unwrap(),
        SourceFormat::Csv(CsvOptions {
            delimiter: Some(b'\t'),
            ..
        })
    ));
    let cfg = serde_json::json!({"sheet": "Data"});
    assert!(matches!(
        source_format("xlsx", Some(&cfg)).unwrap(),
        SourceFormat::Xlsx(XlsxOptions { sheet: Some(ref s) }) if s == "Data"
    ));
    let cfg = serde_json::json!({"flatten_nested": false});
    assert!(matches!(
        source_format("ndjson", Some(&cfg)).unwrap(),
        SourceFormat::Ndjson(JsonOptions {
            flatten_nested: Some(false)
        })
    ));
    assert!(matches!(
        source_format("json", Some(&serde_json::Value::Null)).unwrap(),
        SourceFormat::Json(_)
    ));
    // null values count as absent
    let cfg = serde_json::json!({"delimiter": null});
    assert!(matches!(
        source_format("csv", Some(&cfg)).unwrap(),
        SourceFormat::Csv(CsvOptions {
            delimiter: None,
            ..
        })
    ));
}

#[test]
fn source_format_rejects_unknown_keys_and_bad_values() {
    let cases = [
        (
            "csv",
            serde_json::json!({"delimter": ";", "sheet": "x"}),
            "\"delimter\", \"sheet\"",
        ),
        ("parquet", serde_json::json!({}), "unsupported source_type"),
        (
            "csv",
            serde_json::json!({"delimiter": ";;"}),
            "\"delimiter\" must be a single",
        ),
        (
            "csv",
            serde_json::json!({"delimiter": 59}),
            "\"delimiter\" must be a one-character",
        ),
        (
            "csv",
            serde_json::json!({"encoding": "utf-32"}),
            "unsupported encoding \"utf-32\"",
        ),
        (
            "csv",
            serde_json::json!({"has_header": "yes"}),
            "\"has_header\" must be true or false",
        ),
        (
            "csv",
            serde_json::json!({"delimiter": "\"", "quote": "\""}),
            "both",
        ),
        (
            "xlsx",
            serde_json::json!({"sheet": 3}),
            "\"sheet\" must be a string",
        ),
        (
            "json",
            serde_json::json!({"flatten_nested": 1}),
            "\"flatten_nested\"",
        ),
        ("json", serde_json::json!(["a"]), "must be a JSON object"),
    ];
    for (kind, cfg, want) in cases {
        let err = source_format(kind, Some(&cfg)).unwrap_err();
        assert!(err.is_config(), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(want), "{kind} {cfg}: {msg}");
    }
}

#[test]
fn reading_back_rejects_non_parquet() {
    let c = case("f.parquet", b"not parquet at all");
    let err = read_string_batches(&c.input, 10).err().unwrap();
    assert!(matches!(err, ConvertError::InvalidParquet(_)) && err.is_bad_input());
    assert!(parquet_columns(&c.input).is_err());
}

#[test]
fn report_serializes_for_the_audit_log() {
    let c = case("f.csv", b"a|b\n1|2\n");
    let report = c.convert(&csv()).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["rows"], 1);
    assert_eq!(v["delimiter"], "|");
    assert_eq!(v["columns"], serde_json::json!(["a", "b"]));
}

#[cfg(unix)]
#[test]
fn output_gets_the_usual_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let c = case("f.csv", b"a\n1\n");
    c.convert(&csv()).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The same as `File::create` gives (0666 less the umask), not a temp file's 0600.
    let reference = c.dir.path().join("reference");
    fs::File::create(&reference).unwrap();
    assert_eq!(mode(&c.output), mode(&reference));
}

#[test]
fn api_types_can_cross_threads() {
    fn send<T: Send>(_: &T) {}
    let c = case("f.csv", b"a\n1\n");
    let report = c.convert(&csv()).unwrap();
    send(&report);
    send(&csv());
    let batches = read_string_batches(&c.output, 10).unwrap();
    send(&batches);
    let err = c
        .convert(&csv_with(|o| o.delimiter = Some(b'\n')))
        .unwrap_err();
    send(&err);
    // Errors go into anyhow / Box<dyn Error + Send + Sync> in the handlers.
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
}

/// The workbook `bytes` with its parts passed through `edit(name, content)`.
fn rezip(bytes: &[u8], edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let mut input = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..input.len() {
        let mut entry = input.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.start_file(name.as_str(), opts).unwrap();
        out.write_all(&edit(&name, content)).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A shared-strings table that declares a count it cannot hold: calamine reserved memory for
/// it up front (~24 PB for this one) and the process aborted; now the file is refused, naming
/// the part.
#[test]
fn xlsx_declaring_more_shared_strings_than_it_holds_is_refused() {
    let crafted = rezip(&sample_workbook(), |name, content| {
        if name == "xl/sharedStrings.xml" {
            String::from_utf8(content)
                .unwrap()
                .replacen("uniqueCount=\"", "uniqueCount=\"1000000000000000", 1)
                .into_bytes()
        } else {
            content
        }
    });
    let c = case("f.xlsx", &crafted);
    let msg = c.convert(&xlsx(Some("Data"))).unwrap_err().to_string();
    assert!(
        msg.contains("xl/sharedStrings.xml") && msg.contains("uniqueCount"),
        "{msg}"
    );
    // The untouched workbook still converts (its count fits).
    let c = case("g.xlsx", &rezip(&sample_workbook(), |_, content| content));
    assert_eq!(c.convert(&xlsx(Some("Data"))).unwrap().rows, 2);
}

/// Cell references outside Excel's grid (found by fuzzing: calamine computed a column of ten
/// letters with unchecked arithmetic, which overflows) are refused, naming the part and the
/// reference, before calamine reads them.
#[test]
fn xlsx_with_references_outside_excels_grid_is_refused() {
    for (from, to, shown) in [
        (
            "r=\"A1\"",
            "r=\"AAAAAAAAAA1\"",
            "cell reference \"AAAAAAAAAA1\"",
        ),
        ("r=\"B2\"", "r=\"XFE2\"", "cell reference \"XFE2\""),
        (
            "<row r=\"2\"",
            "<row r=\"1048577\"",
            "row reference \"1048577\"",
        ),
        (
            "<dimension ref=\"",
            "<dimension ref=\"C9:",
            "dimension reference \"C9:",
        ),
    ] {
        let crafted = rezip(&sample_workbook(), |name, content| {
            if name.starts_with("xl/worksheets/") {
                String::from_utf8(content)
                    .unwrap()
                    .replacen(from, to, 1)
                    .into_bytes()
            } else {
                content
            }
        });
        let c = case("f.xlsx", &crafted);
        let msg = c.convert(&xlsx(Some("Data"))).unwrap_err().to_string();
        assert!(
            msg.contains("xl/worksheets/") && msg.contains(shown) && msg.contains("Excel's grid"),
            "{from} -> {to}: {msg}"
        );
    }
}

/// A part that inflates a thousand times over is refused before anything reads it.
#[test]
fn xlsx_with_a_decompression_bomb_is_refused() {
    let crafted = rezip(&sample_workbook(), |name, mut content| {
        if name == "xl/sharedStrings.xml" {
            // 20 MB of blanks after the table compress to a few KB.
            content.extend(std::iter::repeat_n(b' ', 20 << 20));
        }
        content
    });
    let c = case("f.xlsx", &crafted);
    let msg = c.convert(&xlsx(Some("Data"))).unwrap_err().to_string();
    assert!(msg.contains("decompression bomb"), "{msg}");
}

/// One object nested 100,000 levels deep, in JSON and NDJSON: converted (flattened to the
/// limit, the rest kept as JSON text) instead of overflowing the stack and aborting.
#[test]
fn json_nested_100_000_levels_deep_converts() {
    let depth = 100_000;
    let deep = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for (name, body, format) in [
        ("deep.json", format!("[{deep}]"), json()),
        ("deep.ndjson", format!("{deep}\n"), ndjson()),
    ] {
        let c = case(name, body.as_bytes());
        let report = c.convert(&format).unwrap();
        assert_eq!(report.rows, 1, "{name}");
        assert_eq!(report.columns.len(), 1, "{name}");
        assert_eq!(
            report.columns[0].split('.').count(),
            muara_convert::MAX_FLATTEN_DEPTH + 1,
            "{name}"
        );
    }
}

/// Blank lines are skipped and counted (before the header, between records, after the last,
/// around records spanning lines), so the row ledger can put them in their own bucket.
#[test]
fn csv_blank_lines_are_skipped_and_counted() {
    for (text, rows, blank) in [
        (&b"a,b\n1,2\n"[..], 1, 0),
        (b"a,b\n1,2", 1, 0),
        (b"\n\na,b\n1,2\n\n\n3,4\n\"x\ny\",5\n\n", 3, 5),
        (b"a,b\r\n\r\n1,2\r\n\"p\r\nq\r\n\",3\r\n\r\n", 2, 2),
        (b"a,b\n1,2\n\n\n\n", 1, 3),
    ] {
        let c = case("f.csv", text);
        let report = c.convert(&csv()).unwrap();
        assert_eq!(
            (report.rows, report.blank_lines),
            (rows, blank),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
}

/// Sheet rows after the header whose cells are all empty are skipped and counted.
#[test]
fn xlsx_empty_rows_are_skipped_and_counted() {
    let bytes = workbook(|wb| {
        let ws = wb.add_worksheet();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        ws.write(0, 0, "id").unwrap();
        ws.write(1, 0, 1).unwrap();
        // Formatted but empty cells: the row is in the sheet, with nothing in it.
        ws.write_blank(2, 0, &bold).unwrap();
        ws.write_blank(3, 0, &bold).unwrap();
        ws.write(4, 0, 2).unwrap();
    });
    let c = case("f.xlsx", &bytes);
    let report = c.convert(&xlsx(None)).unwrap();
    assert_eq!((report.rows, report.blank_lines), (2, 2));
}
