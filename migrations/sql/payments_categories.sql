-- Account categories (named, nestable groups of one organization's accounts of one currency)
-- and currency conversions through the platform's FX liquidity accounts (ledger/categories.py,
-- ledger/fx.py). Loaded after payments_engine.sql: it calls the engine's _check_org and _fail
-- and stores its idempotency keys in payments.idempotency_keys, beside the ledger's own.

------------------------------------------------------------------------------------------
-- Categories
------------------------------------------------------------------------------------------

CREATE TABLE payments.account_categories (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    code text NOT NULL CHECK (code <> '' AND length(code) <= 255),
    name text NOT NULL,
    currency text NOT NULL REFERENCES payments.currencies (code),
    -- The side its balances are shown on (members of either side are summed as raw debits
    -- and credits, then signed once: an organizer's receivable lowers what is owed to it).
    normal_side text NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_categories_org_code_key UNIQUE (org_id, code),
    CONSTRAINT account_categories_id_org_currency_key UNIQUE (id, org_id, currency),
    CONSTRAINT account_categories_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX account_categories_org_created ON payments.account_categories (org_id, created_at, id);

-- A member is an account or a category, of the category's organization and currency (the
-- composite foreign keys say so: PostgreSQL refuses another organization's account or another
-- currency). Membership is configuration, not money: it may be removed; balances as of a time
-- are those of today's members.
CREATE TABLE payments.category_members (
    id bigint GENERATED ALWAYS AS IDENTITY,
    category_id uuid NOT NULL,
    org_id uuid NOT NULL,
    currency text NOT NULL,
    account_id uuid,
    member_category_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT category_members_one_member CHECK ((account_id IS NULL) <> (member_category_id IS NULL)),
    CONSTRAINT category_members_not_itself CHECK (member_category_id <> category_id),
    CONSTRAINT category_members_category_fkey FOREIGN KEY (category_id, org_id, currency)
        REFERENCES payments.account_categories (id, org_id, currency),
    CONSTRAINT category_members_account_fkey FOREIGN KEY (account_id, org_id, currency)
        REFERENCES payments.accounts (id, org_id, currency),
    CONSTRAINT category_members_member_fkey FOREIGN KEY (member_category_id, org_id, currency)
        REFERENCES payments.account_categories (id, org_id, currency),
    CONSTRAINT category_members_account_once UNIQUE (category_id, account_id, org_id),
    CONSTRAINT category_members_category_once UNIQUE (category_id, member_category_id, org_id),
    CONSTRAINT category_members_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX category_members_account ON payments.category_members (account_id)
    WHERE account_id IS NOT NULL;

-- No cycles: a category may not contain itself through its members. Changes of one
-- organization's nesting are serialized by an advisory lock (two concurrent additions A in B
-- and B in A would each pass alone); the check reads after taking it, so it sees the other's
-- committed row.
CREATE FUNCTION payments.check_category_cycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('payments.category_members:' || NEW.org_id, 0));
    IF EXISTS (
        WITH RECURSIVE down(id) AS (
            SELECT NEW.member_category_id
            UNION
            SELECT m.member_category_id FROM payments.category_members m JOIN down ON m.category_id = down.id
             WHERE m.member_category_id IS NOT NULL)
        SELECT FROM down WHERE id = NEW.category_id)
    THEN
        PERFORM payments._fail('category_cycle', jsonb_build_object(
            'category_id', NEW.category_id, 'member_category_id', NEW.member_category_id));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER category_members_no_cycle BEFORE INSERT ON payments.category_members
    FOR EACH ROW WHEN (NEW.member_category_id IS NOT NULL)
    EXECUTE FUNCTION payments.check_category_cycle();

CREATE FUNCTION payments._create_category(p_org uuid, p jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'currency'));
    END IF;
    INSERT INTO payments.account_categories (org_id, code, name, currency, normal_side, metadata)
    VALUES (p_org, p ->> 'code', coalesce(p ->> 'name', p ->> 'code'), p ->> 'currency',
            p ->> 'normal_side', coalesce(p -> 'metadata', '{}'::jsonb))
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- Add or remove members ({category_id, account_ids, category_ids}); adding one twice or
-- removing one that is not there changes nothing.
CREATE FUNCTION payments._change_members(p_org uuid, p jsonb, p_add boolean) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    c payments.account_categories;
    v_accounts uuid[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'account_ids', '[]'))::uuid);
    v_categories uuid[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'category_ids', '[]'))::uuid);
    v_bad record;
