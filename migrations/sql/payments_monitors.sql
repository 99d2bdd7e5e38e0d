-- The ledger's events through the outbox (issue 16 items 2 and 7): balance monitors and the
-- life of a hold. Both publish with messaging.publish (messaging.sql), on the transaction of
-- the posting or hold that caused them: the one arrow from `payments` into `messaging`.
-- Owned by ledger/monitors.py and ledger/hold_events.py; the engine's tables are only
-- watched here (triggers), never changed.

-- A timestamp as UTC ISO 8601 with microseconds, whatever the session's TimeZone.
CREATE FUNCTION payments._utc_text(p timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

------------------------------------------------------------------------------------------
-- Balance monitors
------------------------------------------------------------------------------------------

-- A monitor watches one account's posted, pending or available balance (on its normal side,
-- as ledger.Balance reads them) against `operator value`. `triggered` is the condition's
-- state as of the account's version `changed_version`: a posting that turns it true publishes
-- ledger.balance_monitor.triggered, one that turns it false ...recovered, once each (the
-- state and the account row are changed under the account's row lock). A deleted monitor
-- keeps its row (deleted_at), so a replay of its creation still answers it.
CREATE TABLE payments.balance_monitors (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    -- An account of org_id (checked by create_balance_monitor; accounts are never removed).
    -- No foreign key: it would add a check to every update of payments.accounts.
    account_id uuid NOT NULL,
    balance text NOT NULL CHECK (balance IN ('posted', 'pending', 'available')),
    operator text NOT NULL CHECK (operator IN ('<', '<=', '>', '>=', '=', '!=')),
    value bigint NOT NULL,
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    triggered boolean NOT NULL,
    changed_version bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    idempotency_key text CHECK (idempotency_key <> ''),
    request_hash text,
    CONSTRAINT balance_monitors_key UNIQUE (org_id, idempotency_key),
    CONSTRAINT balance_monitors_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX balance_monitors_account ON payments.balance_monitors (account_id)
    WHERE deleted_at IS NULL;
CREATE INDEX balance_monitors_org ON payments.balance_monitors (org_id, created_at, id);

-- A balance of an account row, as ledger.Balance computes it (numeric: no overflow).
CREATE FUNCTION payments._monitored_balance(a payments.accounts, p_balance text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_balance
        WHEN 'posted' THEN s * (a.posted_debits::numeric - a.posted_credits)
        WHEN 'pending' THEN s * ((a.posted_debits::numeric + a.pending_debits)
                                 - (a.posted_credits::numeric + a.pending_credits))
        ELSE CASE WHEN a.normal_side = 'debit'
                  THEN a.posted_debits::numeric - a.posted_credits - a.pending_credits
                  ELSE a.posted_credits::numeric - a.posted_debits - a.pending_debits END
    END
      FROM (SELECT CASE WHEN a.normal_side = 'debit' THEN 1 ELSE -1 END AS s) k
$$;

CREATE FUNCTION payments._monitor_holds(p_operator text, p_balance numeric, p_value bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_operator
        WHEN '<' THEN p_balance < p_value WHEN '<=' THEN p_balance <= p_value
        WHEN '>' THEN p_balance > p_value WHEN '>=' THEN p_balance >= p_value
        WHEN '=' THEN p_balance = p_value ELSE p_balance <> p_value END
$$;

CREATE FUNCTION payments._monitor_view(m payments.balance_monitors, p_current numeric,
                                       p_version bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'monitor_id', m.id, 'org_id', m.org_id, 'account_id', m.account_id,
        'balance', m.balance, 'operator', m.operator, 'value', m.value,
        'description', m.description, 'current', p_current, 'account_version', p_version,
        'occurred_at', payments._utc_text(clock_timestamp()))
$$;

-- After an account's balances changed: move every live monitor of it whose condition changed,
-- and publish the change (deduplicated by monitor and account version).
CREATE FUNCTION payments._watch_balance() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m payments.balance_monitors;
    v_current numeric;
    v_now boolean;
BEGIN
    FOR m IN SELECT * FROM payments.balance_monitors x
              WHERE x.account_id = NEW.id AND x.deleted_at IS NULL
              ORDER BY x.id FOR UPDATE
    LOOP
        v_current := payments._monitored_balance(NEW, m.balance);
        v_now := payments._monitor_holds(m.operator, v_current, m.value);
        CONTINUE WHEN v_now = m.triggered OR NEW.version < m.changed_version;
        UPDATE payments.balance_monitors
           SET triggered = v_now, changed_version = NEW.version
         WHERE id = m.id;
        PERFORM messaging.publish(
            m.org_id,
            CASE WHEN v_now THEN 'ledger.balance_monitor.triggered'
                 ELSE 'ledger.balance_monitor.recovered' END,
            'balance_monitor', m.id::text, payments._monitor_view(m, v_current, NEW.version),
            format('ledger.balance_monitor:%s:%s:%s', m.id, NEW.version, v_now));
    END LOOP;
    RETURN NULL;
END
$$;
-- Fired by an UPDATE naming a balance column (`UPDATE OF`: decided from the statement's
-- target columns, nothing evaluated) of an account with a live monitor: the WHEN is the
-- smallest test, since a trigger's WHEN is read from its stored text and compiled again by
-- every UPDATE of an account (the balances' row comparison was part of each posting's cost).
-- An UPDATE setting the balances to what they were calls the function, which finds no
-- monitor whose condition changed (the balances are what they were when it was judged).
CREATE TRIGGER accounts_watch_balance
    AFTER UPDATE OF posted_debits, posted_credits, pending_debits, pending_credits
    ON payments.accounts
    FOR EACH ROW
    WHEN (NEW.monitored)
    EXECUTE FUNCTION payments._watch_balance();

-- Keep accounts.monitored equal to "the account has a live monitor", for an account whose
-- row the caller has locked (so a concurrent create or delete waits and then sees this one).
-- Runs under the callers' SET payments.monitors = 'on', which accounts_guard asks for.
CREATE FUNCTION payments._mark_monitored(p_account uuid) RETURNS void
LANGUAGE sql AS $$
    UPDATE payments.accounts a
       SET monitored = x.live
      FROM (SELECT EXISTS (SELECT FROM payments.balance_monitors m
                            WHERE m.account_id = p_account AND m.deleted_at IS NULL) AS live) x
     WHERE a.id = p_account AND a.monitored IS DISTINCT FROM x.live
$$;

-- Create a monitor for p_org: p = {account_id, balance, operator, value, description, key,
-- hash}. Answers {id, replayed}. The account is locked (as a posting locks it) while its
-- balance is read, so the first state is exact; a condition already true publishes
-- ...triggered at once. Refusals (LX001): organization_not_found, account_not_found,
-- monitor_on_high_volume_account, invalid_monitor, idempotency_conflict.
CREATE FUNCTION payments.create_balance_monitor(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET payments.monitors = 'on' AS $$
DECLARE
    a payments.accounts;
    m payments.balance_monitors;
    v_current numeric;
BEGIN
    PERFORM payments._check_org(p_org);
    IF p ->> 'key' IS NOT NULL THEN
        SELECT * INTO m FROM payments.balance_monitors
         WHERE org_id = p_org AND idempotency_key = p ->> 'key';
        IF FOUND THEN
            IF m.request_hash IS DISTINCT FROM p ->> 'hash' THEN
                PERFORM payments._fail('idempotency_conflict',
                    jsonb_build_object('idempotency_key', p ->> 'key'));
            END IF;
            RETURN jsonb_build_object('id', m.id, 'replayed', true);
        END IF;
    END IF;
    IF coalesce(p ->> 'balance', '') NOT IN ('posted', 'pending', 'available')
       OR coalesce(p ->> 'operator', '') NOT IN ('<', '<=', '>', '>=', '=', '!=')
       OR jsonb_typeof(p -> 'value') IS DISTINCT FROM 'number' THEN
        PERFORM payments._fail('invalid_monitor', jsonb_build_object('request', p - 'hash'));
    END IF;
    SELECT * INTO a FROM payments.accounts
     WHERE id = (p ->> 'account_id')::uuid AND org_id = p_org FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM payments._fail('account_not_found',
            jsonb_build_object('account_id', p ->> 'account_id'));
    END IF;
    IF a.high_volume THEN
        PERFORM payments._fail('monitor_on_high_volume_account',
            jsonb_build_object('account_id', a.id));
    END IF;
    v_current := payments._monitored_balance(a, p ->> 'balance');
    INSERT INTO payments.balance_monitors (org_id, account_id, balance, operator, value,
                                           description, triggered, changed_version,
                                           idempotency_key, request_hash)
    VALUES (p_org, a.id, p ->> 'balance', p ->> 'operator', (p ->> 'value')::bigint,
            coalesce(p ->> 'description', ''),
            payments._monitor_holds(p ->> 'operator', v_current, (p ->> 'value')::bigint),
            a.version, p ->> 'key', p ->> 'hash')
    RETURNING * INTO m;
    PERFORM payments._mark_monitored(a.id);
    IF m.triggered THEN
        PERFORM messaging.publish(m.org_id, 'ledger.balance_monitor.triggered',
            'balance_monitor', m.id::text, payments._monitor_view(m, v_current, a.version),
            format('ledger.balance_monitor:%s:%s:%s', m.id, a.version, true));
    END IF;
    RETURN jsonb_build_object('id', m.id, 'replayed', false);
END
$$;

-- Delete a monitor of p_org (it stops watching; its row stays, marked). Deleting it again
-- answers the same. The account is locked first (as a posting locks it before its monitors),
-- then its monitored flag is recomputed: cleared with its last live monitor.
-- Refusal: monitor_not_found.
CREATE FUNCTION payments.delete_balance_monitor(p_org uuid, p_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET payments.monitors = 'on' AS $$
DECLARE
    v_account uuid;
BEGIN
    PERFORM payments._check_org(p_org);
    SELECT account_id INTO v_account FROM payments.balance_monitors
     WHERE id = p_id AND org_id = p_org;
    IF NOT FOUND THEN
        PERFORM payments._fail('monitor_not_found', jsonb_build_object('monitor_id', p_id));
    END IF;
    PERFORM FROM payments.accounts WHERE id = v_account FOR NO KEY UPDATE;
    UPDATE payments.balance_monitors SET deleted_at = coalesce(deleted_at, now())
     WHERE id = p_id;
    PERFORM payments._mark_monitored(v_account);
    RETURN p_id;
END
$$;

ALTER TABLE payments.balance_monitors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.balance_monitors TO liventix_app
    USING (org_id = (SELECT payments.current_org_id()));
CREATE POLICY platform ON payments.balance_monitors TO liventix_platform
    USING ((SELECT payments.acting_as_platform()));
GRANT SELECT ON payments.balance_monitors TO liventix_app, liventix_platform;

------------------------------------------------------------------------------------------
-- A hold's life as events: ledger.hold.created when it is made, ledger.hold.posted,
-- .voided or .expired when it is resolved (once: hold_resolutions' key), each on the
-- transaction that did it, for the hold's organization.
------------------------------------------------------------------------------------------

CREATE FUNCTION payments._hold_event(h payments.holds, p_status text,
                                     r payments.hold_resolutions)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'hold_id', h.id, 'org_id', h.org_id, 'status', p_status,
        'debit_account_id', h.debit_account_id, 'credit_account_id', h.credit_account_id,
        'amount', h.amount, 'currency', h.currency,
        'expires_at', payments._utc_text(h.expires_at), 'description', h.description,
        'metadata', h.metadata, 'posted_amount', coalesce(r.posted_amount, 0),
        'entry_id', r.entry_id,
        'occurred_at', payments._utc_text(coalesce(r.created_at, h.created_at)))
$$;

CREATE FUNCTION payments._publish_hold_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM messaging.publish(NEW.org_id, 'ledger.hold.created', 'hold', NEW.id::text,
                              payments._hold_event(NEW, 'created', NULL),
                              'ledger.hold.created:' || NEW.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION payments._publish_hold_resolved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h payments.holds;
BEGIN
    SELECT * INTO h FROM payments.holds WHERE id = NEW.hold_id;
    PERFORM messaging.publish(NEW.org_id, 'ledger.hold.' || NEW.kind, 'hold', NEW.hold_id::text,
                              payments._hold_event(h, NEW.kind, NEW),
                              'ledger.hold.' || NEW.kind || ':' || NEW.hold_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER holds_publish_created AFTER INSERT ON payments.holds
    FOR EACH ROW EXECUTE FUNCTION payments._publish_hold_created();
CREATE TRIGGER hold_resolutions_publish AFTER INSERT ON payments.hold_resolutions
    FOR EACH ROW EXECUTE FUNCTION payments._publish_hold_resolved();

REVOKE EXECUTE ON FUNCTION payments._utc_text(timestamptz),
    payments._monitored_balance(payments.accounts, text),
    payments._monitor_holds(text, numeric, bigint),
    payments._monitor_view(payments.balance_monitors, numeric, bigint),
    payments._watch_balance(), payments._mark_monitored(uuid),
    payments._hold_event(payments.holds, text, payments.hold_resolutions),
    payments._publish_hold_created(), payments._publish_hold_resolved(),
    payments.create_balance_monitor(uuid, jsonb), payments.delete_balance_monitor(uuid, uuid)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.create_balance_monitor(uuid, jsonb),
    payments.delete_balance_monitor(uuid, uuid) TO liventix_app, liventix_platform;
