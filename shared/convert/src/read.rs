//! Reading Parquet back as strings, for the stages after conversion (mapping validation, row
//! validation, bronze load), so that they need neither Arrow nor Parquet themselves.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::ConvertError;

/// A batch of rows, every value as optional text, column-major: `values[c][r]` is column
/// `columns[c]` of row `r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringBatch {
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Number of rows in this batch.
    pub rows: usize,
    /// One vector per column, each `rows` long; `None` is NULL.
    pub values: Vec<Vec<Option<String>>>,
}

/// The column names of a Parquet file, in order, read from its footer only.
pub fn parquet_columns(path: &Path) -> Result<Vec<String>, ConvertError> {
    let builder = open(path)?;
    Ok(builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// The number of rows a Parquet file holds, as its footer says (no data is read).
pub fn parquet_rows(path: &Path) -> Result<u64, ConvertError> {
    let rows = open(path)?.metadata().file_metadata().num_rows();
    u64::try_from(rows)
        .map_err(|_| ConvertError::InvalidParquet(format!("a negative row count ({rows})")))
}

/// Reads a Parquet file whose columns are all text (what [`crate::convert_file`] writes; also
/// `LargeUtf8`/`Utf8View` from other writers) in batches of at most `batch_rows` rows.
/// Memory is bounded by one batch (and one row group's pages being decoded).
pub fn read_string_batches(
    path: &Path,
    batch_rows: usize,
) -> Result<impl Iterator<Item = Result<StringBatch, ConvertError>>, ConvertError> {
    if batch_rows == 0 {
        return Err(ConvertError::Config("batch_rows must be at least 1".into()));
    }
    let builder = open(path)?;
    let columns: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // Refuse other types up front rather than in the middle of a load.
    for field in builder.schema().fields() {
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return Err(ConvertError::InvalidParquet(format!(
                "column {:?} has type {}, but only text columns are supported",
                field.name(),
                field.data_type()
            )));
        }
    }
    let reader = builder
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| ConvertError::InvalidParquet(e.to_string()))?;
    Ok(Batches { reader, columns })
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ConvertError> {
    let file = File::open(path).map_err(|e| ConvertError::io("open", path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ConvertError::InvalidParquet(e.to_string()))
}

struct Batches {
    reader: ParquetRecordBatchReader,
    columns: Vec<String>,
}

impl Iterator for Batches {
    type Item = Result<StringBatch, ConvertError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(
            batch
                .map_err(|e| ConvertError::InvalidParquet(e.to_string()))
                .and_then(|b| to_strings(&b, &self.columns)),
        )
    }
}

fn to_strings(batch: &RecordBatch, columns: &[String]) -> Result<StringBatch, ConvertError> {
    let values = batch
        .columns()
        .iter()
        .zip(columns)
        .map(|(array, name)| {
            let collect = |it: &mut dyn Iterator<Item = Option<&str>>| {
                it.map(|v| v.map(str::to_owned)).collect::<Vec<_>>()
            };
            match array.data_type() {
                DataType::Utf8 => Ok(collect(&mut array.as_string::<i32>().iter())),
                DataType::LargeUtf8 => Ok(collect(&mut array.as_string::<i64>().iter())),
                DataType::Utf8View => Ok(collect(&mut array.as_string_view().iter())),
                other => Err(ConvertError::InvalidParquet(format!(
                    "column {name:?} has type {other}, but only text columns are supported"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StringBatch {
        columns: columns.to_vec(),
        rows: batch.num_rows(),
        values,
    })
}