BEGIN
    SELECT * INTO c FROM payments.account_categories
     WHERE id = (p ->> 'category_id')::uuid AND org_id = p_org;
    IF NOT FOUND THEN
        PERFORM payments._fail('category_not_found', jsonb_build_object('category_id', p ->> 'category_id'));
    END IF;
    IF NOT p_add THEN
        DELETE FROM payments.category_members
         WHERE category_id = c.id
           AND (account_id = ANY (v_accounts) OR member_category_id = ANY (v_categories));
        RETURN c.id;
    END IF;
    SELECT x.id, a.currency INTO v_bad FROM unnest(v_accounts) x(id)
      LEFT JOIN payments.accounts a ON a.id = x.id AND a.org_id = p_org
     WHERE a.currency IS DISTINCT FROM c.currency ORDER BY a.currency NULLS FIRST LIMIT 1;
    IF FOUND AND v_bad.currency IS NULL THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', v_bad.id));
    ELSIF FOUND THEN
        PERFORM payments._fail('category_currency_mismatch', jsonb_build_object(
            'category_id', c.id, 'category_currency', c.currency, 'member_id', v_bad.id,
            'member_currency', v_bad.currency));
    END IF;
    SELECT x.id, m.currency INTO v_bad FROM unnest(v_categories) x(id)
      LEFT JOIN payments.account_categories m ON m.id = x.id AND m.org_id = p_org
     WHERE m.currency IS DISTINCT FROM c.currency ORDER BY m.currency NULLS FIRST LIMIT 1;
    IF FOUND AND v_bad.currency IS NULL THEN
        PERFORM payments._fail('category_not_found', jsonb_build_object('category_id', v_bad.id));
    ELSIF FOUND THEN
        PERFORM payments._fail('category_currency_mismatch', jsonb_build_object(
            'category_id', c.id, 'category_currency', c.currency, 'member_id', v_bad.id,
            'member_currency', v_bad.currency));
    END IF;
    INSERT INTO payments.category_members (category_id, org_id, currency, account_id)
    SELECT DISTINCT c.id, p_org, c.currency, x FROM unnest(v_accounts) x
    ON CONFLICT DO NOTHING;
    INSERT INTO payments.category_members (category_id, org_id, currency, member_category_id)
    SELECT DISTINCT c.id, p_org, c.currency, x FROM unnest(v_categories) x
    ON CONFLICT DO NOTHING;
    RETURN c.id;
END
$$;

