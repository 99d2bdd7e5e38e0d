-- The messaging schema: the transactional outbox (messages, their deliveries to webhook
-- endpoints and e-mail recipients, every attempt) and the inbox of events from outside
-- (Stripe's webhooks). Messages are written on the caller's transaction; workers claim due
-- deliveries with FOR UPDATE SKIP LOCKED under a lease.

CREATE SCHEMA messaging;

CREATE FUNCTION messaging.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$ SELECT payments.current_org_id() $$;

-- Single-column rules of the hot rows (messages, deliveries, the inbox) as domains (session
-- 33), not table CHECKs: a table's CHECK expressions are read from their stored text, planned
-- and compiled again by every statement that writes the table, and all of them checked on
-- every UPDATE; a domain's check is planned once per session and checked only on the columns
-- a statement assigns (ticketing.sql says more). Same rules, same SQLSTATE (23514).
CREATE DOMAIN messaging.message_type AS text
    CONSTRAINT message_type_dotted CHECK (VALUE ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$');
CREATE DOMAIN messaging.delivery_channel AS text
    CONSTRAINT delivery_channel_known CHECK (VALUE IN ('webhook', 'email', 'task'));
CREATE DOMAIN messaging.delivery_status AS text CONSTRAINT delivery_status_known
    CHECK (VALUE IN ('pending', 'delivering', 'succeeded', 'dead', 'cancelled'));
CREATE DOMAIN messaging.inbox_status AS text
    CONSTRAINT inbox_status_known CHECK (VALUE IN ('pending', 'handled', 'ignored', 'dead'));
CREATE DOMAIN messaging.deferral_count AS int
    CONSTRAINT deferral_count_not_negative CHECK (VALUE >= 0);

CREATE TABLE messaging.endpoints (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
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
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT endpoints_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX endpoints_org ON messaging.endpoints (org_id) WHERE enabled;

CREATE TABLE messaging.endpoint_secrets (
    id bigint GENERATED ALWAYS AS IDENTITY,
    endpoint_id uuid NOT NULL,
    org_id uuid NOT NULL,
    -- Sealed with the application's key (outbox/sealing.py), never stored in plain text.
    secret text NOT NULL CONSTRAINT endpoint_secrets_sealed CHECK (secret LIKE 'lxs1:%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL while current; a rotated-out secret stays valid (and signs) until then.
    expires_at timestamptz,
    CONSTRAINT endpoint_secrets_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT endpoint_secrets_endpoint_id_fkey FOREIGN KEY (endpoint_id, org_id)
        REFERENCES messaging.endpoints (id, org_id) ON DELETE CASCADE
);
CREATE INDEX endpoint_secrets_endpoint ON messaging.endpoint_secrets (endpoint_id);

CREATE TABLE messaging.messages (
    id uuid NOT NULL,
    -- Every message is an organization's (the platform's under the platform organization's
    -- id): the outbox is distributed by organization (docs/scaling.md).
    org_id uuid NOT NULL,
    type messaging.message_type NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    payload jsonb NOT NULL,
    dedup_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_pkey PRIMARY KEY (id, org_id)
);
-- A deduplication key is the organization's own.
CREATE UNIQUE INDEX messages_dedup_key ON messaging.messages (dedup_key, org_id)
    WHERE dedup_key IS NOT NULL;
-- The outbox's pruning (created_at < now() - retention) is its one reader. A B-tree, not a
-- block range index (session 34 tried one, d13dadc: ~0.5 % of a checkout's backend
-- instructions saved, reverted on review): pruning deletes old rows, vacuum frees their pages,
-- new messages fill them, and a range keeps its old minimum until summarized again, so after
-- one retention period every prune would read most of the table.
CREATE INDEX messages_created ON messaging.messages (created_at);

CREATE TABLE messaging.deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY,
    message_id uuid NOT NULL,
    org_id uuid NOT NULL,
    -- webhook: POST to an endpoint; email: SMTP to a recipient; task: a registered Python
    -- task of the message's type (an outbound call such as a Stripe transfer).
    channel messaging.delivery_channel NOT NULL,
    endpoint_id uuid,
    recipient text,
    subject text,
    body text,
    -- What orders deliveries: one queue per target (endpoint or recipient) and aggregate.
    target text NOT NULL,
    aggregate_key text NOT NULL,
    status messaging.delivery_status NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    leased_by text,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- A webhook's delivery names an endpoint and no other does; an e-mail's names a recipient
    -- and no other does: the rules deliveries_webhook_has_endpoint and
    -- deliveries_email_has_recipient (SQLSTATE 23514), judged by messaging.deliveries_references
    -- once per INSERT statement and by deliveries_shape on an UPDATE of the three columns
    -- (below), not table CHECKs (session 35: PostgreSQL reads a table's CHECKs from their
    -- stored text, plans and compiles them for every statement that writes the table, ~60K
    -- backend instructions per payment's publishing, cachegrind).
    -- The delivery's message and endpoint, each of its own organization: declared (the
    -- catalog and its readers see them) but NOT ENFORCED, checked once per statement by
    -- messaging.deliveries_references (below) with the same error (23503) and names; a
    -- message's deletion takes its deliveries with it (messages_cascade), as ON DELETE
    -- CASCADE did.
    CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id, org_id)
        REFERENCES messaging.endpoints (id, org_id) NOT ENFORCED,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT deliveries_message_id_fkey FOREIGN KEY (message_id, org_id)
        REFERENCES messaging.messages (id, org_id) NOT ENFORCED
);
-- The claim's scan: open work by due time.
CREATE INDEX deliveries_due ON messaging.deliveries (next_attempt_at, id)
    WHERE status IN ('pending', 'delivering');
-- The claim's order check: an earlier open delivery of the same target and aggregate.
CREATE INDEX deliveries_queue ON messaging.deliveries (target, aggregate_key, id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_message ON messaging.deliveries (message_id);
-- An endpoint's deliveries (its log, its cancellation when disabled, its requeue): e-mails and
-- tasks have no endpoint, so they have no entry here (two of a checkout's five deliveries;
-- every query of it names an endpoint, `endpoint_id = ...`, which implies the predicate).
CREATE INDEX deliveries_endpoint ON messaging.deliveries (endpoint_id, id)
    WHERE endpoint_id IS NOT NULL;

CREATE TABLE messaging.attempts (
    id bigint GENERATED ALWAYS AS IDENTITY,
    delivery_id bigint NOT NULL,
    org_id uuid NOT NULL,  -- the delivery's
    attempt int NOT NULL,
    worker text NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms int NOT NULL,
    status_code int,
    response_body text,
    error text,
    succeeded boolean NOT NULL,
    CONSTRAINT attempts_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id, org_id)
        REFERENCES messaging.deliveries (id, org_id) ON DELETE CASCADE
);
CREATE INDEX attempts_delivery ON messaging.attempts (delivery_id, attempt);

-- The workers are woken when deliveries commit by messaging.deliveries_references (below),
-- the statement's one trigger.

-- The inbox: events from outside, stored once by (source, event id), handled once.
CREATE TABLE messaging.inbox (
    source text NOT NULL,
    event_id text NOT NULL,
    -- The organization the event is placed with, so that handling it (marking it handled in
    -- the transaction of its effects) is one organization's transaction (docs/scaling.md):
    -- set from the payload at insert by messaging.inbox_org, whatever the inserter gives.
    org_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- pending until its handler committed (handled), no handler was registered (ignored),
    -- or its handler failed on every attempt (dead). A worker holds the row's lock while the
    -- handler runs, in the same transaction as the handler's effects: the lock is the lease.
    status messaging.inbox_status NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    -- Transient failures (a deadlock, a serialization failure, a lock not available): the
    -- server answered and nothing is wrong with the event, so they are not attempts; the
    -- event is tried again soon, with backoff, up to the retry policy's bound, past which
    -- they count as attempts again (outbox.inbox).
    deferrals messaging.deferral_count NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    handled_at timestamptz,
    -- An event's organization is a pure function of its payload (messaging.inbox_org reads
    -- no table), so (source, event id) is stored once all the same.
    CONSTRAINT inbox_pkey PRIMARY KEY (source, event_id, org_id)
);
CREATE INDEX inbox_due ON messaging.inbox (next_attempt_at) WHERE status = 'pending';

