//! The Parquet side of every conversion: rows of optional text go into Arrow string
//! builders, full batches go to a writer thread, and the file appears at its final path only
//! when it is complete.
//!
//! Memory is bounded by: the batch being built (`batch_rows` rows or [`MAX_BATCH_BYTES`],
//! whichever comes first), one batch in the channel, one being encoded, and the row group the
//! Parquet writer buffers (at most [`MAX_ROW_GROUP_BYTES`] encoded). Parsing and Parquet
//! encoding run on two threads because each takes about half the time; on a one-vCPU Lambda
//! this costs nothing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tempfile::NamedTempFile;

use crate::{Compression, ConvertError, ConvertOptions};

/// A batch is handed over early when its text reaches this size, so that rows of very long
/// fields cannot make `batch_rows` rows arbitrarily large.
pub(crate) const MAX_BATCH_BYTES: usize = 32 << 20;

/// Row groups are closed at this estimated encoded size (and at parquet's default of
/// 1 Mi rows): the writer buffers a whole row group before it writes it.
pub(crate) const MAX_ROW_GROUP_BYTES: usize = 128 << 20;

/// More columns than this is almost certainly a JSON source with data in its keys; refuse it
/// rather than build an unusable (and memory-hungry) schema.
pub(crate) const MAX_COLUMNS: usize = 16_384;

enum Msg {
    Batch(RecordBatch),
    Finish,
}

/// Collects rows and writes them as an all-`Utf8` Parquet file, atomically.
pub(crate) struct ParquetSink {
    columns: Vec<String>,
    schema: SchemaRef,
    builders: Vec<StringBuilder>,
    batch_rows: usize,
    rows_in_batch: usize,
    bytes_in_batch: usize,
    total_rows: u64,
    /// The row being built: values appended so far (checked against the column count).
    values_in_row: usize,
    tx: Option<SyncSender<Msg>>,
    worker: Option<JoinHandle<Result<(), ConvertError>>>,
    /// Deleted on drop unless persisted: an error anywhere leaves no partial output behind.
    temp: Option<NamedTempFile>,
    output: PathBuf,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("columns", &self.columns.len())
            .field("total_rows", &self.total_rows)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl ParquetSink {
    /// Creates the temp file next to `output` (same file system, so the final rename is
    /// atomic) and starts the writer thread.
    pub(crate) fn create(
        output: &Path,
        columns: Vec<String>,
        opts: &ConvertOptions,
    ) -> Result<Self, ConvertError> {
        if columns.is_empty() {
            return Err(ConvertError::Malformed("the file has no columns".into()));
        }
        if columns.len() > MAX_COLUMNS {
            return Err(ConvertError::Malformed(format!(
                "the file has {} columns, more than the {MAX_COLUMNS} supported",
                columns.len()
            )));
        }
        let props = writer_properties(opts)?;
        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(c.as_str(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));

        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(
            ".{}.",
            output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "output".into())
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Temp files are created 0600; the output should get the usual mode, like
        // `File::create` (0666 less the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder
            .tempfile_in(&dir)
            .map_err(|e| ConvertError::io("create a temp file in", &dir, e))?;
        let file = temp
            .as_file()
            .try_clone()
            .map_err(|e| ConvertError::io("open", temp.path(), e))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| ConvertError::Write(e.to_string()))?;

        // Capacity 1: the parser may run one batch ahead of the encoder, no more.
        let (tx, rx) = sync_channel::<Msg>(1);
        let worker = std::thread::Builder::new()
            .name("muara-parquet-writer".into())
            .spawn(move || write_loop(writer, rx))
            .map_err(|e| ConvertError::io("start the writer thread for", output, e))?;

        let builders = columns.iter().map(|_| StringBuilder::new()).collect();
        Ok(ParquetSink {
            columns,
            schema,
            builders,
            batch_rows: opts.batch_rows,
            rows_in_batch: 0,
            bytes_in_batch: 0,
            total_rows: 0,
            values_in_row: 0,
            tx: Some(tx),
            worker: Some(worker),
            temp: Some(temp),
            output: output.to_path_buf(),
        })
    }

    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    pub(crate) fn rows(&self) -> u64 {
        self.total_rows
    }

    /// Appends the next column's value of the current row; an empty text becomes NULL.
    #[inline]
    pub(crate) fn push(&mut self, value: Option<&str>) {
        let col = self.values_in_row;
        if let Some(builder) = self.builders.get_mut(col) {
            match value {
                Some(v) if !v.is_empty() => {
                    builder.append_value(v);
                    self.bytes_in_batch += v.len();
                }
                _ => builder.append_null(),
            }
        }
        self.values_in_row += 1;
    }

