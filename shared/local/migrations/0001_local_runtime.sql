-- Tables behind the local adapters of `muara up`: the queue, locks and idempotency records,
-- state machine executions and the lake watcher's memory. Never created in AWS.

CREATE SCHEMA IF NOT EXISTS muara_local;

CREATE TABLE muara_local.queues (
    name                  text PRIMARY KEY,
    visibility_timeout_ms bigint NOT NULL CHECK (visibility_timeout_ms >= 0),
    max_receives          integer CHECK (max_receives > 0),
    dead_letter_queue     text REFERENCES muara_local.queues (name),
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((max_receives IS NULL) = (dead_letter_queue IS NULL))
);

CREATE TABLE muara_local.messages (
    id            uuid PRIMARY KEY,
    queue         text NOT NULL REFERENCES muara_local.queues (name) ON DELETE CASCADE,
    body          text NOT NULL,
    attributes    jsonb NOT NULL DEFAULT '{}',
    sent_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    visible_at    timestamptz NOT NULL,
    receive_count integer NOT NULL DEFAULT 0,
    receipt       uuid
);
CREATE INDEX messages_ready ON muara_local.messages (queue, visible_at, sent_at);
CREATE UNIQUE INDEX messages_receipt ON muara_local.messages (receipt) WHERE receipt IS NOT NULL;

CREATE TABLE muara_local.locks (
    key        text PRIMARY KEY,
    owner      text NOT NULL,
    token      uuid NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE muara_local.idempotency (
    key          text PRIMARY KEY,
    state        text NOT NULL CHECK (state IN ('in_progress', 'completed')),
    payload_hash text NOT NULL,
    result       jsonb,
    expires_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_expiry ON muara_local.idempotency (expires_at);

CREATE TABLE muara_local.executions (
    execution_id text PRIMARY KEY,
    machine      text NOT NULL,
    name         text NOT NULL,
    input        jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
    output       jsonb,
    error        text,
    cause        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz,
    UNIQUE (machine, name)
);

-- What the lake watcher has already announced, so a restart does not announce it again.
CREATE TABLE muara_local.lake_objects (
    key        text PRIMARY KEY,
    size       bigint NOT NULL,
    mtime_ns   bigint NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now()
);
