//! CSV/TSV → Parquet through `muara_convert::convert_file`, with the options chosen by the
//! first input byte (delimiter configured or detected, quote, encoding configured or
//! detected, header or not); the rest is the file. A successful conversion is read back and
//! must hold as many rows and columns as the report says.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use muara_convert::{
    ConvertOptions, CsvOptions, SourceFormat, convert_file, parquet_columns, parquet_rows,
};

fn dir() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let input = d.path().join("input.csv");
        let output = d.path().join("output.parquet");
        (d, input, output)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let delimiter = match sel & 0x07 {
        0 | 1 | 2 => None,
        3 => Some(b','),
        4 => Some(b';'),
        5 => Some(b'\t'),
        6 => Some(b'|'),
        _ => Some(b' '),
    };
    let quote = if sel & 0x08 != 0 { Some(b'\'') } else { None };
    let encoding = match (sel >> 4) & 0x03 {
        0 => None,
        1 => Some("utf-8".to_owned()),
        2 => Some("latin-1".to_owned()),
        _ => Some("windows-1252".to_owned()),
    };
    let has_header = if sel & 0x40 != 0 { Some(false) } else { None };
    let format = SourceFormat::Csv(CsvOptions {
        delimiter,
        quote,
        encoding,
        has_header,
    });
    // Small batches so the sink's batch boundaries are crossed by small inputs too.
    let opts = ConvertOptions {
        batch_rows: if sel & 0x80 != 0 { 1 } else { 8192 },
        ..ConvertOptions::default()
    };
    let (_, input, output) = dir();
    std::fs::write(input, body).expect("write input");
    if let Ok(report) = convert_file(input, &format, output, &opts) {
        assert_eq!(parquet_rows(output).expect("read back rows"), report.rows);
        assert_eq!(
            parquet_columns(output).expect("read back columns"),
            report.columns
        );
    }
});