    /// Closes the current row (which must have one value per column) and hands the batch to
    /// the writer when it is full.
    pub(crate) fn end_row(&mut self) -> Result<(), ConvertError> {
        if self.values_in_row != self.columns.len() {
            // A bug in a reader, not in the file: the readers check widths before pushing.
            return Err(ConvertError::Write(format!(
                "internal error: row {} has {} values for {} columns",
                self.total_rows + 1,
                self.values_in_row,
                self.columns.len()
            )));
        }
        self.values_in_row = 0;
        self.rows_in_batch += 1;
        self.total_rows += 1;
        if self.rows_in_batch >= self.batch_rows || self.bytes_in_batch >= MAX_BATCH_BYTES {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), ConvertError> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| ConvertError::Write(e.to_string()))?;
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        self.send(Msg::Batch(batch))
    }

    fn send(&mut self, msg: Msg) -> Result<(), ConvertError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(msg).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        // The writer stopped: its own error is the one worth reporting.
        self.tx = None;
        Err(self.join_worker().err().unwrap_or_else(|| {
            ConvertError::Write("the Parquet writer thread stopped unexpectedly".into())
        }))
    }

    fn join_worker(&mut self) -> Result<(), ConvertError> {
        match self.worker.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(ConvertError::Write(
                    "the Parquet writer thread panicked".into(),
                ))
            }),
            None => Ok(()),
        }
    }

    /// Writes the last batch and the footer, syncs, and renames the temp file to the output
    /// path. Returns the output's size in bytes.
    pub(crate) fn finish(mut self) -> Result<u64, ConvertError> {
        self.flush_batch()?;
        self.send(Msg::Finish)?;
        self.tx = None;
        self.join_worker()?;
        let temp = self
            .temp
            .take()
            .ok_or_else(|| ConvertError::Write("internal error: temp file already taken".into()))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| ConvertError::io("sync", temp.path(), e))?;
        let size = temp
            .as_file()
            .metadata()
            .map_err(|e| ConvertError::io("stat", temp.path(), e))?
            .len();
        temp.persist(&self.output)
            .map_err(|e| ConvertError::io("rename the temp file to", &self.output, e.error))?;
        // Make the rename itself durable; best effort (not every file system supports it).
        if let Some(dir) = self.output.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(size)
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        // Without a Finish message the writer thread stops without writing a footer; wait for
        // it so that the temp file is closed before `NamedTempFile` deletes it.
        self.tx = None;
        let _ = self.join_worker();
    }
}

fn write_loop(mut writer: ArrowWriter<File>, rx: Receiver<Msg>) -> Result<(), ConvertError> {
    for msg in rx {
        match msg {
            Msg::Batch(batch) => writer
                .write(&batch)
                .map_err(|e| ConvertError::Write(e.to_string()))?,
            Msg::Finish => {
                writer
                    .close()
                    .map_err(|e| ConvertError::Write(e.to_string()))?;
                return Ok(());
            }
        }
    }
    // Sender dropped without Finish: the conversion failed; nothing more to write.
    Ok(())
}

fn writer_properties(opts: &ConvertOptions) -> Result<WriterProperties, ConvertError> {
    if opts.batch_rows == 0 {
        return Err(ConvertError::Config("batch_rows must be at least 1".into()));
    }
    let compression = match opts.compression {
        Compression::Snappy => PqCompression::SNAPPY,
        Compression::Zstd(level) => {
            PqCompression::ZSTD(ZstdLevel::try_new(level).map_err(|_| {
                ConvertError::Config(format!("zstd level {level} is out of range 1..=22"))
            })?)
        }
    };
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(format!("muara-convert {}", env!("CARGO_PKG_VERSION")))
        .build())
}

/// Trims surrounding whitespace and a stray BOM from header names, names empty ones
/// `column_N` (1-based position) and rejects duplicates.
pub(crate) fn normalize_header(raw: Vec<String>) -> Result<Vec<String>, ConvertError> {
    let names: Vec<String> = raw
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let trimmed = name.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if trimmed.is_empty() {
                format!("column_{}", i + 1)
            } else {
                trimmed.to_owned()
            }
        })
        .collect();
    check_duplicates(&names)?;
    Ok(names)
}

pub(crate) fn check_duplicates(names: &[String]) -> Result<(), ConvertError> {
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    let mut dups: Vec<String> = Vec::new();
    for n in names {
        if !seen.insert(n.as_str()) && !dups.contains(n) {
            dups.push(n.clone());
        }
    }
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ConvertError::DuplicateColumns { names: dups })
    }
}
