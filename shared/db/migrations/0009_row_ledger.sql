-- Pipeline B: every row accounted for. One row per file and execution; each figure is counted
-- on its own at its own stage (never derived from another), so the equation between them can
-- fail:
--   rows_read (converter) = rows_parquet (Parquet footer) = rows_checked (row validation)
--     = rows_as_is + rows_nulled + rows_flagged + rows_refused
--   rows_as_is + rows_nulled + rows_flagged = rows_copied (COPY's count)
--     = rows_in_bronze (count after commit) = rows_at_finalise (count at finalise)
-- A run that does not convert (reprocessing) carries the convert figures of the run that made
-- the Parquet. `balanced` is set at finalise; false fails the file loudly.
CREATE TABLE tools.file_ledger (
    client_id          integer NOT NULL REFERENCES tools.client_reference (client_id),
    batch_id           text NOT NULL,
    physical_file_name text NOT NULL,
    execution_name     text NOT NULL,
    raw_bytes          bigint,
    raw_sha256         text,
    rows_read          bigint,
    rows_parquet       bigint,
    rows_checked       bigint,
    rows_as_is         bigint,   -- no finding
    rows_nulled        bigint,   -- policy warning: uncastable values loaded as NULL
    rows_flagged       bigint,   -- policy warning: loaded with a missing required value or a repeated key
    rows_refused       bigint,   -- policy fatal: not loaded (the file failed validation)
    rows_copied        bigint,
    rows_in_bronze     bigint,
    rows_at_finalise   bigint,
    balanced           boolean,
    problem            text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, batch_id, physical_file_name, execution_name)
);