-- The categories' door: p = {org_id, operation, key, hash, ...the operation's payload}, the
-- operation one of create_category, add_category_members, remove_category_members. The key
-- is the ledger's (payments.idempotency_keys): the same request replays its result, another
-- request under it is a conflict. Returns {id, replayed}.
CREATE FUNCTION payments.category_write(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- The idempotency keys' organization check runs on this door's key (a session that set
-- payments.engine_checked itself must not skip it: only the engine's fast doors may).
SET payments.engine_checked = 'off' AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_op text := p ->> 'operation';
    v_key text := p ->> 'key';
    v_stored payments.idempotency_keys;
    v_id uuid;
    v_constraint text;
BEGIN
    IF v_op NOT IN ('create_category', 'add_category_members', 'remove_category_members')
       OR coalesce(v_key, '') = '' OR coalesce(p ->> 'hash', '') = '' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('operation', v_op));
    END IF;
    PERFORM payments._check_org(v_org);
    FOR v_attempt IN 1..5 LOOP
        SELECT * INTO v_stored FROM payments.idempotency_keys WHERE org_id = v_org AND key = v_key;
        IF FOUND THEN
            IF v_stored.operation <> v_op OR v_stored.request_hash <> p ->> 'hash' THEN
                PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
            END IF;
            RETURN v_stored.result || jsonb_build_object('replayed', true);
        END IF;
        BEGIN
            v_id := CASE v_op
                WHEN 'create_category' THEN payments._create_category(v_org, p)
                WHEN 'add_category_members' THEN payments._change_members(v_org, p, true)
                ELSE payments._change_members(v_org, p, false)
            END;
            INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
            VALUES (v_org, v_key, v_op, p ->> 'hash', 'succeeded', jsonb_build_object('id', v_id));
            RETURN jsonb_build_object('id', v_id, 'replayed', false);
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'idempotency_keys_pkey' THEN
                    CONTINUE;  -- a concurrent request under the same key won: replay it
                ELSIF v_constraint = 'account_categories_org_code_key' THEN
                    -- A concurrent request under the same key made it first (the chart's
                    -- categories, created by whichever of two first sales commits first):
                    -- replay it; under another key the code is taken.
                    IF EXISTS (SELECT FROM payments.idempotency_keys
                                WHERE org_id = v_org AND key = v_key) THEN
                        CONTINUE;
                    END IF;
                    PERFORM payments._fail('duplicate_category_code', jsonb_build_object(
                        'org_id', v_org, 'category_code', p ->> 'code'));
                END IF;
                RAISE;
            WHEN invalid_text_representation THEN
                PERFORM payments._fail('invalid_request', jsonb_build_object('reason', SQLERRM));
        END;
    END LOOP;
    RAISE EXCEPTION 'category_write: too many retries';
END
$$;

------------------------------------------------------------------------------------------
-- Currency conversions
------------------------------------------------------------------------------------------

-- One conversion: source_amount of the source account's currency moved to the platform's FX
-- liquidity account of that currency (source_entry_id), target_amount of the liquidity
-- account of the target currency moved to the target account (target_entry_id), both posted
-- together (ledger.post_entries). The rate is exact (a reduced fraction: target major units
-- per source major unit); target_amount is the exact conversion rounded down to the target's
-- minor unit, and the rounding (exact - target_amount, in target minor units, below one)
-- stays with the platform. PostgreSQL checks the arithmetic.
CREATE TABLE payments.conversions (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
    request_hash text NOT NULL,
    source_account_id uuid NOT NULL,
    target_account_id uuid NOT NULL,
    source_currency text NOT NULL REFERENCES payments.currencies (code),
    target_currency text NOT NULL REFERENCES payments.currencies (code),
    source_exponent smallint NOT NULL,
    target_exponent smallint NOT NULL,
    source_amount bigint NOT NULL CHECK (source_amount > 0),
    target_amount bigint NOT NULL CHECK (target_amount > 0),
    rate_numerator numeric NOT NULL CHECK (rate_numerator > 0 AND rate_numerator = trunc(rate_numerator)),
    rate_denominator numeric NOT NULL CHECK (rate_denominator > 0 AND rate_denominator = trunc(rate_denominator)),
    rate text NOT NULL,
    source_entry_id uuid NOT NULL,
    target_entry_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversions_org_key UNIQUE (org_id, idempotency_key),
    CONSTRAINT conversions_two_currencies CHECK (source_currency <> target_currency),
    -- target_amount <= exact < target_amount + 1, exact = source * rate * 10^(te - se), in
    -- integers (numeric's powers of ten with integer exponents are exact).
    CONSTRAINT conversions_rounded_down CHECK (
        target_amount::numeric * rate_denominator * power(10::numeric, source_exponent)
            <= source_amount::numeric * rate_numerator * power(10::numeric, target_exponent)
        AND source_amount::numeric * rate_numerator * power(10::numeric, target_exponent)
            < (target_amount::numeric + 1) * rate_denominator * power(10::numeric, source_exponent)),
    CONSTRAINT conversions_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT conversions_source_account_id_fkey FOREIGN KEY (source_account_id, org_id)
        REFERENCES payments.accounts (id, org_id),
    CONSTRAINT conversions_target_account_id_fkey FOREIGN KEY (target_account_id, org_id)
        REFERENCES payments.accounts (id, org_id),
    CONSTRAINT conversions_source_entry_id_fkey FOREIGN KEY (source_entry_id, org_id)
        REFERENCES payments.entries (id, org_id),
    CONSTRAINT conversions_target_entry_id_fkey FOREIGN KEY (target_entry_id, org_id)
        REFERENCES payments.entries (id, org_id)
);
CREATE INDEX conversions_org_created ON payments.conversions (org_id, created_at, id);

-- A conversion names its currencies' true exponents and the two entries it posted, whose lines
-- carry its amounts: checked as the row is written (as the owner: it sees every line).
CREATE FUNCTION payments.check_conversion() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('%s on payments.conversions is refused: conversions are append-only', TG_OP);
    END IF;
    IF (SELECT exponent FROM payments.currencies WHERE code = NEW.source_currency) <> NEW.source_exponent
       OR (SELECT exponent FROM payments.currencies WHERE code = NEW.target_currency) <> NEW.target_exponent
       OR NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.source_entry_id
                         AND l.entry_org_id = NEW.org_id AND l.account_id = NEW.source_account_id
                         AND l.side = 'debit' AND l.amount = NEW.source_amount
                         AND l.currency = NEW.source_currency)
       OR NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.target_entry_id
                         AND l.entry_org_id = NEW.org_id AND l.account_id = NEW.target_account_id
                         AND l.side = 'credit' AND l.amount = NEW.target_amount
                         AND l.currency = NEW.target_currency)
       -- and each entry moves the amount through the platform's liquidity account
       OR NOT EXISTS (SELECT FROM payments.lines l
                        JOIN payments.accounts a ON a.id = l.account_id
                        JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
                       WHERE l.entry_id = NEW.source_entry_id
                         AND a.code = 'fx_liquidity:' || lower(NEW.source_currency)
                         AND l.side = 'credit' AND l.amount = NEW.source_amount
                         AND l.currency = NEW.source_currency)
       OR NOT EXISTS (SELECT FROM payments.lines l
                        JOIN payments.accounts a ON a.id = l.account_id
                        JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
                       WHERE l.entry_id = NEW.target_entry_id
                         AND a.code = 'fx_liquidity:' || lower(NEW.target_currency)
                         AND l.side = 'debit' AND l.amount = NEW.target_amount
                         AND l.currency = NEW.target_currency)
    THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'the conversion does not match its currencies or entries'));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER conversions_check BEFORE INSERT OR UPDATE OR DELETE ON payments.conversions
    FOR EACH ROW EXECUTE FUNCTION payments.check_conversion();
