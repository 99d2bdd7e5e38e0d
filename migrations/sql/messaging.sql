-- The messaging schema: the transactional outbox (messages, their deliveries to webhook
-- endpoints and e-mail recipients, every attempt) and the inbox of events from outside
-- (Stripe's webhooks). Messages are written on the caller's transaction; workers claim due
-- deliveries with FOR UPDATE SKIP LOCKED under a lease.

CREATE SCHEMA messaging;

CREATE FUNCTION messaging.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$ SELECT payments.current_org_id() $$;

CREATE TABLE messaging.endpoints (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    url text NOT NULL CHECK (url ~ '^https?://'),
    -- The message types it wants; empty means every type.
    event_types text[] NOT NULL DEFAULT '{}',
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    description text NOT NULL DEFAULT '',
    -- Set at the first failure after a success; an endpoint failing for longer than the
    -- configured period is disabled.
    failing_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_org ON messaging.endpoints (org_id) WHERE enabled;

CREATE TABLE messaging.endpoint_secrets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES messaging.endpoints (id) ON DELETE CASCADE,
    org_id uuid NOT NULL,
    -- Sealed with the application's key (outbox/sealing.py), never stored in plain text.
    secret text NOT NULL CONSTRAINT endpoint_secrets_sealed CHECK (secret LIKE 'lxs1:%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL while current; a rotated-out secret stays valid (and signs) until then.
    expires_at timestamptz
);
CREATE INDEX endpoint_secrets_endpoint ON messaging.endpoint_secrets (endpoint_id);

CREATE TABLE messaging.messages (
    id uuid PRIMARY KEY,
    org_id uuid,
    type text NOT NULL CHECK (type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$'),
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    payload jsonb NOT NULL,
    dedup_key text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A deduplication key is the organization's own (org-less messages share one space).
CREATE UNIQUE INDEX messages_dedup_key
    ON messaging.messages (coalesce(org_id, '00000000-0000-0000-0000-000000000000'::uuid), dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE INDEX messages_created ON messaging.messages (created_at);

CREATE TABLE messaging.deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id uuid NOT NULL REFERENCES messaging.messages (id) ON DELETE CASCADE,
    org_id uuid,
    -- webhook: POST to an endpoint; email: SMTP to a recipient; task: a registered Python
    -- task of the message's type (an outbound call such as a Stripe transfer).
    channel text NOT NULL CHECK (channel IN ('webhook', 'email', 'task')),
    endpoint_id uuid REFERENCES messaging.endpoints (id),
    recipient text,
    subject text,
    body text,
    -- What orders deliveries: one queue per target (endpoint or recipient) and aggregate.
    target text NOT NULL,
    aggregate_key text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivering', 'succeeded', 'dead', 'cancelled')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    leased_by text,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT deliveries_webhook_has_endpoint
        CHECK ((channel = 'webhook') = (endpoint_id IS NOT NULL)),
    CONSTRAINT deliveries_email_has_recipient
        CHECK ((channel = 'email') = (recipient IS NOT NULL))
);
-- The claim's scan: open work by due time.
CREATE INDEX deliveries_due ON messaging.deliveries (next_attempt_at, id)
    WHERE status IN ('pending', 'delivering');
-- The claim's order check: an earlier open delivery of the same target and aggregate.
CREATE INDEX deliveries_queue ON messaging.deliveries (target, aggregate_key, id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_message ON messaging.deliveries (message_id);
CREATE INDEX deliveries_endpoint ON messaging.deliveries (endpoint_id, id);

CREATE TABLE messaging.attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES messaging.deliveries (id) ON DELETE CASCADE,
    attempt int NOT NULL,
    worker text NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms int NOT NULL,
    status_code int,
    response_body text,
    error text,
    succeeded boolean NOT NULL
);
CREATE INDEX attempts_delivery ON messaging.attempts (delivery_id, attempt);

-- Wake the workers when deliveries commit (NOTIFY is sent at commit, never before).
CREATE FUNCTION messaging.notify_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('messaging_deliveries', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_notify AFTER INSERT ON messaging.deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.notify_deliveries();

-- The inbox: events from outside, stored once by (source, event id), handled once.
CREATE TABLE messaging.inbox (
    source text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- pending until its handler committed (handled), no handler was registered (ignored),
    -- or its handler failed on every attempt (dead). A worker holds the row's lock while the
    -- handler runs, in the same transaction as the handler's effects: the lock is the lease.
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'handled', 'ignored', 'dead')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    handled_at timestamptz,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX inbox_due ON messaging.inbox (next_attempt_at) WHERE status = 'pending';

CREATE FUNCTION messaging.notify_inbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('messaging_inbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER inbox_notify AFTER INSERT ON messaging.inbox
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.notify_inbox();

-- Row-level security: an organization's role sees its own endpoints, messages, deliveries.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['endpoints', 'endpoint_secrets', 'messages', 'deliveries']
    LOOP
        EXECUTE format('ALTER TABLE messaging.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON messaging.%I TO liventix_app
                        USING (org_id = (SELECT messaging.current_org_id()))
                        WITH CHECK (org_id = (SELECT messaging.current_org_id()))', t);
        EXECUTE format('CREATE POLICY platform ON messaging.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))
                        WITH CHECK ((SELECT payments.acting_as_platform()))', t);
    END LOOP;
END
$$;
ALTER TABLE messaging.attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON messaging.attempts TO liventix_app
    USING (EXISTS (SELECT FROM messaging.deliveries d WHERE d.id = delivery_id));
CREATE POLICY platform ON messaging.attempts TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));

GRANT USAGE ON SCHEMA messaging TO liventix_app, liventix_platform;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA messaging TO liventix_app, liventix_platform;
GRANT UPDATE ON messaging.endpoints, messaging.endpoint_secrets TO liventix_app, liventix_platform;
GRANT UPDATE, DELETE ON ALL TABLES IN SCHEMA messaging TO liventix_platform;

-- The inbox of Stripe's events: Stripe's webhook route (liventix_app acting for no one) adds
-- an event and sees what its own transaction added (INSERT ... RETURNING), nothing else; the
-- platform's key sees it all; the worker handles it as the owner.
ALTER TABLE messaging.inbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY receive ON messaging.inbox FOR INSERT TO liventix_app
    WITH CHECK (status = 'pending' AND attempts = 0 AND received_at = now()
                AND handled_at IS NULL AND last_error IS NULL);
CREATE POLICY received ON messaging.inbox FOR SELECT TO liventix_app
    USING (received_at = now() AND status = 'pending' AND attempts = 0);
CREATE POLICY platform ON messaging.inbox TO liventix_platform
    USING ((SELECT payments.acting_as_platform()))
    WITH CHECK ((SELECT payments.acting_as_platform()));
REVOKE UPDATE, DELETE ON messaging.inbox FROM liventix_app;

-- Webhook secrets: stored sealed (the application's key), and not readable by the
-- application's roles at all (signing is the worker's, as the owner).
REVOKE SELECT, UPDATE ON messaging.endpoint_secrets FROM liventix_app, liventix_platform;
GRANT SELECT (id, endpoint_id, org_id, created_at, expires_at), UPDATE (expires_at)
    ON messaging.endpoint_secrets TO liventix_app, liventix_platform;
