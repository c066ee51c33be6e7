-- Pipeline D, the message funnel: every processed message once (its id is the arbiter), one
-- row per phone number built from them in any order, the keyword lists the classifier uses and
-- their sync history, what could not be used, and the counters behind the metrics.

CREATE SCHEMA IF NOT EXISTS funnel;

CREATE TABLE funnel.message (
    message_id    text PRIMARY KEY,
    channel       text NOT NULL,
    phone         text NOT NULL,
    sent_at       timestamptz NOT NULL,
    kind          text CHECK (kind IN ('opening', 'booking', 'transaction')),
    keyword       text,
    amount        bigint,
    campaign      text,
    raw_key       text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_phone ON funnel.message (phone, sent_at);

-- One row per phone number. Every column is a minimum, a maximum or a sum over the phone's
-- messages (with the message id breaking ties), so arrival order cannot change it.
CREATE TABLE funnel.lead (
    phone                  text PRIMARY KEY,
    leads_date             timestamptz,          -- first opening
    channel                text,                 -- its channel (first touch)
    first_message_id       text,
    last_opening_at        timestamptz,
    last_channel           text,                 -- channel of the latest opening (last touch)
    last_message_id        text,
    booking_date           timestamptz,          -- first booking
    transaction_date       timestamptz,          -- first transaction
    last_transaction_date  timestamptz,
    transaction_value      bigint NOT NULL DEFAULT 0,   -- rupiah, summed over transactions
    transaction_count      integer NOT NULL DEFAULT 0,
    messages               integer NOT NULL DEFAULT 0,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_leads_date ON funnel.lead (leads_date, channel);

CREATE TABLE funnel.keyword (
    kind     text NOT NULL CHECK (kind IN ('opening', 'booking', 'transaction')),
    keyword  text NOT NULL,
    channel  text,
    source   text NOT NULL DEFAULT 'api'
);
CREATE UNIQUE INDEX keyword_unique ON funnel.keyword (kind, lower(keyword), coalesce(lower(channel), ''));

CREATE TABLE funnel.keyword_sync (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    source    text NOT NULL,
    ok        boolean NOT NULL,
    keywords  integer,
    error     text
);

-- Bodies and messages that could not be used, with the reason (the raw body stays in the lake).
CREATE TABLE funnel.rejected (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    raw_key     text,
    message_id  text,
    stage       text NOT NULL,
    reason      text NOT NULL
);

-- Sharded so concurrent workers do not queue on one row; a read sums the shards.
CREATE TABLE funnel.counter (
    name   text NOT NULL,
    shard  smallint NOT NULL,
    value  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);
