-- The `tools` schema: control tables and audit logs of the manifest-driven batch pipeline.
-- Names keep the original system's, so its operators and SQL keep working.

CREATE SCHEMA IF NOT EXISTS tools;

-- One row per client; last_batch_id is advanced atomically when a batch starts.
CREATE TABLE tools.client_reference (
    client_id      serial PRIMARY KEY,
    client_schema  text NOT NULL UNIQUE CHECK (client_schema ~ '^[a-z][a-z0-9_]{0,62}$'),
    last_batch_id  integer NOT NULL DEFAULT 0 CHECK (last_batch_id >= 0),
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Which incoming files a client sends, and where each one lands.
CREATE TABLE tools.client_config (
    config_id            serial PRIMARY KEY,
    client_id            integer NOT NULL REFERENCES tools.client_reference (client_id) ON DELETE CASCADE,
    logical_source_file  text NOT NULL,
    source_system        text NOT NULL,
    source_type          text NOT NULL CHECK (source_type IN ('csv', 'xlsx', 'json', 'ndjson')),
    target_schema        text NOT NULL,
    target_table         text NOT NULL,
    source_config        jsonb,
    row_validation_policy text NOT NULL DEFAULT 'fatal' CHECK (row_validation_policy IN ('fatal', 'warning')),
    is_active            boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, source_system, logical_source_file)
);

CREATE TABLE tools.column_mapping (
    mapping_id          serial PRIMARY KEY,
    config_id           integer NOT NULL REFERENCES tools.client_config (config_id) ON DELETE CASCADE,
    source_column       text NOT NULL,
    target_column       text NOT NULL,
    target_data_type    text,
    ordinal             integer,
    UNIQUE (config_id, source_column),
    UNIQUE (config_id, target_column)
);

CREATE TABLE tools.required_columns (
    required_id     serial PRIMARY KEY,
    config_id       integer NOT NULL REFERENCES tools.client_config (config_id) ON DELETE CASCADE,
    column_name     text NOT NULL,
    is_key          boolean NOT NULL DEFAULT false,
    UNIQUE (config_id, column_name)
);

CREATE TABLE tools.transformation_config (
    transformation_id  serial PRIMARY KEY,
    client_id          integer NOT NULL REFERENCES tools.client_reference (client_id) ON DELETE CASCADE,
    procedure_name     text NOT NULL,
    execution_order    integer NOT NULL DEFAULT 0,
    is_active          boolean NOT NULL DEFAULT true,
    UNIQUE (client_id, procedure_name)
);

CREATE TABLE tools.integration_config (
    integration_id     serial PRIMARY KEY,
    client_id          integer NOT NULL REFERENCES tools.client_reference (client_id) ON DELETE CASCADE,
    procedure_name     text NOT NULL,
    integration_type   text NOT NULL DEFAULT 'fact' CHECK (integration_type IN ('dimension', 'fact', 'other')),
    execution_order    integer NOT NULL DEFAULT 0,
    is_active          boolean NOT NULL DEFAULT true,
    UNIQUE (client_id, procedure_name)
);

CREATE TABLE tools.integration_dependencies (
    integration_id     integer NOT NULL REFERENCES tools.integration_config (integration_id) ON DELETE CASCADE,
    depends_on_id      integer NOT NULL REFERENCES tools.integration_config (integration_id) ON DELETE CASCADE,
    PRIMARY KEY (integration_id, depends_on_id),
    CHECK (integration_id <> depends_on_id)
);

CREATE TABLE tools.mv_refresh_config (
    mv_id              serial PRIMARY KEY,
    client_id          integer NOT NULL REFERENCES tools.client_reference (client_id) ON DELETE CASCADE,
    mv_name            text NOT NULL,
    refresh_order      integer NOT NULL DEFAULT 0,
    refresh_concurrently boolean NOT NULL DEFAULT false,
    is_active          boolean NOT NULL DEFAULT true,
    UNIQUE (client_id, mv_name)
);

-- Audit: one row per file per batch.
CREATE TABLE tools.file_audit_log (
    audit_id                   bigserial PRIMARY KEY,
    client_id                  integer NOT NULL REFERENCES tools.client_reference (client_id),
    batch_id                   text NOT NULL,
    physical_file_name         text NOT NULL,
    logical_source_file        text,
    source_system              text,
    parquet_name               text,
    convert_status             text,
    mapping_validation_status  text,
    row_validation_status      text,
    load_status                text,
    total_rows                 bigint,
    error_message              text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, batch_id, physical_file_name)
);

-- Audit: one row per execution of a batch (start, restart, reprocessing).
CREATE TABLE tools.job_execution_log (
    job_id          bigserial PRIMARY KEY,
    client_id       integer NOT NULL REFERENCES tools.client_reference (client_id),
    batch_id        text NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('start', 'restart', 'reprocessing')),
    execution_name  text,
    status          text NOT NULL DEFAULT 'RUNNING',
    error_message   text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX job_execution_log_client_batch ON tools.job_execution_log (client_id, batch_id);
CREATE INDEX job_execution_log_started ON tools.job_execution_log (started_at);

CREATE TABLE tools.mapping_validation_log (
    log_id             bigserial PRIMARY KEY,
    client_id          integer NOT NULL,
    batch_id           text NOT NULL,
    physical_file_name text NOT NULL,
    status             text NOT NULL,
    missing_columns    text[] NOT NULL DEFAULT '{}',
    extra_columns      text[] NOT NULL DEFAULT '{}',
    message            text,
    logged_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tools.row_validation_log (
    log_id             bigserial PRIMARY KEY,
    client_id          integer NOT NULL,
    batch_id           text NOT NULL,
    physical_file_name text NOT NULL,
    rule               text NOT NULL,
    column_name        text,
    failed_rows        bigint NOT NULL DEFAULT 0,
    severity           text NOT NULL CHECK (severity IN ('fatal', 'warning')),
    sample             jsonb,
    logged_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tools.load_error_log (
    log_id             bigserial PRIMARY KEY,
    client_id          integer NOT NULL,
    batch_id           text NOT NULL,
    physical_file_name text NOT NULL,
    target_table       text,
    error_message      text NOT NULL,
    logged_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tools.transformation_log (
    log_id          bigserial PRIMARY KEY,
    client_id       integer NOT NULL,
    batch_id        text NOT NULL,
    procedure_name  text NOT NULL,
    status          text NOT NULL,
    rows_affected   bigint,
    error_message   text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    duration_ms     bigint
);

CREATE TABLE tools.integration_log (
    log_id          bigserial PRIMARY KEY,
    client_id       integer NOT NULL,
    batch_id        text NOT NULL,
    procedure_name  text NOT NULL,
    status          text NOT NULL,
    rows_affected   bigint,
    error_message   text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    duration_ms     bigint
);

CREATE TABLE tools.mv_refresh_log (
    log_id          bigserial PRIMARY KEY,
    client_id       integer NOT NULL,
    batch_id        text NOT NULL,
    mv_name         text NOT NULL,
    status          text NOT NULL,
    error_message   text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    duration_ms     bigint
);

CREATE INDEX transformation_log_batch ON tools.transformation_log (client_id, batch_id);
CREATE INDEX integration_log_batch ON tools.integration_log (client_id, batch_id);
CREATE INDEX mv_refresh_log_batch ON tools.mv_refresh_log (client_id, batch_id);