-- The organization an event is placed with: the one its object's metadata names
-- (`liventix_org_id`, which the checkout puts on every PaymentIntent, so a payment's event
-- lives with the organizer's escrow, order and tickets), else the nil uuid, the fixed place
-- of the events that name none (a refund, a dispute, a transfer, a payout). Only a
-- well-formed uuid is taken from the metadata; nothing trusts it further (the handlers read
-- the event themselves). A pure function of the payload (IMMUTABLE: it reads no table), so
-- a redelivered event, whose payload is the same, is placed where it was the first time
-- whatever was registered in between, and the key (source, event_id, org_id) stores it once.
-- (It once fell back to the platform organization's id, read from the database: an event
-- naming none stored before the platform was registered and redelivered after was stored,
-- and handled, twice. tests/test_sharding_keys.py.)
CREATE FUNCTION messaging.inbox_org(p_payload jsonb) RETURNS uuid
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
        CASE WHEN p_payload #>> '{data,object,metadata,liventix_org_id}'
                  ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN (p_payload #>> '{data,object,metadata,liventix_org_id}')::uuid END,
        '00000000-0000-0000-0000-000000000000'::uuid)
$$;
REVOKE ALL ON FUNCTION messaging.inbox_org(jsonb) FROM PUBLIC;

CREATE FUNCTION messaging.inbox_place() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.org_id := messaging.inbox_org(NEW.payload);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION messaging.inbox_place() FROM PUBLIC;
CREATE TRIGGER inbox_place BEFORE INSERT ON messaging.inbox
    FOR EACH ROW EXECUTE FUNCTION messaging.inbox_place();

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
    USING (org_id = (SELECT messaging.current_org_id()));
CREATE POLICY platform ON messaging.attempts TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));

GRANT USAGE ON SCHEMA messaging TO liventix_app, liventix_platform;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA messaging TO liventix_app, liventix_platform;
GRANT UPDATE ON messaging.endpoints, messaging.endpoint_secrets TO liventix_app, liventix_platform;
GRANT UPDATE, DELETE ON ALL TABLES IN SCHEMA messaging TO liventix_platform;

-- The inbox of Stripe's events: the application's roles add an event only through
-- messaging.receive_signed_event (below), which checks its signature; they read none of it.
-- The platform's key sees it all; the worker handles it as the owner.
ALTER TABLE messaging.inbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform ON messaging.inbox TO liventix_platform
    USING ((SELECT payments.acting_as_platform()))
    WITH CHECK ((SELECT payments.acting_as_platform()));
REVOKE INSERT, UPDATE, DELETE ON messaging.inbox FROM liventix_app;

-- Webhook secrets: stored sealed (the application's key), and not readable by the
-- application's roles at all (signing is the worker's, as the owner).
REVOKE SELECT, UPDATE ON messaging.endpoint_secrets FROM liventix_app, liventix_platform;
GRANT SELECT (id, endpoint_id, org_id, created_at, expires_at), UPDATE (expires_at)
    ON messaging.endpoint_secrets TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- Stripe's events in, checked by the database (issue 13): the application's role may no