CREATE TRIGGER conversions_no_truncate BEFORE TRUNCATE ON payments.conversions
    FOR EACH STATEMENT EXECUTE FUNCTION payments.check_conversion();

-- The platform's exchange rates: target major units per source major unit, an exact reduced
-- fraction, in force from valid_from (the latest one in force is the pair's current rate).
-- Written only through payments.set_fx_rate (the platform or the owner); every proven caller
-- reads them; append-only (a new rate is a new row).
CREATE TABLE payments.fx_rates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_currency text NOT NULL REFERENCES payments.currencies (code),
    target_currency text NOT NULL REFERENCES payments.currencies (code),
    rate_numerator numeric NOT NULL CHECK (rate_numerator > 0 AND rate_numerator < 1e18
                                           AND rate_numerator = trunc(rate_numerator)),
    rate_denominator numeric NOT NULL CHECK (rate_denominator > 0 AND rate_denominator < 1e18
                                             AND rate_denominator = trunc(rate_denominator)),
    valid_from timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fx_rates_two_currencies CHECK (source_currency <> target_currency),
    CONSTRAINT fx_rates_reduced CHECK (gcd(rate_numerator, rate_denominator) = 1)
);
CREATE INDEX fx_rates_pair ON payments.fx_rates (source_currency, target_currency, valid_from, id);

CREATE FUNCTION payments.fx_rates_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = format('%s on payments.fx_rates is refused: rates are append-only', TG_OP);
END
$$;
CREATE TRIGGER fx_rates_append_only BEFORE UPDATE OR DELETE ON payments.fx_rates
    FOR EACH ROW EXECUTE FUNCTION payments.fx_rates_append_only();
CREATE TRIGGER fx_rates_no_truncate BEFORE TRUNCATE ON payments.fx_rates
    FOR EACH STATEMENT EXECUTE FUNCTION payments.fx_rates_append_only();

-- The pair's rate in force now (none: no row).
CREATE FUNCTION payments._current_fx_rate(p_source text, p_target text) RETURNS payments.fx_rates
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM payments.fx_rates
     WHERE source_currency = p_source AND target_currency = p_target AND valid_from <= now()
     ORDER BY valid_from DESC, id DESC LIMIT 1
$$;

