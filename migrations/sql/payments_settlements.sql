-- Settlements (Modern Treasury's ledger account settlements): a settlement closes a set of
-- entries on one account up to a moment. It records the net of the covered entries' lines on
-- that account (on the account's normal side, in its currency) and links every entry it
-- covers. An entry is settled at most once per account (settlement_entries' unique key, held
-- against raw SQL too); settlements and their links are append-only. Writes go through
-- payments.create_settlement (the owner's rights, the ledger's proof of who acts, idempotent
-- by key in payments.idempotency_keys); reads go through row-level security like the
-- ledger's other tables. Loaded before escrow.sql: escrow's transfers name their settlement
-- (payments.organizer_transfers.settlement_id); it needs nothing but the ledger's own files.

CREATE TABLE payments.settlements (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    account_id uuid NOT NULL,
    currency text NOT NULL,
    -- The covered lines on the account: their totals, and the net on its normal side.
    debits numeric(20, 0) NOT NULL CHECK (debits >= 0),
    credits numeric(20, 0) NOT NULL CHECK (credits >= 0),
    amount numeric(21, 0) NOT NULL,
    entry_count int NOT NULL CHECK (entry_count > 0),
    up_to timestamptz NOT NULL,
    description text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT settlements_account_fkey FOREIGN KEY (account_id, org_id, currency)
        REFERENCES payments.accounts (id, org_id, currency),
    CONSTRAINT settlements_org_key_key UNIQUE (org_id, idempotency_key),
    CONSTRAINT settlements_id_account_key UNIQUE (id, account_id, org_id),
    CONSTRAINT settlements_up_to_recorded CHECK (up_to <= created_at),
    CONSTRAINT settlements_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX settlements_account ON payments.settlements (account_id, created_at);
CREATE INDEX settlements_org_created ON payments.settlements (org_id, created_at, id);

CREATE TABLE payments.settlement_entries (
    settlement_id uuid NOT NULL,
    account_id uuid NOT NULL,
    -- An entry with a line on the account, recorded by the cut-off (settlement_entries_checked,
    -- which makes it an entry that exists): no foreign key, since a settlement of one of the
    -- platform's accounts covers entries booked for other organizations, so no key of
    -- payments.entries holding org_id could be named (docs/scaling.md: the platform's
    -- accounts as per-shard sub-accounts).
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    CONSTRAINT settlement_entries_settlement_fkey FOREIGN KEY (settlement_id, account_id, org_id)
        REFERENCES payments.settlements (id, account_id, org_id),
    -- An entry is settled at most once on an account, whoever inserts.
    CONSTRAINT settlement_entries_once UNIQUE (account_id, entry_id, org_id),
    CONSTRAINT settlement_entries_pkey PRIMARY KEY (settlement_id, entry_id, org_id)
);
CREATE INDEX settlement_entries_entry ON payments.settlement_entries (entry_id);

-- A link names an entry with a line on the settlement's account, recorded by its cut-off.
CREATE FUNCTION payments.check_settlement_links() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_bad record;
BEGIN
    SELECT n.settlement_id, n.entry_id INTO v_bad
      FROM new_links n JOIN payments.settlements s ON s.id = n.settlement_id
     WHERE n.org_id <> s.org_id
        OR NOT EXISTS (SELECT FROM payments.lines l
                        WHERE l.entry_id = n.entry_id AND l.account_id = n.account_id
                          AND l.created_at <= s.up_to)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('settlement %s cannot cover entry %s: it has no line on the'
                             ' account recorded by the cut-off', v_bad.settlement_id,
                             v_bad.entry_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER settlement_entries_checked AFTER INSERT ON payments.settlement_entries
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION payments.check_settlement_links();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['settlements', 'settlement_entries'] LOOP
        EXECUTE format('CREATE TRIGGER %I_no_delete BEFORE DELETE ON payments.%I
                        FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON payments.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_update BEFORE UPDATE ON payments.%I
                        FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('ALTER TABLE payments.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON payments.%I TO liventix_app
                        USING (org_id = (SELECT payments.current_org_id()))
                        WITH CHECK (org_id = (SELECT payments.current_org_id()))', t);
        EXECUTE format('CREATE POLICY platform ON payments.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))
                        WITH CHECK ((SELECT payments.acting_as_platform()))', t);
    END LOOP;
END
$$;

-- Settle an account: p is {org_id, key, hash, account_id, up_to (null: now), entry_ids
-- (null: every unsettled entry), description, metadata}. Returns {id, replayed}. Covers the
-- entries with a line on the account recorded by up_to and not settled on it yet (of
-- entry_ids only, when given: each must be one of them). Serialised per account by an
-- advisory lock (postings are not held back); a concurrent settlement that took an entry
-- first makes the later one refuse it, never settle it twice.
CREATE FUNCTION payments.create_settlement(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- The idempotency keys' organization check runs on this door's key (a session that set
-- payments.engine_checked itself must not skip it: only the engine's fast doors may).
SET payments.engine_checked = 'off' AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_key text := p ->> 'key';
    v_account payments.accounts;
    v_now timestamptz := clock_timestamp();
    v_up_to timestamptz := coalesce((p ->> 'up_to')::timestamptz, v_now);
    v_ids uuid[];
    v_stored record;
    v_bad record;
    v_totals record;
    v_id uuid;
    v_msg text;
BEGIN
    PERFORM payments._check_org(v_org);
    IF v_key IS NULL OR v_key = '' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', 'a key is needed'));
    END IF;
    IF v_up_to > v_now THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'up_to is in the future', 'up_to', v_up_to));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('payments.settle:' || (p ->> 'account_id'), 0));
    SELECT k.operation, k.request_hash, k.result INTO v_stored
      FROM payments.idempotency_keys k WHERE k.org_id = v_org AND k.key = v_key;
    IF FOUND THEN
        IF v_stored.operation <> 'create_settlement' OR v_stored.request_hash <> p ->> 'hash' THEN
            PERFORM payments._fail('idempotency_conflict',
                                   jsonb_build_object('idempotency_key', v_key));
        END IF;
        RETURN v_stored.result || jsonb_build_object('replayed', true);
    END IF;
    SELECT * INTO v_account FROM payments.accounts a WHERE a.id = (p ->> 'account_id')::uuid;
    IF NOT FOUND OR v_account.org_id <> v_org THEN
        PERFORM payments._fail('account_not_found',
                               jsonb_build_object('account_id', p ->> 'account_id'));
    END IF;
    IF p -> 'entry_ids' IS NOT NULL AND jsonb_typeof(p -> 'entry_ids') = 'array' THEN
        v_ids := ARRAY(SELECT DISTINCT x::uuid FROM jsonb_array_elements_text(p -> 'entry_ids') x);
        SELECT i AS entry_id, se.settlement_id INTO v_bad
          FROM unnest(v_ids) i
          LEFT JOIN payments.settlement_entries se
                 ON se.account_id = v_account.id AND se.entry_id = i
         WHERE se.entry_id IS NOT NULL
            OR NOT EXISTS (SELECT FROM payments.lines l
                            WHERE l.entry_id = i AND l.account_id = v_account.id
                              AND l.created_at <= v_up_to)
         LIMIT 1;
        IF FOUND AND v_bad.settlement_id IS NOT NULL THEN
            PERFORM payments._fail('entry_already_settled', jsonb_build_object(
                'entry_id', v_bad.entry_id, 'settlement_id', v_bad.settlement_id,
                'account_id', v_account.id));
        ELSIF FOUND THEN
            PERFORM payments._fail('entry_not_settleable', jsonb_build_object(
                'entry_id', v_bad.entry_id, 'account_id', v_account.id, 'up_to', v_up_to));
        END IF;
    ELSE
        v_ids := ARRAY(
            SELECT DISTINCT l.entry_id FROM payments.lines l
             WHERE l.account_id = v_account.id AND l.created_at <= v_up_to
               AND NOT EXISTS (SELECT FROM payments.settlement_entries se
                                WHERE se.account_id = v_account.id
                                  AND se.entry_id = l.entry_id));
    END IF;
    IF cardinality(v_ids) = 0 THEN
        PERFORM payments._fail('nothing_to_settle', jsonb_build_object(
            'account_id', v_account.id, 'up_to', v_up_to));
    END IF;
    SELECT coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits
      INTO v_totals
      FROM payments.lines l
     WHERE l.account_id = v_account.id AND l.entry_id = ANY (v_ids);
    INSERT INTO payments.settlements (org_id, account_id, currency, debits, credits, amount,
                                      entry_count, up_to, description, metadata,
                                      idempotency_key, created_at)
    VALUES (v_org, v_account.id, v_account.currency, v_totals.debits, v_totals.credits,
            CASE WHEN v_account.normal_side = 'debit' THEN v_totals.debits - v_totals.credits
                 ELSE v_totals.credits - v_totals.debits END,
            cardinality(v_ids), v_up_to, coalesce(p ->> 'description', ''),
            coalesce(p -> 'metadata', '{}'::jsonb), v_key, v_now)
    RETURNING id INTO v_id;
    INSERT INTO payments.settlement_entries (settlement_id, account_id, entry_id, org_id)
    SELECT v_id, v_account.id, i, v_org FROM unnest(v_ids) i;
    INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
    VALUES (v_org, v_key, 'create_settlement', p ->> 'hash', 'succeeded',
            jsonb_build_object('id', v_id));
    RETURN jsonb_build_object('id', v_id, 'replayed', false);
EXCEPTION
    WHEN invalid_text_representation OR invalid_datetime_format
         OR datetime_field_overflow THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', v_msg));
END
$$;
REVOKE ALL ON FUNCTION payments.create_settlement(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION payments.check_settlement_links() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.create_settlement(jsonb) TO liventix_app, liventix_platform;
GRANT SELECT ON payments.settlements, payments.settlement_entries
    TO liventix_app, liventix_platform;
