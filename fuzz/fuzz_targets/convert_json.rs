//! JSON (array / object stream) and NDJSON → Parquet through `muara_convert::convert_file`;
//! the first input byte picks JSON or NDJSON and whether nested objects are flattened, the
//! rest is the file. A successful conversion is read back and must match the report.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use muara_convert::{
    ConvertOptions, JsonOptions, SourceFormat, convert_file, parquet_columns, parquet_rows,
};

fn dir() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let input = d.path().join("input.json");
        let output = d.path().join("output.parquet");
        (d, input, output)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let opts = JsonOptions {
        flatten_nested: match (sel >> 1) & 0x03 {
            0 | 1 => None,
            2 => Some(true),
            _ => Some(false),
        },
    };
    let format = if sel & 0x01 == 0 {
        SourceFormat::Json(opts)
    } else {
        SourceFormat::Ndjson(opts)
    };
    let copts = ConvertOptions {
        batch_rows: if sel & 0x80 != 0 { 1 } else { 8192 },
        ..ConvertOptions::default()
    };
    let (_, input, output) = dir();
    std::fs::write(input, body).expect("write input");
    if let Ok(report) = convert_file(input, &format, output, &copts) {
        assert_eq!(parquet_rows(output).expect("read back rows"), report.rows);
        assert_eq!(
            parquet_columns(output).expect("read back columns"),
            report.columns
        );
    }
});