-- longer add an event to the inbox by hand; it presents the raw body and its signature to
-- messaging.receive_signed_event, which checks them against the source's signing secret
-- (readable by the owner only) before it stores the event. A compromised application
-- connection cannot forge an event.
------------------------------------------------------------------------------------------

-- The signing secret of each source, as the two HMAC-SHA256 pads of its key (Stripe signs
-- with the whole `whsec_...` string as the key). The owner's alone.
CREATE TABLE messaging.inbox_secrets (
    source text PRIMARY KEY,
    inner_pad bytea NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad bytea NOT NULL CHECK (length(outer_pad) = 64),
    tolerance_s int NOT NULL DEFAULT 300 CHECK (tolerance_s BETWEEN 1 AND 86400)
);
REVOKE ALL ON messaging.inbox_secrets FROM PUBLIC, liventix_app, liventix_platform;

-- How far the inbox has read a source's own list of its events (issue 11: Stripe's events
-- caught up from `GET /v1/events` when their webhooks never arrive; liventix.stripe_catchup),
-- in the source's clock (Stripe's `created`, Unix seconds). `caught_up_to`: every event the
-- source created before it is in the inbox, but for those its list shows late (a reader
-- reads again an overlap before it). A read (newest first, page by page, each page stored
-- with this row in one transaction) that has not reached its start keeps where it got: it
-- started at `walk_from`, has stored every event down to `walk_below` (the oldest `created`
-- stored so far), the newest being `walk_top`; the next read goes on from there.
-- `read_at`: the lease of the read under way, set (later than the last) when a read claims
-- the cursor and renewed by each page it stores; a page moves the cursor only while its read
-- still holds it (another read that claimed it since stops the first). The worker's interval
-- counts from it. The owner's alone, as the secrets: the worker reads and stores as the owner.
CREATE TABLE messaging.inbox_cursors (
    source text PRIMARY KEY,
    caught_up_to bigint,
    walk_from bigint,
    walk_below bigint,
    walk_top bigint,
    read_at timestamptz NOT NULL DEFAULT '-infinity',
    CONSTRAINT inbox_cursors_walk CHECK (
        (walk_from IS NULL) = (walk_below IS NULL) AND (walk_from IS NULL) = (walk_top IS NULL))
);
REVOKE ALL ON messaging.inbox_cursors FROM PUBLIC, liventix_app, liventix_platform;

-- Register (or replace) a source's signing secret; NULL forgets it. The owner only.
CREATE FUNCTION messaging.set_inbox_secret(p_source text, p_secret text, p_tolerance_s int DEFAULT 300)
RETURNS void LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k bytea;
    ipad bytea;
    opad bytea;
BEGIN
    IF p_secret IS NULL OR p_secret = '' THEN
        DELETE FROM messaging.inbox_secrets WHERE source = p_source;
        RETURN;
    END IF;
    k := convert_to(p_secret, 'UTF8');
    IF length(k) > 64 THEN
        k := sha256(k);  -- as HMAC does with a key longer than the block
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);  -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);  -- 0x5c
    END LOOP;
    INSERT INTO messaging.inbox_secrets (source, inner_pad, outer_pad, tolerance_s)
    VALUES (p_source, ipad, opad, p_tolerance_s)
    ON CONFLICT (source) DO UPDATE
        SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad,
            tolerance_s = EXCLUDED.tolerance_s;
END
$$;
REVOKE ALL ON FUNCTION messaging.set_inbox_secret(text, text, int) FROM PUBLIC;

