-- Pipeline A, recording migration: one row per migrated call, its audio verified in the lake
-- (idempotent by call id), the agent runs
-- whose reports reached the lake (with their failures, for the digest and the console), and
-- sidecars the indexer could not use.

CREATE SCHEMA IF NOT EXISTS recordings;

CREATE TABLE recordings.recording (
    call_id         text PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    duration_ms     bigint NOT NULL,
    agent_id        text,
    agent_name      text,
    extension       text,
    caller          text,
    callee          text,
    -- Digits only, so +62 812-3456 and 628123456 find the same call.
    caller_digits   text GENERATED ALWAYS AS (nullif(regexp_replace(caller, '\D', '', 'g'), '')) STORED,
    callee_digits   text GENERATED ALWAYS AS (nullif(regexp_replace(callee, '\D', '', 'g'), '')) STORED,
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal', 'unknown')),
    queue           text,
    custom          jsonb NOT NULL DEFAULT '{}',
    audio_key       text NOT NULL,
    audio_size      bigint NOT NULL,
    audio_sha256    text NOT NULL,
    audio_checksum  text NOT NULL,
    codec           text NOT NULL,
    sample_rate     integer NOT NULL,
    channels        smallint NOT NULL,
    audio_ms        bigint NOT NULL,
    sidecar_key     text NOT NULL,
    source_host     text NOT NULL,
    source_path     text NOT NULL,
    uploaded_at     timestamptz NOT NULL,
    indexed_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recording_started ON recordings.recording (started_at DESC, call_id DESC);
CREATE INDEX recording_agent ON recordings.recording (agent_id, started_at DESC);
CREATE INDEX recording_caller ON recordings.recording (caller_digits, started_at DESC);
CREATE INDEX recording_callee ON recordings.recording (callee_digits, started_at DESC);
CREATE INDEX recording_direction ON recordings.recording (direction, started_at DESC);

-- One row per agent run report; the digest mail is claimed, then marked sent.
CREATE TABLE recordings.agent_run (
    report_key       text PRIMARY KEY,
    host             text NOT NULL,
    run_id           text NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    counts           jsonb NOT NULL,
    failures         integer NOT NULL,
    report           jsonb NOT NULL,
    digest_claimed_at timestamptz,
    digest_sent_at   timestamptz,
    digest_message_id text,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_run_host ON recordings.agent_run (host, started_at DESC);

-- Sidecars that could not be indexed (unreadable, audio missing or different, a call id
-- already indexed with other audio), with the reason.
CREATE TABLE recordings.index_error (
    sidecar_key  text NOT NULL,
    call_id      text,
    reason       text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sidecar_key, reason)
);
