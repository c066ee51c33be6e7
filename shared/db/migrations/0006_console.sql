-- The console and API security: local API tokens (hashed at rest) and the audit log of every
-- change made through the API.

CREATE SCHEMA IF NOT EXISTS auth;

-- A token is shown once when created; only its SHA-256 is kept. Tokens are 244 random bits, so
-- a fast hash is the right one (there is nothing to guess by brute force).
CREATE TABLE auth.api_token (
    token_id      bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
-- One live token per name: a name is who the audit log says acted.
CREATE UNIQUE INDEX api_token_live_name ON auth.api_token (name) WHERE revoked_at IS NULL;

CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.change (
    change_id   bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    role        text NOT NULL,
    via         text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    before      jsonb,
    after       jsonb
);
