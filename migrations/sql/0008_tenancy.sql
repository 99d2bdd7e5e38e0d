-- Tenancy that holds against the application's own database role (0008). See docs/tenancy.md.
--
-- Until now row-level security trusted `liventix.org_id`, a setting any role may set, and the
-- platform's policies trusted a role membership the API's login role had. Now:
--
-- * Who a transaction acts for is an *actor* (an organization's id, or 'platform') proven by
--   `liventix.actor_proof`: an HMAC-SHA256, under a server secret only the schema's owner can
--   read (payments.tenancy_secret), of the actor, the backend's pid and the transaction's start.
--   A proof is good for its own transaction only; a role that sets the two settings by hand
--   acts for no one.
-- * Only two functions issue a proof: payments.authenticate (an API key's secret, checked
--   against its hash: its organization, or the platform for the platform's key), executable
--   by the application's roles; and payments.act_for (any organization), executable only by
--   the owner (the worker, the CLI, the demo), never by the application's roles.
-- * payments.current_org_id() returns the proven organization (or NULL), and
--   payments.acting_as_platform() whether the platform's key was presented; every tenant
--   policy reads the former, every platform policy the latter, each once per statement.
-- * The ledger's door acts for any organization only for the platform's proof or the owner.
-- * messaging.inbox gets row-level security: the application's role may add an event and see
--   what its own transaction added, nothing else; the API keys table is the owner's alone;
--   webhook secrets are stored sealed (AES-GCM, the application's key: outbox/sealing.py) and
--   their column is unreadable to the application's roles.
-- * A hold's expiry must lie in the future (hold_expiry_not_in_future).

-- The secret that signs actors, as the two HMAC pads of a 64-byte key from the server's strong
-- random source (gen_random_uuid). Nobody but the owner reads it.
CREATE TABLE payments.tenancy_secret (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    inner_pad bytea NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad bytea NOT NULL CHECK (length(outer_pad) = 64)
);
REVOKE ALL ON payments.tenancy_secret FROM PUBLIC;

DO $$
DECLARE
    k bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                              || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
                      'hex');
    ipad bytea := k;
    opad bytea := k;
BEGIN
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);  -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);  -- 0x5c
    END LOOP;
    INSERT INTO payments.tenancy_secret (inner_pad, outer_pad) VALUES (ipad, opad);
END
$$;