-- Check a signed event as Stripe signs it (header `t=<unix time>,v1=<hex HMAC-SHA256 of
-- "t.body">`, any of several v1), within the source's tolerance either way of the database's
-- clock, then store it once by (source, its id). Answers the event's id and type and whether
-- it was new. Refusals, SQLSTATE LXI01 with the reason as the message: no secret registered
-- (`inbox_not_configured`), a missing, malformed, stale, future or wrong signature
-- (`invalid_signature`), a body that is no event (`unusable_event`).
CREATE FUNCTION messaging.receive_signed_event(p_source text, p_body text, p_signature text)
RETURNS TABLE (event_id text, event_type text, stored boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    s messaging.inbox_secrets;
    item text;
    stamp text;
    given text[] := '{}';
    expected text;
    doc jsonb;
BEGIN
    SELECT * INTO s FROM messaging.inbox_secrets WHERE source = p_source;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'inbox_not_configured',
            DETAIL = format('no signing secret is registered for source %s', p_source);
    END IF;
    FOREACH item IN ARRAY string_to_array(coalesce(p_signature, ''), ',') LOOP
        IF item LIKE 't=%' AND stamp IS NULL THEN
            stamp := substr(item, 3);
        ELSIF item LIKE 'v1=%' THEN
            given := given || substr(item, 4);
        END IF;
    END LOOP;
    IF stamp IS NULL OR stamp !~ '^[0-9]{1,12}$' OR cardinality(given) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = 'the signature header has no timestamp or no v1 signature';
    END IF;
    IF abs(extract(epoch FROM clock_timestamp()) - stamp::bigint) > s.tolerance_s THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = format('the signature''s timestamp is more than %s s from now', s.tolerance_s);
    END IF;
    expected := encode(sha256(s.outer_pad || sha256(s.inner_pad
                    || convert_to(stamp || '.' || p_body, 'UTF8'))), 'hex');
    IF NOT expected = ANY (given) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = 'no signature matches the body';
    END IF;
    BEGIN
        doc := p_body::jsonb;
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'unusable_event',
            DETAIL = 'the signed body is not JSON PostgreSQL can store';
    END;
    IF jsonb_typeof(doc) <> 'object' OR jsonb_typeof(doc -> 'id') IS DISTINCT FROM 'string'
       OR jsonb_typeof(doc -> 'type') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'unusable_event',
            DETAIL = 'the signed body is not an object with a string id and type';
    END IF;
    event_id := doc ->> 'id';
    event_type := doc ->> 'type';
    INSERT INTO messaging.inbox AS i (source, event_id, type, payload)
    VALUES (p_source, event_id, event_type, doc)
    ON CONFLICT ON CONSTRAINT inbox_pkey DO NOTHING;
    stored := FOUND;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION messaging.receive_signed_event(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging.receive_signed_event(text, text, text)
    TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- The metrics' backlog counts (issue 13): the API's login role sees no tenant's deliveries
-- and no inbox row, so the counts come from a function with the owner's rights that
-- answers counts and ages only, never a row.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging.backlog()
RETURNS TABLE (queue text, channel text, pending bigint, oldest_age_s double precision,
               deferred bigint, deferred_oldest_age_s double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'outbox', d.channel, count(*),
           coalesce(extract(epoch FROM now() - min(d.created_at)), 0)::double precision,
           0::bigint, 0::double precision
      FROM messaging.deliveries d
     WHERE d.status IN ('pending', 'delivering')
     GROUP BY d.channel
    UNION ALL
    -- An event put off by transient failures only (attempts 0, deferrals > 0: due again
    -- within seconds, as the health report counts it) is counted apart, not as backlog,
    -- with its own oldest age: one deferred again and again still shows in an age alert.
    SELECT 'inbox', i.source,
           count(*) FILTER (WHERE i.attempts > 0 OR i.deferrals = 0),
           coalesce(extract(epoch FROM now() - min(i.received_at) FILTER (
               WHERE i.attempts > 0 OR i.deferrals = 0)), 0)::double precision,
           count(*) FILTER (WHERE i.attempts = 0 AND i.deferrals > 0),
           coalesce(extract(epoch FROM now() - min(i.received_at) FILTER (
               WHERE i.attempts = 0 AND i.deferrals > 0)), 0)::double precision
      FROM messaging.inbox i
     WHERE i.status = 'pending'
     GROUP BY i.source
$$;
REVOKE ALL ON FUNCTION messaging.backlog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging.backlog() TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- The outbox's SQL face (issue 16): publish one message and its fan-out to the
-- organization's webhook endpoints that want its type, on the caller's transaction, as
-- outbox.publish does from Python (no e-mail, no task). The ledger's triggers (hold events,
-- balance monitors, checkpoints: payments_monitors.sql, payments_seals.sql) call it: the one
-- arrow from `payments` into `messaging`, in SQL. A deduplication key used before (by this
-- organization) writes nothing and answers the first message's id. No organization (NULL)
-- is refused: SQLSTATE LXM02, message_without_organization.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging.publish(p_org uuid, p_type text, p_aggregate_type text,
                                  p_aggregate_id text, p_payload jsonb,
                                  p_dedup_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    -- A message is an organization's (docs/scaling.md): one of none is refused, never
    -- dropped in silence (a caller with nothing to tell no one publishes nothing: the
    -- platform's chain before a platform organization is registered).
    IF p_org IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM02', MESSAGE = 'message_without_organization',
            DETAIL = format('messaging.publish(%s): every message names its organization',
                            p_type);
    END IF;
    INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id, payload,
                                    dedup_key)
    VALUES (v_id, p_org, p_type, p_aggregate_type, p_aggregate_id, p_payload, p_dedup_key)
    ON CONFLICT (dedup_key, org_id) WHERE dedup_key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN
        SELECT m.id INTO v_id FROM messaging.messages m
         WHERE m.dedup_key = p_dedup_key AND m.org_id = p_org;
        RETURN v_id;
    END IF;
    INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, target,
                                      aggregate_key)
    SELECT v_id, e.org_id, 'webhook', e.id, 'endpoint:' || e.id,
           p_aggregate_type || ':' || p_aggregate_id
      FROM messaging.endpoints e
     WHERE e.org_id = p_org AND e.enabled
       AND (cardinality(e.event_types) = 0 OR p_type = ANY (e.event_types))
     ORDER BY e.id;
    RETURN v_id;
END
$$;
-- The owner's (and its SECURITY DEFINER triggers'): no application role publishes by hand.
REVOKE ALL ON FUNCTION messaging.publish(uuid, text, text, text, jsonb, text) FROM PUBLIC;

------------------------------------------------------------------------------------------
-- The deliveries' rows of publish_many's messages: the one definition of what a delivery
-- row holds, for both of publish_many's paths. Per message (n: its place in p_ids), its
-- webhooks (part 1) to the organization's enabled endpoints that want its type, its task
-- (part 2) if p_tasks says so (p_tasks NULL: no task), its e-mails (part 3; k: the e-mail's
-- place); of the messages whose ids p_keep holds, or of every message when p_keep is NULL.
-- The caller orders them (n, part, endpoint_id, k: as outbox.publish called once per message
-- would). One SELECT in a STABLE SQL set-returning function, not strict, not SECURITY
-- DEFINER, no SET clause, called in FROM: the planner inlines it into the caller's statement
-- as a subquery (no function call; its names resolved with the caller's pinned search_path),
-- and a constant NULL p_keep (p_tasks) folds its filters (its task branch) away, so the usual
-- case's statement plans as it did with the SELECT written out in it.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging._delivery_rows(
    p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[],
    p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[],
    p_mail_subject text[], p_mail_body text[], p_keep uuid[])
RETURNS TABLE (n bigint, part integer, k bigint, message_id uuid, org_id uuid, channel text,
               endpoint_id uuid, recipient text, subject text, body text, target text,
               aggregate_key text)
LANGUAGE sql STABLE AS $$
    SELECT f.n, 1, 0::bigint, f.id, e.org_id, 'webhook'::text, e.id,
           NULL::text, NULL::text, NULL::text, 'endpoint:' || e.id,
           f.aggregate_type || ':' || f.aggregate_id
      FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids)
           WITH ORDINALITY AS f(id, org_id, type, aggregate_type, aggregate_id, n)
      JOIN messaging.endpoints e
        ON e.org_id = p_org AND e.org_id = f.org_id AND e.enabled
       AND (cardinality(e.event_types) = 0 OR f.type = ANY (e.event_types))
     WHERE p_keep IS NULL OR f.id = ANY (p_keep)
    UNION ALL
    SELECT f.n, 2, 0::bigint, f.id, f.org_id, 'task'::text, NULL::uuid,
           NULL::text, NULL::text, NULL::text, 'task:' || f.type,
           f.aggregate_type || ':' || f.aggregate_id
      FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids, p_tasks)
           WITH ORDINALITY AS f(id, org_id, type, aggregate_type, aggregate_id, task, n)
     WHERE p_tasks IS NOT NULL AND f.task AND (p_keep IS NULL OR f.id = ANY (p_keep))
    UNION ALL
    SELECT m.n, 3, m.k, p_ids[m.n], p_orgs[m.n], 'email'::text,
           NULL::uuid, m.recipient, m.subject, m.body, 'email:' || lower(m.recipient),
           p_aggregate_types[m.n] || ':' || p_aggregate_ids[m.n]
      FROM unnest(p_mail_of, p_mail_to, p_mail_subject, p_mail_body)
           WITH ORDINALITY AS m(n, recipient, subject, body, k)
     WHERE CASE WHEN p_keep IS NULL THEN p_ids[m.n] IS NOT NULL
                ELSE p_ids[m.n] = ANY (p_keep) END
