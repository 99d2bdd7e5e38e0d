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
    -- full: every request its organization (or the platform) may make; read_only (finance):
    -- every read, no write (refused with 403 before anything is looked up, reads READ ONLY).
    scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read_only')),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- When the key last authenticated a request, to the minute (payments.touch_api_key).
    last_used_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_org ON payments.api_keys (org_id);

-- One row per (scope, key): the scope is the organization's id, or 'platform'. The request's
-- method, path and body hash tell a replay from a reuse; status and response (the exact JSON
-- text first answered, `json` keeps it byte for byte) are what a replay answers, with the
-- `Location` header of a 201 (NULL for any other answer).
CREATE TABLE payments.api_idempotency (
    scope text NOT NULL,
    key text NOT NULL CHECK (key <> ''),
    method text NOT NULL,
    path text NOT NULL,
    request_sha256 text NOT NULL,
    status int NOT NULL CHECK (status BETWEEN 200 AND 599),
    content_type text NOT NULL,
    response json NOT NULL,
    location text CHECK (location <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_idempotency_pkey PRIMARY KEY (scope, key)
);
CREATE INDEX api_idempotency_created ON payments.api_idempotency (created_at);

-- The API keys are the owner's alone (the CLI creates and revokes them); the API reaches
-- them only through payments.authenticate.
ALTER TABLE payments.api_keys ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON payments.api_keys FROM liventix_app, liventix_platform;

ALTER TABLE payments.api_idempotency ENABLE ROW LEVEL SECURITY;
-- The tenant's scope is its organization's id (payments.current_org_id(), written inline on
-- payments.current_actor() as ticketing.current_org_id is: one function call fewer per use).
CREATE POLICY tenant ON payments.api_idempotency TO liventix_app
    USING (scope = (SELECT nullif(payments.current_actor(), 'platform')::uuid::text))
    WITH CHECK (scope = (SELECT nullif(payments.current_actor(), 'platform')::uuid::text));
CREATE POLICY platform ON payments.api_idempotency TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));
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

GRANT EXECUTE ON FUNCTION payments.current_actor(), payments.current_org_id(),
    messaging.current_org_id(), ticketing.current_org_id(), payments.acting_as_platform()
    TO liventix_app, liventix_platform;

-- An API key's secret makes the transaction act for the key's organization (the platform for
-- the platform's key) and answers what is stored under the request's Idempotency-Key in the
-- key's scope. No row: unknown key, wrong secret, or revoked.
CREATE FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text)
RETURNS TABLE (key_id uuid, org_id uuid, key_scope text, method text, path text,
               request_sha256 text, status int, content_type text, response text,
               location text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_org uuid;
    v_scope text;
BEGIN
    SELECT k.id, k.org_id, k.scope INTO v_id, v_org, v_scope
      FROM payments.api_keys k
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
       AND k.secret_sha256 = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM payments._act_as(coalesce(v_org::text, 'platform'));
    RETURN QUERY
        SELECT v_id, v_org, v_scope, i.method, i.path, i.request_sha256, i.status,
               i.content_type, i.response::text, i.location
          FROM (SELECT 1) one
          LEFT JOIN payments.api_idempotency i
                 ON i.scope = coalesce(v_org::text, 'platform') AND i.key = p_idempotency_key;
END
$$;
REVOKE ALL ON FUNCTION payments.authenticate(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.authenticate(text, text, text)
    TO liventix_app, liventix_platform;

-- A key's holder records that the key was used (its secret proves it, as for authenticate),
-- at most once a minute: the API calls it outside the request's transaction (a read's
-- transaction rolls back), once a minute per key and process, so no request waits on it.
CREATE FUNCTION payments.touch_api_key(p_prefix text, p_secret text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE payments.api_keys k SET last_used_at = now()
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
       AND k.secret_sha256 = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex')
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
$$;
REVOKE ALL ON FUNCTION payments.touch_api_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.touch_api_key(text, text) TO liventix_app, liventix_platform;

-- The owner's way to act for an organization (NULL: the platform) without its key: the
-- worker, the inbox's handlers, the CLI. Not granted to any application role.
CREATE FUNCTION payments.act_for(p_org uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM payments._act_as(coalesce(p_org::text, 'platform'));
END
$$;
REVOKE ALL ON FUNCTION payments.act_for(uuid) FROM PUBLIC;
