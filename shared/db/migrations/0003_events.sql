-- Pipeline C, the event aggregator: stored events (the primary key is the final arbiter of
-- exactly-once), counters kept in the same transactions that store events, active topics, and
-- the queue messages already applied (a redelivered message is applied once).

CREATE SCHEMA IF NOT EXISTS events;

CREATE TABLE events.event (
    topic         text NOT NULL,
    event_id      text NOT NULL,
    ts            timestamptz NOT NULL,
    source        text NOT NULL,
    payload       jsonb NOT NULL,
    payload_hash  text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);
-- Newest first, with a stable tie-break, overall and per topic (keyset pagination).
CREATE INDEX event_newest ON events.event (ts DESC, topic DESC, event_id DESC);
CREATE INDEX event_topic_newest ON events.event (topic, ts DESC, event_id DESC);

-- Counters, sharded so concurrent workers do not queue on one row; a read sums the shards.
CREATE TABLE events.counter (
    name   text NOT NULL,
    shard  smallint NOT NULL,
    value  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);

CREATE TABLE events.topic (
    topic          text PRIMARY KEY,
    events         bigint NOT NULL DEFAULT 0,
    last_event_at  timestamptz
);

-- Events stored per minute (recent throughput).
CREATE TABLE events.throughput (
    minute  timestamptz NOT NULL,
    shard   smallint NOT NULL,
    stored  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, shard)
);

CREATE TABLE events.applied_message (
    message_id  text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applied_message_at ON events.applied_message (applied_at);