$$;
-- Granted as publish_many is: the planner inlines it only for a caller allowed to execute it.
REVOKE ALL ON FUNCTION messaging._delivery_rows(uuid, uuid[], uuid[], text[], text[], text[],
    boolean[], bigint[], text[], text[], text[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging._delivery_rows(uuid, uuid[], uuid[], text[], text[],
    text[], boolean[], bigint[], text[], text[], text[], uuid[])
    TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- The outbox's publishing of several messages of one organization and their deliveries
-- (outbox.publish_many; outbox.publish_sql for a caller's statement that makes the rows its
-- messages tell of, the payment's: ticketing_fsm.store.paying), on the caller's
-- transaction and with its rights (row-level security as for any insert of its own). The
-- messages, then their deliveries in one INSERT, ordered as outbox.publish called once per
-- message would order them (the delivery's id orders each target's queue): per message, its
-- webhook deliveries by endpoint, its task, its e-mails. A message whose deduplication key
-- was used before is not written, nor are its deliveries. Returns the ids written. A
-- function, not the caller's statement: its plans are kept by the session and initialised
-- apart from the caller's (a statement rechecked by EvalPlanQual, as the payment's is on a
-- hot ticket type, initialises every subplan it holds; session 30 measured the inserts
-- spliced into the payment's statement as CTEs: the hot case's backend CPU +1.5-2 ms).
-- search_path pinned as the schema's other functions' (its names are all qualified; the
-- operators too are then pg_catalog's): the SET clause costs ~1-2 us a call (measured on a
-- trivial plpgsql function, server-side loop), nothing beside the payment's ~3 ms; a plpgsql
-- function is never inlined, so it prevents nothing.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging.publish_many(
    p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[],
    p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[],
    p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[])
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_written uuid[];
    v_id uuid;
BEGIN
    -- The messages. With no deduplication key (the payment's messages: none has one) every
    -- message is written, by a plain INSERT: ON CONFLICT's speculative insertion (the arbiter
    -- index probed, each row inserted with a token, then confirmed) cost ~50K backend
    -- instructions per payment for nothing (session 35, cachegrind).
    -- The usual case (the payment's: every id given, no deduplication key, no task): the
    -- messages and their deliveries in ONE statement (session 36: a statement fewer, its
    -- executor start and end, and the deliveries' SELECT without the filter on the ids
    -- written, all of them; ~105K backend instructions per payment, cachegrind). The
    -- messages are a data-modifying CTE, written in the same statement whether or not the
    -- main query reads them; the deliveries' statement-level check (deliveries_references)
    -- runs after the whole statement and finds them. Not for tasks: deliveries_guard, a
    -- row trigger, reads its delivery's message, which an INSERT of the same statement has
    -- not made visible to it.
    IF cardinality(p_ids) > 0 AND array_position(p_ids, NULL) IS NULL
       AND cardinality(array_remove(p_dedups, NULL)) = 0
       AND array_position(p_tasks, true) IS NULL THEN
        WITH m AS (
            INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                            payload, dedup_key)
            SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload,
                   m.dedup_key
              FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids,
                          p_payloads, p_dedups)
                   AS m(id, org_id, type, aggregate_type, aggregate_id, payload, dedup_key)
        )
        -- The deliveries of every message, no task (p_keep and p_tasks NULL: _delivery_rows's
        -- filters and its task branch fold away).
        INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,
                                          subject, body, target, aggregate_key)
        SELECT p.message_id, p.org_id, p.channel, p.endpoint_id, p.recipient, p.subject,
               p.body, p.target, p.aggregate_key
          FROM messaging._delivery_rows(p_org, p_ids, p_orgs, p_types, p_aggregate_types,
                                        p_aggregate_ids, NULL, p_mail_of, p_mail_to,
                                        p_mail_subject, p_mail_body, NULL) p
         ORDER BY p.n, p.part, p.endpoint_id, p.k;
        FOREACH v_id IN ARRAY p_ids LOOP
            RETURN NEXT v_id;
        END LOOP;
        RETURN;
    END IF;
    IF cardinality(array_remove(p_dedups, NULL)) = 0 THEN
        INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                        payload, dedup_key)
        SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload, m.dedup_key
          FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids, p_payloads,
                      p_dedups)
               AS m(id, org_id, type, aggregate_type, aggregate_id, payload, dedup_key);
        v_written := coalesce(p_ids, '{}');
    ELSE
        WITH written AS (
            INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                            payload, dedup_key)
            SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload,
                   m.dedup_key
              FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids,
                          p_payloads, p_dedups)
                   WITH ORDINALITY AS m(id, org_id, type, aggregate_type, aggregate_id,
                                        payload, dedup_key, n)
             ORDER BY m.n
            ON CONFLICT (dedup_key, org_id) WHERE dedup_key IS NOT NULL DO NOTHING
            RETURNING messages.id
        )
        SELECT coalesce(array_agg(w.id), '{}') INTO v_written FROM written w;
    END IF;
    -- The deliveries of the messages written, in one INSERT: per message (n), its webhooks
    -- by endpoint, its task, its e-mails (k).
    INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,
                                      subject, body, target, aggregate_key)
    SELECT p.message_id, p.org_id, p.channel, p.endpoint_id, p.recipient, p.subject,
           p.body, p.target, p.aggregate_key
      FROM messaging._delivery_rows(p_org, p_ids, p_orgs, p_types, p_aggregate_types,
                                    p_aggregate_ids, p_tasks, p_mail_of, p_mail_to,
                                    p_mail_subject, p_mail_body, v_written) p
     ORDER BY p.n, p.part, p.endpoint_id, p.k;
    -- The ids written, in the messages' order (a loop of simple expressions: no executor).
    FOREACH v_id IN ARRAY v_written LOOP
        RETURN NEXT v_id;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION messaging.publish_many(uuid, uuid[], uuid[], text[], text[], text[],
    jsonb[], text[], boolean[], bigint[], text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging.publish_many(uuid, uuid[], uuid[], text[], text[], text[],
    jsonb[], text[], boolean[], bigint[], text[], text[], text[])
    TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- The deliveries' guard (review D6): the application's roles may insert deliveries (the
-- outbox publishes on their transaction), and row-level security checks only the row's
-- org_id. Every delivery must be of a message of its own organization, and a webhook
-- delivery must go to an endpoint of that organization (never another's URL, signed with
-- another's secret): the foreign keys hold both, as they name the organization with the
-- message and the endpoint ((message_id, org_id), (endpoint_id, org_id); a foreign key's
-- check reads past row-level security, so it finds the row only if it is that
-- organization's), and refuse any other with SQLSTATE 23503. What no key can say: a task
-- that moves the platform's money (a transfer to an organizer, a transfer's reversal) is
-- ordered only by the owner (escrow in the worker, the CLI) or the platform's key
-- (`POST /escrows/release-due`), never by an organization's role: this trigger, on task
-- deliveries alone (WHEN: a webhook's or an e-mail's delivery, five of a checkout's, runs
-- no function; the trigger on each of them was ~30 us of the payment's backend CPU), with
-- SQLSTATE LXM01 and the reason as the message. With the owner's rights, so the lookup is
-- a primary-key probe with no row-level security (whose proof check costs two SHA-256 a
-- query): the row's own org_id is the one the policies' WITH CHECK accepted.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging.deliveries_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_type text;
BEGIN
    SELECT m.type INTO v_type FROM messaging.messages m
     WHERE m.id = NEW.message_id AND m.org_id = NEW.org_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM01', MESSAGE = 'delivery_org_mismatch',
            DETAIL = 'a delivery belongs to the organization of its message';
    END IF;
    -- The role in force, as payments._trusted_caller reads it (not this function's owner).
    IF v_type IN ('stripe.transfer.requested', 'stripe.transfer_reversal.requested')
       AND NOT payments._trusted_caller() AND NOT payments.acting_as_platform() THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM01', MESSAGE = 'task_not_allowed',
            DETAIL = format('an organization''s role may not order a %s task', v_type);
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION messaging.deliveries_guard() FROM PUBLIC;
CREATE TRIGGER deliveries_guard BEFORE INSERT ON messaging.deliveries
    FOR EACH ROW WHEN (NEW.channel = 'task') EXECUTE FUNCTION messaging.deliveries_guard();

-- A delivery's shape refused (deliveries_webhook_has_endpoint, deliveries_email_has_recipient:
-- the CHECKs these rules were, SQLSTATE 23514, their error's fields).
CREATE FUNCTION messaging.refuse_shape(p_rule text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'messaging',
        TABLE = 'deliveries', CONSTRAINT = p_rule,
        MESSAGE = format('new row for relation "deliveries" violates check constraint "%s"',
                         p_rule),
        DETAIL = CASE p_rule WHEN 'deliveries_webhook_has_endpoint'
                     THEN 'A webhook''s delivery names an endpoint, and no other does.'
                     ELSE 'An e-mail''s delivery names a recipient, and no other does.' END;
END
$$;
REVOKE ALL ON FUNCTION messaging.refuse_shape(text) FROM PUBLIC;
CREATE FUNCTION messaging.deliveries_shape() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM messaging.refuse_shape(
        CASE WHEN (NEW.channel = 'webhook') <> (NEW.endpoint_id IS NOT NULL)
             THEN 'deliveries_webhook_has_endpoint' ELSE 'deliveries_email_has_recipient' END);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION messaging.deliveries_shape() FROM PUBLIC;
-- An UPDATE that sets none of the three columns (the workers' claims and outcomes) neither
-- starts this trigger nor compiles its WHEN.
CREATE TRIGGER deliveries_shape
    BEFORE UPDATE OF channel, endpoint_id, recipient ON messaging.deliveries FOR EACH ROW
    WHEN ((NEW.channel = 'webhook') <> (NEW.endpoint_id IS NOT NULL)
          OR (NEW.channel = 'email') <> (NEW.recipient IS NOT NULL))
    EXECUTE FUNCTION messaging.deliveries_shape();

-- The references' lookups are probes by the message's and the endpoint's keys (their id
-- first), whatever the statistics say (issue 11, session 37; ticketing.filter_only says more).
-- A plan built while the tables held a few rows (a new deployment, a benchmark's fresh
-- database: the session keeps it until ANALYZE replans) hashed them: every endpoint of every
-- organization read by a table scan at every publishing, and the messages by
-- messages_created (every message this transaction wrote, a batch's thousands included, at
-- each of its statements). The organization is compared with messaging.filter_only(v_org), a
-- VOLATILE identity the planner may neither use as an index key nor hoist out of the lookup
-- (a correlated EXISTS with a volatile condition is never hashed); the message's moment with
-- IS NOT DISTINCT FROM (created_at is NOT NULL: the same test), which no index serves, so
-- that messages_created cannot compete with the key either; the trigger runs with
-- enable_seqscan off. Every lookup still filters on the organization (docs/scaling.md).
CREATE FUNCTION messaging.filter_only(p_value uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION messaging.filter_only(uuid) FROM PUBLIC;

------------------------------------------------------------------------------------------
-- The deliveries' references (session 32). An enforced foreign key checks each row apart:
-- a payment's five deliveries ran ten checks (eight queries, each locking its message or
-- endpoint FOR KEY SHARE, the endpoint's lock a MultiXact whenever two payments of one
-- organization overlap), the most of a checkout's foreign-key checks. The two keys are
-- declared NOT ENFORCED (above) and checked here once per INSERT statement, over the rows
-- it inserted (the transition table), with the keys' error (23503) and names:
-- - the message, of the delivery's organization, locked FOR KEY SHARE as the key's check
--   locked it (the outbox's pruning deletes messages: a delivery inserted while its
--   message is being deleted waits for that deletion and is refused if it committed;
--   a message deleted after takes its deliveries with it, messages_cascade);
-- - the endpoint, of the delivery's organization (a webhook's: never another's URL signed
--   with another's secret), read without a lock: endpoints are never deleted (disabled
--   instead) nor their keys changed, both refused below, so none can go away under it.
-- A delivery's message, endpoint and organization never change once written (refused). With
-- the owner's rights: the lookups read past row-level security, as a key's check does.
-- Before the keys, the rows' shapes (a webhook's endpoint, an e-mail's recipient: the CHECKs
-- they were, refused with their names; session 35). It also sends the workers' NOTIFY.
------------------------------------------------------------------------------------------
CREATE FUNCTION messaging.deliveries_references() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off AS $$
DECLARE
    v_org uuid;
    v_name text;
    v_key text;
    -- This transaction's id: a message it wrote itself (publish_many writes a message and
    -- its deliveries in one statement) needs no lock (below).
    v_xid xid := pg_catalog.xid(pg_catalog.pg_current_xact_id());
    v_sent text;
BEGIN
    -- Wake the workers when the deliveries commit (NOTIFY is sent at commit, never before;
    -- a refusal below rolls it back with them). Here, not in a trigger of its own (session
    -- 35: one trigger call fewer per INSERT, ~60K backend instructions per payment,
    -- cachegrind); an assignment (a simple expression; void's text is ''), not PERFORM,
    -- which would run it as a query with an executor of its own.
    v_sent := pg_catalog.pg_notify('messaging_deliveries', '')::text;
    -- Organization by organization (a statement's rows are one organization's: the
    -- outbox's publishing), so that every lookup is pinned to one (docs/scaling.md).
    FOR v_org IN SELECT DISTINCT d.org_id FROM added d LOOP
        -- The usual case first (session 35): every delivery's message this transaction's own
        -- (the outbox's publishing writes the messages and their deliveries in one
        -- statement), every webhook's endpoint there. One plain lookup per reference, no
        -- lock, and the full check below (its plan of two branches, the locks' subplans, the
        -- error's text), which would find nothing and lock nothing either, is not started.
        IF NOT EXISTS (SELECT FROM added d
                        WHERE d.org_id = v_org
                          AND ((d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                               OR (d.channel = 'email') <> (d.recipient IS NOT NULL)
                               OR NOT EXISTS (SELECT FROM messaging.messages m
                                            WHERE m.id = d.message_id
                                              AND m.org_id = messaging.filter_only(v_org)
                                              AND m.xmin = v_xid
                                              AND m.created_at IS NOT DISTINCT FROM now())
                               OR (d.endpoint_id IS NOT NULL
                                   AND NOT EXISTS (SELECT FROM messaging.endpoints e
                                                    WHERE e.id = d.endpoint_id
                                                      AND e.org_id
                                                          = messaging.filter_only(v_org))))) THEN
            CONTINUE;
        END IF;
        -- The rows' own rules first, as the CHECKs they were refused a row before any key's
        -- check ran.
        SELECT CASE WHEN (d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                    THEN 'deliveries_webhook_has_endpoint'
                    ELSE 'deliveries_email_has_recipient' END
          INTO v_name
          FROM added d
         WHERE d.org_id = v_org
           AND ((d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                OR (d.channel = 'email') <> (d.recipient IS NOT NULL))
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            PERFORM messaging.refuse_shape(v_name);
        END IF;
        SELECT k.name, k.key INTO v_name, v_key
          FROM (SELECT 'deliveries_message_id_fkey' AS name,
                       format('(message_id, org_id)=(%s, %s)', d.message_id, d.org_id) AS key
                  FROM added d
                 WHERE d.org_id = v_org
                   -- A message this transaction wrote (at its top level: xmin is its id,
                   -- and created_at its moment: a frozen row ~2**32 transactions old keeps a
                   -- raw xmin that may equal this id)
                   -- cannot be deleted by another before this one commits (none sees it),
                   -- so it is only looked up; any other is locked FOR KEY SHARE as a key's
                   -- check locks it. CASE: the lookup first, the lock only if it found none.
                   AND CASE WHEN EXISTS (SELECT FROM messaging.messages m
                                          WHERE m.id = d.message_id
                                            AND m.org_id = messaging.filter_only(v_org)
                                            AND m.xmin = v_xid
                                            AND m.created_at IS NOT DISTINCT FROM now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM messaging.messages m
                                              WHERE m.id = d.message_id
                                                AND m.org_id = messaging.filter_only(v_org)
                                                FOR KEY SHARE) END
                UNION ALL
                SELECT 'deliveries_endpoint_id_fkey',
                       format('(endpoint_id, org_id)=(%s, %s)', d.endpoint_id, d.org_id)
                  FROM added d
                 WHERE d.org_id = v_org AND d.endpoint_id IS NOT NULL
                   AND NOT EXISTS (SELECT FROM messaging.endpoints e
                                    WHERE e.id = d.endpoint_id
                                      AND e.org_id = messaging.filter_only(v_org))) k
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'messaging',
                TABLE = 'deliveries', CONSTRAINT = v_name,
                MESSAGE = format('insert on table "deliveries" violates foreign key'
                                 ' constraint "%s"', v_name),
                DETAIL = format('Key %s is not present.', v_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION messaging.deliveries_references() FROM PUBLIC;
CREATE TRIGGER deliveries_references AFTER INSERT ON messaging.deliveries
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.deliveries_references();

-- What the references' checks rely on, refused: a change of a delivery's message, endpoint
-- or organization; an endpoint's deletion, truncation or new key; a message's new key, and
-- the truncation of messages (which would leave their deliveries behind).
CREATE FUNCTION messaging.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LXM03', MESSAGE = 'reference_change_refused',
        DETAIL = format('%s on messaging.%s is refused: deliveries name their message and'
                        ' endpoint by these keys', TG_OP, TG_TABLE_NAME);
END
$$;
CREATE TRIGGER deliveries_references_fixed BEFORE UPDATE OF message_id, endpoint_id, org_id
    ON messaging.deliveries FOR EACH ROW
    WHEN (NEW.message_id IS DISTINCT FROM OLD.message_id
          OR NEW.endpoint_id IS DISTINCT FROM OLD.endpoint_id
          OR NEW.org_id IS DISTINCT FROM OLD.org_id)
    EXECUTE FUNCTION messaging.refuse_change();
CREATE TRIGGER endpoints_no_delete BEFORE DELETE ON messaging.endpoints
    FOR EACH ROW EXECUTE FUNCTION messaging.refuse_change();
CREATE TRIGGER endpoints_no_truncate BEFORE TRUNCATE ON messaging.endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.refuse_change();
CREATE TRIGGER endpoints_no_new_key BEFORE UPDATE OF id, org_id ON messaging.endpoints
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.org_id IS DISTINCT FROM OLD.org_id)
    EXECUTE FUNCTION messaging.refuse_change();
CREATE TRIGGER messages_no_new_key BEFORE UPDATE OF id, org_id ON messaging.messages
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.org_id IS DISTINCT FROM OLD.org_id)
    EXECUTE FUNCTION messaging.refuse_change();
CREATE TRIGGER messages_no_truncate BEFORE TRUNCATE ON messaging.messages
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.refuse_change();

-- A message's deletion (the outbox's pruning) takes its deliveries (and their attempts, by
-- their own key) with it, as the key's ON DELETE CASCADE did: in the same statement's end,
-- with the owner's rights (past row-level security, as the cascade went). The cascade's
-- DELETE sees what its statement's snapshot sees: at READ COMMITTED a fresh one, which
-- (after the deletion's row locks, which a delivery's insert waits on by its FOR KEY SHARE)
-- sees every delivery committed before. At REPEATABLE READ or SERIALIZABLE it is the
-- transaction's first snapshot, blind to a delivery committed since (the key's cascade
-- looked again with a fresh one; a trigger cannot): a deletion of one message or more there
-- is refused, SQLSTATE LXM04 (delete_needs_read_committed), so no isolation level orphans a
-- delivery. A deletion that removes nothing is not refused.
CREATE FUNCTION messaging.messages_cascade() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       AND EXISTS (SELECT FROM removed) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM04', MESSAGE = 'delete_needs_read_committed',
            DETAIL = format('DELETE on messaging.messages must run at READ COMMITTED (this'
                            ' transaction is %s): the cascade to the deliveries needs a fresh'
                            ' snapshot', upper(pg_catalog.current_setting('transaction_isolation')));
    END IF;
    DELETE FROM messaging.deliveries d USING removed r
     WHERE d.message_id = r.id AND d.org_id = r.org_id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION messaging.messages_cascade() FROM PUBLIC;
CREATE TRIGGER messages_cascade AFTER DELETE ON messaging.messages
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.messages_cascade();
