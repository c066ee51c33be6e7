-- Pipeline B's row ledger: blank lines (CSV, NDJSON) and empty sheet rows (XLSX) the converter
-- skipped, counted by the converter as their own bucket. They hold no data, are not in the
-- Parquet and are not part of the equation; showing them means none is skipped silently.
ALTER TABLE tools.file_ledger ADD COLUMN rows_blank bigint;