-- The rates' door: p = {source_currency, target_currency, rate_numerator, rate_denominator,
-- valid_from (null: now)}. Only the platform (its proven key) or the owner sets a rate; the
-- fraction is stored reduced. Returns the row as JSON.
CREATE FUNCTION payments.set_fx_rate(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_num numeric := (p ->> 'rate_numerator')::numeric;
    v_den numeric := (p ->> 'rate_denominator')::numeric;
    v_gcd numeric;
    v_row payments.fx_rates;
BEGIN
    IF NOT (payments.acting_as_platform()
            OR (payments.current_actor() IS NULL AND payments._trusted_caller())) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'only the platform sets exchange rates'));
    END IF;
    IF v_num IS NULL OR v_den IS NULL OR v_num <= 0 OR v_den <= 0 OR v_num <> trunc(v_num)
       OR v_den <> trunc(v_den) OR v_num >= 1e18 OR v_den >= 1e18 THEN
        PERFORM payments._fail('invalid_rate', jsonb_build_object('value', p ->> 'rate_numerator'
            || '/' || (p ->> 'rate_denominator')));
    END IF;
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'source_currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'source_currency'));
    ELSIF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'target_currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'target_currency'));
    ELSIF p ->> 'source_currency' = p ->> 'target_currency' THEN
        PERFORM payments._fail('same_currency', jsonb_build_object('currency', p ->> 'source_currency'));
    END IF;
    v_gcd := gcd(v_num, v_den);
    INSERT INTO payments.fx_rates (source_currency, target_currency, rate_numerator,
                                   rate_denominator, valid_from)
    VALUES (p ->> 'source_currency', p ->> 'target_currency', div(v_num, v_gcd), div(v_den, v_gcd),
            coalesce((p ->> 'valid_from')::timestamptz, now()))
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row);
END
$$;

