//! XLSX → Parquet through `muara_convert::convert_file` (the `check_parts` pre-check, then
//! calamine's streaming cell reader); the whole input is the workbook, the first sheet is
//! converted. A successful conversion is read back and must match the report.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use muara_convert::{
    ConvertOptions, SourceFormat, XlsxOptions, convert_file, parquet_columns, parquet_rows,
};

fn dir() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let input = d.path().join("input.xlsx");
        let output = d.path().join("output.parquet");
        (d, input, output)
    })
}

fuzz_target!(|data: &[u8]| {
    let format = SourceFormat::Xlsx(XlsxOptions::default());
    let (_, input, output) = dir();
    std::fs::write(input, data).expect("write input");
    if let Ok(report) = convert_file(input, &format, output, &ConvertOptions::default()) {
        assert_eq!(parquet_rows(output).expect("read back rows"), report.rows);
        assert_eq!(
            parquet_columns(output).expect("read back columns"),
            report.columns
        );
    }
});