-- The proof of `p_actor` for the current transaction of this backend.
CREATE FUNCTION payments._actor_proof(p_actor text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT encode(sha256(s.outer_pad || sha256(s.inner_pad || convert_to(
               p_actor || '|' || pg_backend_pid()::text || '|'
               || (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint::text,
               'UTF8'))), 'hex')
      FROM payments.tenancy_secret s
$$;
REVOKE ALL ON FUNCTION payments._actor_proof(text) FROM PUBLIC;

-- Mark the current transaction as acting for `p_actor` (an organization's id as text, or
-- 'platform'); transaction-local, as SET LOCAL.
CREATE FUNCTION payments._act_as(p_actor text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('liventix.org_id', CASE WHEN p_actor = 'platform' THEN '' ELSE p_actor END,
                       true);
    PERFORM set_config('liventix.actor_proof', payments._actor_proof(p_actor), true);
END
$$;
REVOKE ALL ON FUNCTION payments._act_as(text) FROM PUBLIC;

-- The actor the current transaction proved ('platform' or an organization's id), or NULL.
CREATE FUNCTION payments.current_actor() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT a.actor
      FROM (SELECT coalesce(nullif(current_setting('liventix.org_id', true), ''), 'platform')
                   AS actor) a
     WHERE current_setting('liventix.actor_proof', true) = payments._actor_proof(a.actor)
$$;

-- The organization the current transaction proved it acts for; NULL otherwise (the platform,
-- or nobody).
CREATE OR REPLACE FUNCTION payments.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS
$$ SELECT CASE WHEN a <> 'platform' THEN a::uuid END FROM payments.current_actor() a $$;

CREATE OR REPLACE FUNCTION messaging.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$ SELECT payments.current_org_id() $$;

CREATE OR REPLACE FUNCTION ticketing.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$ SELECT payments.current_org_id() $$;

-- Whether the current transaction presented the platform's key (or the owner acted for it).
CREATE FUNCTION payments.acting_as_platform() RETURNS boolean
LANGUAGE sql STABLE PARALLEL RESTRICTED AS
$$ SELECT coalesce(payments.current_actor() = 'platform', false) $$;

-- Whether the caller is the schema's owner (or has its rights): the worker, the CLI, the
-- demo. The role in force counts (SET ROLE liventix_app by the owner is no longer the owner);
-- only a member of a role can set it, so no application role can pass for the owner.
CREATE FUNCTION payments._trusted_caller() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT pg_has_role(
        CASE WHEN current_setting('role') = 'none' THEN session_user::text
             ELSE current_setting('role') END::name,
        (SELECT nspowner FROM pg_namespace WHERE nspname = 'payments'),
        'USAGE')
$$;

GRANT EXECUTE ON FUNCTION payments.current_actor(), payments.current_org_id(),
    messaging.current_org_id(), ticketing.current_org_id(), payments.acting_as_platform()
    TO liventix_app, liventix_platform;

-- An API key's secret makes the transaction act for the key's organization (the platform for
-- the platform's key) and answers what is stored under the request's Idempotency-Key in the
-- key's scope. No row: unknown key, wrong secret, or revoked.
CREATE FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text)
RETURNS TABLE (key_id uuid, org_id uuid, method text, path text, request_sha256 text,
               status int, content_type text, response text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_org uuid;
BEGIN
    SELECT k.id, k.org_id INTO v_id, v_org
      FROM payments.api_keys k
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
       AND k.secret_sha256 = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM payments._act_as(coalesce(v_org::text, 'platform'));
    RETURN QUERY
        SELECT v_id, v_org, i.method, i.path, i.request_sha256, i.status, i.content_type,
               i.response::text
          FROM (SELECT 1) one
          LEFT JOIN payments.api_idempotency i
                 ON i.scope = coalesce(v_org::text, 'platform') AND i.key = p_idempotency_key;
END
$$;
REVOKE ALL ON FUNCTION payments.authenticate(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.authenticate(text, text, text)
    TO liventix_app, liventix_platform;

-- The owner's way to act for an organization (NULL: the platform) without its key: the
-- worker, the inbox's handlers, the CLI. Not granted to any application role.
CREATE FUNCTION payments.act_for(p_org uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM payments._act_as(coalesce(p_org::text, 'platform'));
END
$$;
REVOKE ALL ON FUNCTION payments.act_for(uuid) FROM PUBLIC;

------------------------------------------------------------------------------------------
-- The ledger's door: acting for any organization is the platform's proof or the owner's
------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION payments._check_org(p_org uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_acting uuid := payments.current_org_id();
BEGIN
    IF p_org IS NULL
       OR (v_acting IS NOT NULL AND v_acting <> p_org)
       OR (v_acting IS NULL AND NOT payments.acting_as_platform()
           AND NOT payments._trusted_caller())
       OR NOT EXISTS (SELECT FROM payments.organizations WHERE id = p_org) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION payments._check_platform() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF payments.current_org_id() IS NOT NULL
       OR NOT (payments.acting_as_platform() OR payments._trusted_caller()) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'ledger maintenance is the platform''s, acting for no organization'));
    END IF;
END
$$;

------------------------------------------------------------------------------------------
-- Policies: the tenant's read the proven organization, the platform's the platform's proof,
-- each evaluated once per statement (an InitPlan), not per row
------------------------------------------------------------------------------------------

DO $$
DECLARE
    p record;
    v_using text;
    v_check text;
BEGIN
    -- Expressions deparsed schema-qualified, so they can be edited as text.
    PERFORM set_config('search_path', '', true);
    FOR p IN SELECT schemaname, tablename, policyname, qual, with_check
               FROM pg_policies
              WHERE schemaname IN ('payments', 'messaging', 'ticketing')
                AND policyname IN ('tenant', 'platform')
    LOOP
        IF p.policyname = 'platform' THEN
            EXECUTE format('ALTER POLICY platform ON %I.%I
                            USING ((SELECT payments.acting_as_platform()))
                            WITH CHECK ((SELECT payments.acting_as_platform()))',
                           p.schemaname, p.tablename);
        ELSIF p.qual LIKE '%current_org_id()%' THEN
            v_using := regexp_replace(p.qual, '(payments|messaging|ticketing)\.current_org_id\(\)',
                                      '(SELECT \1.current_org_id())', 'g');
            v_check := regexp_replace(p.with_check,
                                      '(payments|messaging|ticketing)\.current_org_id\(\)',
                                      '(SELECT \1.current_org_id())', 'g');
            EXECUTE format('ALTER POLICY tenant ON %I.%I USING (%s)%s',
                           p.schemaname, p.tablename, v_using,
                           CASE WHEN v_check IS NULL THEN ''
                                ELSE format(' WITH CHECK (%s)', v_check) END);
        END IF;
    END LOOP;
    PERFORM set_config('search_path', 'public', true);
END
$$;

-- The API keys are the owner's alone (the CLI creates and revokes them); the API reaches
-- them only through payments.authenticate.
DROP POLICY platform ON payments.api_keys;
REVOKE ALL ON payments.api_keys FROM liventix_app, liventix_platform;

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
ALTER TABLE messaging.endpoint_secrets DROP CONSTRAINT endpoint_secrets_secret_check;
ALTER TABLE messaging.endpoint_secrets
    ADD CONSTRAINT endpoint_secrets_sealed CHECK (secret LIKE 'lxs1:%');
REVOKE SELECT, UPDATE ON messaging.endpoint_secrets FROM liventix_app, liventix_platform;
GRANT SELECT (id, endpoint_id, org_id, created_at, expires_at), UPDATE (expires_at)
    ON messaging.endpoint_secrets TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- A hold's expiry must lie in the future (by the database's clock)
------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION payments._create_hold(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_debit uuid := (p ->> 'debit_account_id')::uuid;
    v_credit uuid := (p ->> 'credit_account_id')::uuid;
    v_amount bigint := (p ->> 'amount')::bigint;
    v_currency text := p ->> 'currency';
    v_expires timestamptz := (p ->> 'expires_at')::timestamptz;
    v_accounts payments._account[];
    a payments._account;
    v_id uuid := gen_random_uuid();
    v_available numeric;
BEGIN
    IF v_expires IS NOT NULL AND v_expires <= now() THEN
        PERFORM payments._fail('hold_expiry_not_in_future',
            jsonb_build_object('expires_at', v_expires, 'now', now()));
    END IF;
    v_accounts := payments._lock_accounts(p_org, ARRAY[v_debit, v_credit], true);
    FOREACH a IN ARRAY v_accounts LOOP
        IF a.currency <> v_currency THEN
            PERFORM payments._fail('currency_mismatch', jsonb_build_object('account_id', a.id,
                'account_currency', a.currency, 'line_currency', v_currency));
        END IF;
    END LOOP;
    FOREACH a IN ARRAY v_accounts LOOP
        IF a.closed THEN
            PERFORM payments._fail('account_closed', jsonb_build_object('account_id', a.id));
        END IF;
        v_available := CASE
            WHEN a.id = v_debit AND a.debits_must_not_exceed_credits
                THEN a.posted_credits - a.posted_debits - a.pending_debits
            WHEN a.id = v_credit AND a.credits_must_not_exceed_debits
                THEN a.posted_debits - a.posted_credits - a.pending_credits
        END;
        IF v_available < v_amount THEN
            PERFORM payments._fail('insufficient_funds', jsonb_build_object('account_id', a.id,
                'currency', a.currency, 'balance', v_available, 'shortfall', v_amount - v_available));
        END IF;
        IF (CASE WHEN a.id = v_debit THEN a.pending_debits ELSE a.pending_credits END)::numeric
           + v_amount > 9223372036854775807 THEN
            PERFORM payments._fail('balance_overflow', jsonb_build_object('account_id', a.id));
        END IF;
    END LOOP;
    UPDATE payments.accounts
       SET pending_debits = pending_debits + CASE WHEN id = v_debit THEN v_amount ELSE 0 END,
           pending_credits = pending_credits + CASE WHEN id = v_credit THEN v_amount ELSE 0 END,
           version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
     WHERE id IN (v_debit, v_credit);
    INSERT INTO payments.holds (id, org_id, debit_account_id, credit_account_id, amount, currency,
                                expires_at, description, metadata, idempotency_key)
    VALUES (v_id, p_org, v_debit, v_credit, v_amount, v_currency,
            v_expires, coalesce(p ->> 'description', ''),
            coalesce(p -> 'metadata', '{}'::jsonb), p ->> 'key');
    RETURN to_jsonb(v_id);
END
$$;
