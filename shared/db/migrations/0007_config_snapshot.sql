-- The configuration a batch execution runs with: its files' column mappings and required
-- columns, copied when the execution starts (in one snapshot), so an edit made while it runs
-- applies to the next run. Housekeeping removes copies past the retention age.
CREATE TABLE tools.config_snapshot (
    execution_name  text NOT NULL,
    config_id       integer NOT NULL,
    mapping         jsonb NOT NULL,
    required        jsonb NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_name, config_id)
);
CREATE INDEX config_snapshot_taken ON tools.config_snapshot (taken_at);
