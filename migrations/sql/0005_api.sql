-- The HTTP API's own tables (schema payments): API keys, stored hashed, and the idempotency
-- records of its write requests, each stored in the same transaction as the request's effect.
--
-- Roles. A request authenticates as the API's login role, then runs its transaction under
-- `SET LOCAL ROLE liventix_app` (an organization's key, with `liventix.org_id` set) or
-- `SET LOCAL ROLE liventix_platform` (the platform's key). In production the API's login
-- role is therefore granted membership in both roles, e.g.
--     CREATE ROLE liventix_api LOGIN IN ROLE liventix_app, liventix_platform;
-- It reads the key table through its membership in liventix_platform; an organization's
-- role never sees it.

CREATE TABLE payments.api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL for the platform's key.
    org_id uuid REFERENCES payments.organizations (id),
    -- The public part of `lvx_<prefix>_<secret>`, to find the key; the secret is kept only as
    -- its SHA-256 (hex), compared in constant time.
    prefix text NOT NULL CHECK (prefix ~ '^[0-9a-f]{12}$'),
    secret_sha256 text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_org ON payments.api_keys (org_id);

-- One row per (scope, key): the scope is the organization's id, or 'platform'. The request's
-- method, path and body hash tell a replay from a reuse; status and response (the exact JSON
-- text first answered, `json` keeps it byte for byte) are what a replay answers.
CREATE TABLE payments.api_idempotency (
    scope text NOT NULL,
    key text NOT NULL CHECK (key <> ''),
    method text NOT NULL,
    path text NOT NULL,
    request_sha256 text NOT NULL,
    status int NOT NULL CHECK (status BETWEEN 200 AND 599),
    content_type text NOT NULL,
    response json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_idempotency_pkey PRIMARY KEY (scope, key)
);
CREATE INDEX api_idempotency_created ON payments.api_idempotency (created_at);

ALTER TABLE payments.api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform ON payments.api_keys TO liventix_platform USING (true) WITH CHECK (true);
REVOKE ALL ON payments.api_keys FROM liventix_app, liventix_platform;
GRANT SELECT, INSERT ON payments.api_keys TO liventix_platform;
GRANT UPDATE (revoked_at, description) ON payments.api_keys TO liventix_platform;

ALTER TABLE payments.api_idempotency ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.api_idempotency TO liventix_app
    USING (scope = payments.current_org_id()::text)
    WITH CHECK (scope = payments.current_org_id()::text);
CREATE POLICY platform ON payments.api_idempotency TO liventix_platform
    USING (true) WITH CHECK (true);
REVOKE ALL ON payments.api_idempotency FROM liventix_app, liventix_platform;
GRANT SELECT, INSERT ON payments.api_idempotency TO liventix_app, liventix_platform;

-- Requeueing a dead delivery is an organization's own act through the API: its role may
-- reset the delivery's queue columns (row-level security keeps it to its own deliveries).
GRANT UPDATE (status, attempts, next_attempt_at, finished_at, lease_expires_at, leased_by)
    ON messaging.deliveries TO liventix_app;

-- Readiness (`GET /ready`) compares the schema's revision with the code's, as the login role.
DO $$
BEGIN
    IF to_regclass('alembic_version') IS NOT NULL THEN
        GRANT SELECT ON alembic_version TO liventix_platform;
    END IF;
END
$$;