-- The platform's FX liquidity accounts of these currencies (code fx_liquidity:<currency>), for
-- any organization converting through them: an organization sees none of the platform's
-- accounts, yet may name them in its entries (the engine allows the platform's accounts in any
-- organization's entries). Only these ids are told.
CREATE FUNCTION payments.fx_liquidity_accounts(p_currencies text[])
RETURNS TABLE (currency text, account_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.currency, a.id FROM payments.accounts a
      JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
     WHERE a.code = 'fx_liquidity:' || lower(a.currency) AND a.currency = ANY (p_currencies)
       AND (payments.current_actor() IS NOT NULL OR payments._trusted_caller())
$$;

-- The conversions' door: p = {org_id, key, hash, source_account_id, target_account_id,
-- source_amount, target_amount, rate_numerator, rate_denominator, rate, description,
-- metadata}. Checks who acts (as every door), replays or refuses a key seen before, checks
-- both accounts are the organization's and of two currencies and that the target amount is
-- the exact conversion rounded down, then posts the pair of entries through the ledger's door
-- (payments.ledger_write, all or nothing) and records the conversion. The entries touch the
-- platform's liquidity accounts, which an organization acting for itself may not name
-- (_lock_accounts): the door builds those two entries itself, from the checked request, and
-- posts them acting for the platform, then gives the transaction back its caller's actor.
-- Returns the conversion's row as JSON, with replayed.
CREATE FUNCTION payments.convert(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_key text := p ->> 'key';
    v_acting uuid := payments.current_org_id();
    v_row payments.conversions;
    v_source payments.accounts;
    v_target payments.accounts;
    v_liq_source uuid;
    v_liq_target uuid;
    v_se smallint;
    v_te smallint;
    v_amount bigint := (p ->> 'source_amount')::bigint;
    v_target_amount bigint := (p ->> 'target_amount')::bigint;
    v_num numeric := (p ->> 'rate_numerator')::numeric;
    v_den numeric := (p ->> 'rate_denominator')::numeric;
    v_rate payments.fx_rates;
    v_exact numeric;
    v_meta jsonb := coalesce(p -> 'metadata', '{}'::jsonb);
    v_result jsonb;
BEGIN
    PERFORM payments._check_org(v_org);
    IF coalesce(v_key, '') = '' OR coalesce(p ->> 'hash', '') = '' OR v_amount IS NULL
       OR v_amount <= 0 OR v_num <= 0 OR v_den <= 0 OR (v_num IS NULL) <> (v_den IS NULL) THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', 'incomplete conversion'));
    END IF;
    SELECT * INTO v_row FROM payments.conversions WHERE org_id = v_org AND idempotency_key = v_key;
    IF FOUND THEN
        IF v_row.request_hash <> p ->> 'hash' THEN
            PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
        END IF;
        RETURN to_jsonb(v_row) || jsonb_build_object('replayed', true);
    END IF;
    SELECT * INTO v_source FROM payments.accounts WHERE id = (p ->> 'source_account_id')::uuid;
    SELECT * INTO v_target FROM payments.accounts WHERE id = (p ->> 'target_account_id')::uuid;
    IF v_source.id IS NULL OR (v_source.org_id <> v_org AND v_acting IS NOT NULL) THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', p ->> 'source_account_id'));
    ELSIF v_target.id IS NULL OR (v_target.org_id <> v_org AND v_acting IS NOT NULL) THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', p ->> 'target_account_id'));
    ELSIF v_source.org_id <> v_org OR v_target.org_id <> v_org THEN
        PERFORM payments._fail('account_organization_mismatch', jsonb_build_object(
            'account_id', CASE WHEN v_source.org_id <> v_org THEN v_source.id ELSE v_target.id END,
            'org_id', v_org));
    ELSIF v_source.id = v_target.id THEN
        PERFORM payments._fail('accounts_must_be_different', jsonb_build_object(
            'account_ids', jsonb_build_array(v_source.id)));
    ELSIF v_source.currency = v_target.currency THEN
        PERFORM payments._fail('same_currency', jsonb_build_object('currency', v_source.currency));
    END IF;
    SELECT exponent INTO v_se FROM payments.currencies WHERE code = v_source.currency;
    SELECT exponent INTO v_te FROM payments.currencies WHERE code = v_target.currency;
    -- The rate is the platform's (payments.fx_rates), never an organization's: a rate in the
    -- request is its expectation, refused unless it is the current one. Only the platform (or
    -- the owner) converts at a rate it names (a rate it dealt).
    IF v_acting IS NOT NULL OR v_num IS NULL THEN
        v_rate := payments._current_fx_rate(v_source.currency, v_target.currency);
        IF v_rate.id IS NULL THEN
            PERFORM payments._fail('fx_rate_missing', jsonb_build_object(
                'source_currency', v_source.currency, 'target_currency', v_target.currency));
        ELSIF v_num IS NOT NULL AND v_num * v_rate.rate_denominator <> v_den * v_rate.rate_numerator THEN
            PERFORM payments._fail('fx_rate_changed', jsonb_build_object(
                'source_currency', v_source.currency, 'target_currency', v_target.currency,
                'rate', v_rate.rate_numerator || '/' || v_rate.rate_denominator));
        END IF;
        v_num := v_rate.rate_numerator;
        v_den := v_rate.rate_denominator;
    END IF;
    v_exact := div(v_amount * v_num * power(10::numeric, v_te), v_den * power(10::numeric, v_se));
    IF v_exact < 1 THEN
        PERFORM payments._fail('conversion_too_small', jsonb_build_object(
            'amount', v_amount, 'target_currency', v_target.currency));
    ELSIF v_exact > 9223372036854775807 THEN
        PERFORM payments._fail('invalid_amount', jsonb_build_object(
            'value', v_exact::text, 'field', 'target_amount'));
    END IF;
    v_target_amount := coalesce(v_target_amount, v_exact);
    -- Integer division (as the CHECK): numeric's `/` keeps a limited scale and can round a
    -- quotient just below a whole number up to it.
    IF v_target_amount <> v_exact THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'target_amount is not the conversion rounded down'));
    END IF;
    SELECT account_id INTO v_liq_source FROM payments.fx_liquidity_accounts(ARRAY[v_source.currency]);
    SELECT account_id INTO v_liq_target FROM payments.fx_liquidity_accounts(ARRAY[v_target.currency]);
    IF v_liq_source IS NULL OR v_liq_target IS NULL THEN
        PERFORM payments._fail('fx_liquidity_missing', jsonb_build_object('currency',
            CASE WHEN v_liq_source IS NULL THEN v_source.currency ELSE v_target.currency END));
    END IF;
    v_meta := v_meta || jsonb_build_object('conversion', jsonb_build_object(
        'key', v_key, 'rate', v_num || '/' || v_den, 'source_amount', v_amount,
        'target_amount', v_target_amount));
    IF v_acting IS NOT NULL THEN
        PERFORM payments._act_as('platform');
    END IF;
    v_result := payments.ledger_write(jsonb_build_object(
        'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
        'requests', jsonb_build_array(
            jsonb_build_object(
                'key', 'fx:' || v_key || ':source', 'hash', (p ->> 'hash') || ':source',
                'kind', 'standard', 'description',
                coalesce(nullif(p ->> 'description', ''), 'Conversion to ' || v_target.currency),
                'metadata', v_meta, 'effective_at', NULL, 'external_ref', NULL,
                'conditions', '[]'::jsonb,
                'lines', jsonb_build_array(
                    jsonb_build_object('account_id', v_source.id, 'side', 'debit',
                                       'amount', v_amount, 'currency', v_source.currency),
                    jsonb_build_object('account_id', v_liq_source, 'side', 'credit',
                                       'amount', v_amount, 'currency', v_source.currency))),
            jsonb_build_object(
                'key', 'fx:' || v_key || ':target', 'hash', (p ->> 'hash') || ':target',
                'kind', 'standard', 'description',
                coalesce(nullif(p ->> 'description', ''), 'Conversion from ' || v_source.currency),
                'metadata', v_meta, 'effective_at', NULL, 'external_ref', NULL,
                'conditions', '[]'::jsonb,
                'lines', jsonb_build_array(
                    jsonb_build_object('account_id', v_liq_target, 'side', 'debit',
                                       'amount', v_target_amount, 'currency', v_target.currency),
                    jsonb_build_object('account_id', v_target.id, 'side', 'credit',
                                       'amount', v_target_amount, 'currency', v_target.currency))))));
    IF v_acting IS NOT NULL THEN
        PERFORM payments._act_as(v_acting::text);
    END IF;
    -- Both entries are this conversion's own, never a replay: no conversion holds the key, so
    -- an entry already under fx:<key>:... was posted by someone else (an organization writing
    -- under that key itself) or by a conversion committed meanwhile (answered as its replay).
    IF (v_result -> 'results' -> 0 ->> 'replayed')::boolean
       OR (v_result -> 'results' -> 1 ->> 'replayed')::boolean THEN
        SELECT * INTO v_row FROM payments.conversions WHERE org_id = v_org AND idempotency_key = v_key;
        IF FOUND AND v_row.request_hash = p ->> 'hash' THEN
            RETURN to_jsonb(v_row) || jsonb_build_object('replayed', true);
        END IF;
        PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
    END IF;
    INSERT INTO payments.conversions (org_id, idempotency_key, request_hash, source_account_id,
        target_account_id, source_currency, target_currency, source_exponent, target_exponent,
        source_amount, target_amount, rate_numerator, rate_denominator, rate, source_entry_id,
        target_entry_id)
    VALUES (v_org, v_key, p ->> 'hash', v_source.id, v_target.id, v_source.currency,
            v_target.currency, v_se, v_te, v_amount, v_target_amount, v_num, v_den,
            v_num || '/' || v_den,
            (v_result -> 'results' -> 0 ->> 'id')::uuid, (v_result -> 'results' -> 1 ->> 'id')::uuid)
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row) || jsonb_build_object('replayed', false);
END
$$;

