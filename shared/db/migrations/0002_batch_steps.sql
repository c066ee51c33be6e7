-- Pipeline B part 2: configured SQL steps (bronze -> silver -> gold, materialised views), their
-- logs per execution, refresh-only runs, and the failure mail outbox.

-- A step is a procedure (CALL name(batch_id)), a function (SELECT name(batch_id)) or SQL text
-- (run as a script; it reads the batch id from current_setting('muara.batch_id')).
ALTER TABLE tools.transformation_config
    ADD COLUMN step_kind text NOT NULL DEFAULT 'procedure' CHECK (step_kind IN ('procedure', 'function', 'sql')),
    ADD COLUMN sql_text text,
    ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 900 CHECK (timeout_seconds BETWEEN 1 AND 86400),
    ADD CONSTRAINT transformation_config_sql_text CHECK ((step_kind = 'sql') = (sql_text IS NOT NULL));

ALTER TABLE tools.integration_config
    ADD COLUMN step_kind text NOT NULL DEFAULT 'procedure' CHECK (step_kind IN ('procedure', 'function', 'sql')),
    ADD COLUMN sql_text text,
    ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 900 CHECK (timeout_seconds BETWEEN 1 AND 86400),
    ADD CONSTRAINT integration_config_sql_text CHECK ((step_kind = 'sql') = (sql_text IS NOT NULL));

ALTER TABLE tools.mv_refresh_config
    ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 900 CHECK (timeout_seconds BETWEEN 1 AND 86400);

-- Which execution ran a step: a retried stage skips what this execution already finished.
ALTER TABLE tools.transformation_log ADD COLUMN execution_name text;
ALTER TABLE tools.integration_log ADD COLUMN execution_name text;
ALTER TABLE tools.mv_refresh_log ADD COLUMN execution_name text;
CREATE INDEX transformation_log_execution ON tools.transformation_log (execution_name);
CREATE INDEX integration_log_execution ON tools.integration_log (execution_name);
CREATE INDEX mv_refresh_log_execution ON tools.mv_refresh_log (execution_name);
CREATE INDEX transformation_log_started ON tools.transformation_log (started_at);
CREATE INDEX integration_log_started ON tools.integration_log (started_at);
CREATE INDEX mv_refresh_log_started ON tools.mv_refresh_log (started_at);
CREATE INDEX mapping_validation_log_logged ON tools.mapping_validation_log (logged_at);
CREATE INDEX row_validation_log_logged ON tools.row_validation_log (logged_at);
CREATE INDEX load_error_log_logged ON tools.load_error_log (logged_at);
CREATE INDEX file_audit_log_batch ON tools.file_audit_log (client_id, batch_id);

-- `refresh`: re-run only the SQL steps (transform, integrate, refresh views) of a batch.
ALTER TABLE tools.job_execution_log DROP CONSTRAINT job_execution_log_mode_check;
ALTER TABLE tools.job_execution_log
    ADD CONSTRAINT job_execution_log_mode_check CHECK (mode IN ('start', 'restart', 'reprocessing', 'refresh'));
ALTER TABLE tools.job_execution_log ADD CONSTRAINT job_execution_log_execution_name UNIQUE (execution_name);

-- One mail per failed or partially failed execution, written before it is sent: a mail
-- service that is down delays the mail, never loses it (housekeeping sends what is pending).
CREATE TABLE tools.batch_notification (
    notification_id  bigserial PRIMARY KEY,
    client_id        integer NOT NULL,
    batch_id         text NOT NULL,
    execution_name   text NOT NULL UNIQUE,
    recipients       text[] NOT NULL,
    sender           text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    -- FAILED: given up after many attempts (logged as an error).
    status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    message_id       text,
    -- When the next attempt is due: a sender claims a row by moving it ahead (so finalise and
    -- housekeeping never send it twice); a failed attempt moves it by backoff.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX batch_notification_due ON tools.batch_notification (next_attempt_at) WHERE status = 'PENDING';