------------------------------------------------------------------------------------------
-- Row-level security and grants
------------------------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['account_categories', 'category_members', 'conversions']
    LOOP
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

GRANT SELECT ON payments.account_categories, payments.category_members, payments.conversions
    TO liventix_app, liventix_platform;

-- Exchange rates: every proven caller reads them; nobody but the door writes them.
ALTER TABLE payments.fx_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY proven ON payments.fx_rates FOR SELECT TO liventix_app, liventix_platform
    USING ((SELECT payments.current_actor()) IS NOT NULL);
GRANT SELECT ON payments.fx_rates TO liventix_app, liventix_platform;
REVOKE EXECUTE ON FUNCTION payments.fx_rates_append_only(), payments._current_fx_rate(text, text),
    payments.set_fx_rate(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.set_fx_rate(jsonb) TO liventix_platform;
REVOKE EXECUTE ON FUNCTION payments.check_category_cycle(), payments._create_category(uuid, jsonb),
    payments._change_members(uuid, jsonb, boolean), payments.check_conversion() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION payments.category_write(jsonb), payments.fx_liquidity_accounts(text[]),
    payments.convert(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.category_write(jsonb), payments.fx_liquidity_accounts(text[]),
    payments.convert(jsonb) TO liventix_app, liventix_platform;
