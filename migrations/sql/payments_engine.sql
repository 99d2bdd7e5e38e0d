-- The posting engine: every write to the ledger goes through payments.ledger_write(request),
-- one round trip per call, the work done in the server.
--
-- ledger_write owns idempotency and retries: it looks the request's keys up, runs the
-- operation in a subtransaction, retries a serialization failure there (not a deadlock: its
-- caller runs the unit of work again), and stores each key with its result. An operation
-- refused for a business reason (funds, holds, reversals, conditions) is stored as failed
-- when the caller asks for it, so a retry under the same key keeps being refused.
--
-- Errors are raised as SQLSTATE LX001 with the error's code as message and its ids as a
-- JSON detail; the Python side turns them into ledger.errors classes.

CREATE TYPE payments._line AS (
    entry_ord int,
    line_ord int,
    entry_id uuid,
    account_id uuid,
    side text,
    amount bigint,
    currency text,
    effective_at timestamptz
);

CREATE TYPE payments._account AS (
    id uuid,
    org_id uuid,
    currency text,
    normal_side text,
    debits_must_not_exceed_credits boolean,
    credits_must_not_exceed_debits boolean,
    high_volume boolean,
    closed boolean,
    posted_debits bigint,
    posted_credits bigint,
    pending_debits bigint,
    pending_credits bigint,
    version bigint
);

CREATE TYPE payments._run AS (
    entry_ord int,
    line_ord int,
    entry_id uuid,
    account_id uuid,
    side text,
    amount bigint,
    currency text,
    effective_at timestamptz,
    org_id uuid,
    high_volume boolean,
    normal_side text,
    dmnec boolean,
    cmned boolean,
    pending_debits bigint,
    pending_credits bigint,
    posted_debits numeric,
    posted_credits numeric,
    version bigint,
    last_of_entry boolean,
    first_of_entry boolean
);

-- The codes of refusals that depend on the ledger's state and are remembered under a key.
CREATE FUNCTION payments.recorded_error_codes() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['account_closed', 'insufficient_funds', 'balance_overflow', 'condition_failed',
                 'entry_already_reversed', 'hold_already_posted', 'hold_already_voided',
                 'hold_already_expired', 'hold_expired', 'hold_amount_exceeded']
$$;

-- Check that the calling transaction may act for p_org: the organization it proved it acts
-- for, or any organization for the platform's proof or the schema's owner.
CREATE FUNCTION payments._check_org(p_org uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_actor text := payments.current_actor();
    v_acting uuid := CASE WHEN v_actor <> 'platform' THEN v_actor::uuid END;
BEGIN
    IF p_org IS NULL
       OR (v_acting IS NOT NULL AND v_acting <> p_org)
       OR (v_acting IS NULL AND v_actor IS DISTINCT FROM 'platform'
           AND NOT payments._trusted_caller())
       OR NOT EXISTS (SELECT FROM payments.organizations WHERE id = p_org) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
END
$$;

-- Maintenance (the sweeper, the roll-up) is the platform's, acting for no organization.
CREATE FUNCTION payments._check_platform() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF payments.current_org_id() IS NOT NULL
       OR NOT (payments.acting_as_platform() OR payments._trusted_caller()) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'ledger maintenance is the platform''s, acting for no organization'));
    END IF;
END
$$;

-- Lock the accounts in the doors' one order (docs/engine.md: the organization's by id, then
-- the platform's by id, each read in a statement pinned to its organization) and return
-- them; high-volume accounts are read without a lock unless p_lock_high_volume, or unless
-- named in p_large: the accounts given a line of 2**40 or more, whose high-volume ones the
-- new line's trigger (check_new_line) raises the overflow hint on (accounts.large_unrolled)
-- under the row's lock. Locked here, in the one order with the others and before any line
-- is inserted, the trigger's UPDATE waits for nobody (it came after the platform's
-- accounts, a lock out of order: a deadlock with a hold's creation, review of 2e5ae69), and
-- the writer and the roll-up are serialised on the row (the roll-up lowers the hint under
-- it once it sees no large line unrolled: it must not while this one is uncommitted).
-- Raises account_not_found for an id this organization cannot see (a NULL id too: no
-- account), and account_organization_mismatch for another organization's account; the
-- platform's accounts may be used in any organization's entries by the platform's proof or
-- the owner.
CREATE FUNCTION payments._lock_accounts(p_org uuid, p_ids uuid[], p_lock_high_volume boolean,
                                        p_large uuid[])
RETURNS payments._account[]
LANGUAGE plpgsql AS $$
DECLARE
    v_accounts payments._account[] := '{}';
    v_who uuid := p_org;
    v_wanted int := (SELECT count(DISTINCT i) FROM unnest(p_ids) i);
    v_large uuid[] := coalesce(p_large, '{}');
    v_missing uuid;
BEGIN
    -- A line naming no account (a raw caller's): refused, not dropped (count(DISTINCT)
    -- above ignores NULL, and the line would be left out of the entry).
    IF array_position(p_ids, NULL) IS NOT NULL THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', NULL::uuid));
    END IF;
    LOOP
        SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.normal_side,
                             a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                             a.high_volume, a.closed, a.posted_debits, a.posted_credits,
                             a.pending_debits, a.pending_credits, a.version)::payments._account),
                         '{}')
          INTO v_accounts
          FROM (SELECT * FROM payments.accounts
                 WHERE org_id = v_who AND id = ANY (p_ids)
                   AND (p_lock_high_volume OR NOT high_volume OR id = ANY (v_large))
                 ORDER BY id
                   FOR NO KEY UPDATE) a;
        IF NOT p_lock_high_volume THEN
            SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency,
                             a.normal_side, a.debits_must_not_exceed_credits,
                             a.credits_must_not_exceed_debits, a.high_volume, a.closed,
                             a.posted_debits, a.posted_credits, a.pending_debits,
                             a.pending_credits, a.version)::payments._account), '{}')
              INTO v_accounts
              FROM payments.accounts a
             WHERE a.org_id = v_who AND a.id = ANY (p_ids) AND a.high_volume
               AND NOT a.id = ANY (v_large);
        END IF;
        -- The platform's accounts, after the organization's, only when some are still
        -- missing and the caller may use them (not an organization acting for itself).
        EXIT WHEN v_who <> p_org OR cardinality(v_accounts) >= v_wanted
               OR payments.current_org_id() IS NOT NULL;
        SELECT o.id INTO v_who FROM payments.organizations o WHERE o.is_platform;
        EXIT WHEN v_who IS NULL OR v_who = p_org;
    END LOOP;
    IF cardinality(v_accounts) < v_wanted THEN
        -- Refused: which way is read by id alone (not a hot path). An id that is no
        -- account's first; then another organization's account: to an organization acting
        -- for itself it does not exist.
        SELECT i INTO v_missing FROM unnest(p_ids) WITH ORDINALITY AS x(i, n)
         WHERE NOT EXISTS (SELECT FROM unnest(v_accounts) a WHERE a.id = x.i)
         ORDER BY EXISTS (SELECT FROM payments.accounts b WHERE b.id = x.i), x.n
         LIMIT 1;
        IF payments.current_org_id() IS NOT NULL
           OR NOT EXISTS (SELECT FROM payments.accounts b WHERE b.id = v_missing) THEN
            PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', v_missing));
        END IF;
        PERFORM payments._fail('account_organization_mismatch',
            jsonb_build_object('account_id', v_missing, 'org_id', p_org));
    END IF;
    RETURN v_accounts;
END
$$;

-- Post balanced entries (standard, reversal or hold_post) for p_org; all or nothing.
-- p_entries is a JSON array of {kind, description, metadata, effective_at, external_ref,
-- reverses, hold_id, key, lines: [{account_id, side, amount, currency}],
-- conditions: [{account_id, version, balance, gte, lte}]}. Returns the new entry ids.
CREATE FUNCTION payments._post(p_org uuid, p_entries jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz;
    v_entries jsonb;
    v_lines payments._line[];
    v_accounts payments._account[];
    v_ids uuid[];
    v_large uuid[];  -- the accounts given a line of 2**40 or more: locked (_lock_accounts)
    v_rev record;
    v_bad record;
    v_run payments._run[];
    v_who uuid;
BEGIN
    SELECT jsonb_agg(e.x || jsonb_build_object('id', uuidv7(), 'ord', e.ord)
                     ORDER BY e.ord)
      INTO v_entries
      FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS e(x, ord);

    -- A reversal names an entry of this organization that was never reversed.
    FOR v_rev IN
        SELECT (e.x ->> 'reverses')::uuid AS original, o.id AS found, r.id AS reversal
          FROM jsonb_array_elements(v_entries) e(x)
          LEFT JOIN payments.entries o ON o.id = (e.x ->> 'reverses')::uuid AND o.org_id = p_org
          LEFT JOIN payments.entries r ON r.reverses_entry_id = o.id AND r.org_id = p_org
         WHERE e.x ->> 'reverses' IS NOT NULL
    LOOP
        IF v_rev.found IS NULL THEN
            PERFORM payments._fail('entry_not_found', jsonb_build_object('entry_id', v_rev.original));
        ELSIF v_rev.reversal IS NOT NULL THEN
            PERFORM payments._fail('entry_already_reversed', jsonb_build_object(
                'entry_id', v_rev.original, 'reversal_entry_id', v_rev.reversal));
        END IF;
    END LOOP;

    -- The lines: as given, or for a reversal the original's with the sides swapped.
    SELECT array_agg(ROW(e.ord, l.ord, (e.x ->> 'id')::uuid, l.account_id, l.side, l.amount,
                         l.currency,
                         (e.x ->> 'effective_at')::timestamptz)::payments._line
                     ORDER BY e.ord, l.ord)
      INTO v_lines
      FROM (SELECT (x ->> 'ord')::int AS ord, x FROM jsonb_array_elements(v_entries) x) e
     CROSS JOIN LATERAL (
            SELECT g.ord::int AS ord, (g.x ->> 'account_id')::uuid AS account_id,
                   g.x ->> 'side' AS side, (g.x ->> 'amount')::bigint AS amount,
                   g.x ->> 'currency' AS currency
              FROM jsonb_array_elements(coalesce(e.x -> 'lines', '[]')) WITH ORDINALITY g(x, ord)
             WHERE e.x ->> 'reverses' IS NULL
            UNION ALL
            SELECT row_number() OVER (ORDER BY o.id)::int, o.account_id,
                   CASE o.side WHEN 'debit' THEN 'credit' ELSE 'debit' END, o.amount, o.currency
              FROM payments.lines o
             WHERE e.x ->> 'reverses' IS NOT NULL AND o.entry_id = (e.x ->> 'reverses')::uuid
               AND o.entry_org_id = p_org
     ) l;

    -- Lines counted once per entry (a count per entry over every line was quadratic: a third
    -- of a 500-entry batch's server time).
    SELECT e.ord INTO v_bad
      FROM (SELECT (x ->> 'ord')::int AS ord FROM jsonb_array_elements(v_entries) x) e
      LEFT JOIN (SELECT l.entry_ord, count(*) AS n FROM unnest(v_lines) l GROUP BY l.entry_ord) c
             ON c.entry_ord = e.ord
     WHERE coalesce(c.n, 0) < 2
     ORDER BY e.ord
     LIMIT 1;
    IF FOUND THEN
        PERFORM payments._fail('too_few_lines', jsonb_build_object('entry', v_bad.ord));
    END IF;
    SELECT array_agg(DISTINCT l.account_id),
           array_agg(DISTINCT l.account_id) FILTER (WHERE l.amount >= 1099511627776)
      INTO v_ids, v_large
      FROM unnest(v_lines) l;
    v_accounts := payments._lock_accounts(p_org, v_ids, false, v_large);
    -- The time the entries are recorded at, read once their accounts are locked: a later
    -- writer of an account waits for this transaction, so each regular account's lines are
    -- recorded in version order, and "as of t" is one index probe (balance_as_of).
    v_now := clock_timestamp();

    -- Currency and closed accounts, first offending line first.
    SELECT l.entry_ord, l.account_id, l.currency AS line_currency, a.currency AS account_currency,
           a.closed
      INTO v_bad
      FROM unnest(v_lines) l JOIN unnest(v_accounts) a ON a.id = l.account_id
     WHERE a.currency <> l.currency OR a.closed
     ORDER BY l.entry_ord, l.line_ord
     LIMIT 1;
    IF FOUND THEN
        IF v_bad.line_currency <> v_bad.account_currency THEN
            PERFORM payments._fail('currency_mismatch', jsonb_build_object(
                'account_id', v_bad.account_id, 'account_currency', v_bad.account_currency,
                'line_currency', v_bad.line_currency));
        END IF;
        PERFORM payments._fail('account_closed', jsonb_build_object('account_id', v_bad.account_id));
    END IF;

    -- Running positions of the accounts, line by line in request order.
    SELECT array_agg(r.x ORDER BY r.entry_ord, r.line_ord) INTO v_run
      FROM (SELECT l.entry_ord, l.line_ord, ROW(
                   l.entry_ord, l.line_ord, l.entry_id, l.account_id, l.side, l.amount,
                   l.currency, l.effective_at, a.org_id, a.high_volume, a.normal_side,
                   a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                   a.pending_debits, a.pending_credits,
                   a.posted_debits + sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END) OVER w,
                   a.posted_credits + sum(CASE WHEN l.side = 'credit' THEN l.amount ELSE 0 END) OVER w,
                   a.version + row_number() OVER w,
                   row_number() OVER (PARTITION BY l.entry_ord, l.account_id ORDER BY l.line_ord DESC) = 1,
                   row_number() OVER (PARTITION BY l.entry_ord, l.account_id ORDER BY l.line_ord) = 1
                   )::payments._run AS x
              FROM unnest(v_lines) l JOIN unnest(v_accounts) a ON a.id = l.account_id
            WINDOW w AS (PARTITION BY l.account_id ORDER BY l.entry_ord, l.line_ord)) r;

    PERFORM payments._check_positions(v_entries, v_run);

    -- The entries and their lines in one statement: the balance rule judges them there.
    WITH e AS (
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, reverses_entry_id, hold_id,
                                      idempotency_key)
        SELECT (x ->> 'id')::uuid, p_org, coalesce(x ->> 'kind', 'standard'),
               coalesce(x ->> 'description', ''), coalesce(x -> 'metadata', '{}'::jsonb),
               coalesce((x ->> 'effective_at')::timestamptz, v_now), v_now, x ->> 'external_ref',
               (x ->> 'reverses')::uuid, (x ->> 'hold_id')::uuid, x ->> 'key'
          FROM jsonb_array_elements(v_entries) x
         ORDER BY (x ->> 'ord')::int
    )
    INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                currency, effective_at, created_at, account_version,
                                account_posted_debits, account_posted_credits)
    SELECT entry_id, p_org, org_id, account_id, side, amount, currency,
           coalesce(effective_at, v_now), v_now,
           CASE WHEN high_volume THEN NULL ELSE version END,
           CASE WHEN high_volume THEN NULL ELSE posted_debits::bigint END,
           CASE WHEN high_volume THEN NULL ELSE posted_credits::bigint END
      FROM unnest(v_run)
     ORDER BY entry_ord, line_ord;

    -- The regular accounts moved by organization (docs/engine.md's order): the
    -- organization's, then the platform's when the entries name any.
    v_who := p_org;
    WHILE v_who IS NOT NULL LOOP
        UPDATE payments.accounts a
           SET posted_debits = a.posted_debits + d.debits,
               posted_credits = a.posted_credits + d.credits,
               version = a.version + d.n
          FROM (SELECT account_id,
                       sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END)::bigint AS debits,
                       sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END)::bigint AS credits,
                       count(*) AS n
                  FROM unnest(v_run) WHERE NOT high_volume AND org_id = v_who
                 GROUP BY account_id) d
         WHERE a.org_id = v_who AND a.id = d.account_id;
        EXIT WHEN v_who <> p_org;
        v_who := (SELECT r.org_id FROM unnest(v_run) r
                   WHERE NOT r.high_volume AND r.org_id <> p_org LIMIT 1);
    END LOOP;

    RETURN (SELECT jsonb_agg(x -> 'id' ORDER BY (x ->> 'ord')::int)
              FROM jsonb_array_elements(v_entries) x);
END
$$;

-- Overdraft flags, 64-bit limits and the request's conditions, against the running positions.
CREATE FUNCTION payments._check_positions(p_entries jsonb, p_run payments._run[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_bad record;
    v_max constant numeric := 9223372036854775807;
BEGIN
    -- A high-volume account's row is exact only up to its last roll-up: its lines since then
    -- are summed too, where the totals come near the limit (2**61), or the line or one not
    -- yet rolled up is large (2**40; a tiny partial index answers that). Below those, the
    -- roll-up running at least every 2**21 lines keeps the exact total under 2**63
    -- (2**61 + 2**21 * 2**40 = 2**62).
    SELECT * INTO v_bad FROM unnest(p_run) r
     WHERE (NOT r.high_volume AND (r.posted_debits > v_max OR r.posted_credits > v_max))
        OR (r.high_volume
            AND (r.posted_debits >= 2305843009213693952 OR r.posted_credits >= 2305843009213693952
                 OR r.amount >= 1099511627776
                 OR EXISTS (SELECT FROM payments.lines w
                             WHERE w.account_id = r.account_id AND w.account_version IS NULL
                               AND w.amount >= 1099511627776))
            AND (SELECT greatest(
                        r.posted_debits + coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0),
                        r.posted_credits + coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0))
                   FROM payments.lines l
                  WHERE l.account_id = r.account_id AND l.account_version IS NULL) > v_max)
     ORDER BY r.entry_ord, r.line_ord LIMIT 1;
    IF FOUND THEN
        PERFORM payments._fail('balance_overflow', jsonb_build_object('account_id', v_bad.account_id));
    END IF;

    -- Checked where each entry leaves each account, so an entry is judged as a whole.
    SELECT r.*,
           CASE WHEN r.dmnec
                THEN r.posted_credits - r.posted_debits - r.pending_debits
                ELSE r.posted_debits - r.posted_credits - r.pending_credits END AS after
      INTO v_bad FROM unnest(p_run) r
     WHERE r.last_of_entry AND (
           (r.dmnec AND r.posted_debits + r.pending_debits > r.posted_credits)
        OR (r.cmned AND r.posted_credits + r.pending_credits > r.posted_debits))
     ORDER BY r.entry_ord, r.line_ord LIMIT 1;
    IF FOUND THEN
        -- balance: what was available before this entry; shortfall: what it lacked.
        PERFORM payments._fail('insufficient_funds', jsonb_build_object(
            'account_id', v_bad.account_id, 'currency', v_bad.currency,
            'balance', v_bad.after + (SELECT coalesce(sum(CASE
                    WHEN (v_bad.dmnec AND s.side = 'debit') OR (v_bad.cmned AND s.side = 'credit')
                    THEN s.amount ELSE -s.amount END), 0)
                FROM unnest(p_run) s
               WHERE s.entry_ord = v_bad.entry_ord AND s.account_id = v_bad.account_id),
            'shortfall', -v_bad.after));
    END IF;

    IF p_entries @? '$[*].conditions[*]' THEN
        FOR v_bad IN
            WITH c AS (
                SELECT (e.x ->> 'ord')::int AS entry_ord, (c.x ->> 'account_id')::uuid AS account_id,
                       (c.x ->> 'version')::bigint AS version, coalesce(c.x ->> 'balance', 'posted') AS kind,
                       (c.x ->> 'gte')::bigint AS gte, (c.x ->> 'lte')::bigint AS lte
                  FROM jsonb_array_elements(p_entries) e(x)
                 CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.x -> 'conditions', '[]')) c(x)
            )
            SELECT c.*, f.version - 1 AS version_before, l.high_volume,
                   CASE c.kind
                       WHEN 'posted' THEN l.posted_debits - l.posted_credits
                       WHEN 'pending' THEN l.posted_debits + l.pending_debits
                                         - l.posted_credits - l.pending_credits
                       ELSE l.posted_debits - l.posted_credits - (CASE WHEN l.normal_side = 'debit'
                                         THEN l.pending_credits ELSE -l.pending_debits END)
                   END * (CASE WHEN l.normal_side = 'debit' THEN 1 ELSE -1 END) AS balance_after
              FROM c
              LEFT JOIN unnest(p_run) f ON f.entry_ord = c.entry_ord AND f.account_id = c.account_id
                                      AND f.first_of_entry
              LEFT JOIN unnest(p_run) l ON l.entry_ord = c.entry_ord AND l.account_id = c.account_id
                                      AND l.last_of_entry
        LOOP
            IF v_bad.version_before IS NULL OR v_bad.high_volume THEN
                PERFORM payments._fail('invalid_condition', jsonb_build_object(
                    'account_id', v_bad.account_id,
                    'reason', 'a condition must name a regular (not high-volume) account of its entry'));
            END IF;
            IF v_bad.version IS NOT NULL AND v_bad.version <> v_bad.version_before THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', 'version',
                    'expected', v_bad.version, 'actual', v_bad.version_before));
            END IF;
            IF v_bad.gte IS NOT NULL AND v_bad.balance_after < v_bad.gte THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', v_bad.kind || '_balance_gte',
                    'expected', v_bad.gte, 'actual', v_bad.balance_after));
            END IF;
            IF v_bad.lte IS NOT NULL AND v_bad.balance_after > v_bad.lte THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', v_bad.kind || '_balance_lte',
                    'expected', v_bad.lte, 'actual', v_bad.balance_after));
            END IF;
        END LOOP;
    END IF;
END
$$;

-- Take a hold's amount off its accounts' pending columns. Each UPDATE names the account's
-- organization and locks its row; they run in the doors' one order (the hold's
-- organization's account before the platform's, else by id), so no extra statement locks.
CREATE FUNCTION payments._release_pending(p_hold payments.holds) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF (p_hold.debit_org_id <> p_hold.org_id, p_hold.debit_account_id)
       < (p_hold.credit_org_id <> p_hold.org_id, p_hold.credit_account_id) THEN
        UPDATE payments.accounts
           SET pending_debits = pending_debits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.debit_account_id AND org_id = p_hold.debit_org_id;
        UPDATE payments.accounts
           SET pending_credits = pending_credits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.credit_account_id AND org_id = p_hold.credit_org_id;
    ELSE
        UPDATE payments.accounts
           SET pending_credits = pending_credits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.credit_account_id AND org_id = p_hold.credit_org_id;
        UPDATE payments.accounts
           SET pending_debits = pending_debits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.debit_account_id AND org_id = p_hold.debit_org_id;
    END IF;
END
$$;

-- Reserve an amount: {debit_account_id, credit_account_id, amount, currency, expires_at,
-- description, metadata, key}. Its pending amounts count against the overdraft flags at once.
CREATE FUNCTION payments._create_hold(p_org uuid, p jsonb) RETURNS jsonb
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
    v_debit_org uuid;
    v_credit_org uuid;
    v_who uuid;
BEGIN
    IF v_expires IS NOT NULL AND v_expires <= now() THEN
        PERFORM payments._fail('hold_expiry_not_in_future',
            jsonb_build_object('expires_at', v_expires, 'now', now()));
    END IF;
    v_accounts := payments._lock_accounts(p_org, ARRAY[v_debit, v_credit], true, NULL);
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
    -- Locked above: moved by organization (the hold's, then the platform's when it differs).
    SELECT x.org_id INTO v_debit_org FROM unnest(v_accounts) x WHERE x.id = v_debit;
    SELECT x.org_id INTO v_credit_org FROM unnest(v_accounts) x WHERE x.id = v_credit;
    FOREACH v_who IN ARRAY CASE WHEN v_debit_org = v_credit_org THEN ARRAY[v_debit_org]
                                ELSE ARRAY[v_debit_org, v_credit_org] END LOOP
        UPDATE payments.accounts
           SET pending_debits = pending_debits + CASE WHEN id = v_debit THEN v_amount ELSE 0 END,
               pending_credits = pending_credits + CASE WHEN id = v_credit THEN v_amount ELSE 0 END,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE org_id = v_who AND id IN (v_debit, v_credit);
    END LOOP;
    INSERT INTO payments.holds (id, org_id, debit_account_id, credit_account_id, debit_org_id,
                                credit_org_id, amount, currency, expires_at, description,
                                metadata, idempotency_key)
    VALUES (v_id, p_org, v_debit, v_credit, v_debit_org, v_credit_org,
            v_amount, v_currency, v_expires, coalesce(p ->> 'description', ''),
            coalesce(p -> 'metadata', '{}'::jsonb), p ->> 'key');
    RETURN to_jsonb(v_id);
END
$$;

-- Lock a hold of this organization that is still open; refuse one already resolved.
CREATE FUNCTION payments._open_hold(p_org uuid, p_hold uuid) RETURNS payments.holds
LANGUAGE plpgsql AS $$
DECLARE
    h payments.holds;
    v_kind text;
BEGIN
    SELECT * INTO h FROM payments.holds WHERE id = p_hold AND org_id = p_org FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM payments._fail('hold_not_found', jsonb_build_object('hold_id', p_hold));
    END IF;
    SELECT kind INTO v_kind FROM payments.hold_resolutions
     WHERE hold_id = p_hold AND org_id = p_org;
    IF FOUND THEN
        PERFORM payments._fail('hold_already_' || v_kind,
            jsonb_build_object('hold_id', p_hold, 'resolution', v_kind));
    END IF;
    RETURN h;
END
$$;

-- Post a hold, in full or for less ({hold_id, amount, description, metadata, effective_at}):
-- the pending amount is released and the posted amount becomes an entry naming the hold.
CREATE FUNCTION payments._post_hold(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h payments.holds := payments._open_hold(p_org, (p ->> 'hold_id')::uuid);
    v_amount bigint := coalesce((p ->> 'amount')::bigint, h.amount);
    v_entry jsonb;
BEGIN
    IF h.expires_at IS NOT NULL AND h.expires_at <= now() THEN
        PERFORM payments._fail('hold_expired',
            jsonb_build_object('hold_id', h.id, 'expires_at', h.expires_at));
    END IF;
    IF v_amount > h.amount THEN
        PERFORM payments._fail('hold_amount_exceeded',
            jsonb_build_object('hold_id', h.id, 'held', h.amount, 'requested', v_amount));
    END IF;
    PERFORM payments._release_pending(h);
    v_entry := payments._post(p_org, jsonb_build_array(jsonb_build_object(
        'kind', 'hold_post', 'hold_id', h.id, 'key', p ->> 'key',
        'description', coalesce(p ->> 'description', h.description),
        'metadata', coalesce(p -> 'metadata', h.metadata),
        'effective_at', p ->> 'effective_at',
        'lines', jsonb_build_array(
            jsonb_build_object('account_id', h.debit_account_id, 'side', 'debit',
                               'amount', v_amount, 'currency', h.currency),
            jsonb_build_object('account_id', h.credit_account_id, 'side', 'credit',
                               'amount', v_amount, 'currency', h.currency)))));
    INSERT INTO payments.hold_resolutions (hold_id, org_id, kind, posted_amount, entry_id,
                                           idempotency_key)
    VALUES (h.id, p_org, 'posted', v_amount, (v_entry ->> 0)::uuid, p ->> 'key');
    RETURN v_entry -> 0;
END
$$;

-- Void a hold ({hold_id}): its pending amount is released.
CREATE FUNCTION payments._void_hold(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h payments.holds := payments._open_hold(p_org, (p ->> 'hold_id')::uuid);
BEGIN
    PERFORM payments._release_pending(h);
    INSERT INTO payments.hold_resolutions (hold_id, org_id, kind, idempotency_key)
    VALUES (h.id, p_org, 'voided', p ->> 'key');
    RETURN to_jsonb(h.id);
END
$$;

-- Open an account: {code, name, type, currency, debits_must_not_exceed_credits,
-- credits_must_not_exceed_debits, high_volume, metadata, key}.
CREATE FUNCTION payments._open_account(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'currency'));
    END IF;
    INSERT INTO payments.accounts (org_id, code, name, type, currency,
                                   debits_must_not_exceed_credits, credits_must_not_exceed_debits,
                                   high_volume, metadata, idempotency_key)
    VALUES (p_org, p ->> 'code', coalesce(p ->> 'name', p ->> 'code'), p ->> 'type',
            p ->> 'currency',
            coalesce((p ->> 'debits_must_not_exceed_credits')::boolean, false),
            coalesce((p ->> 'credits_must_not_exceed_debits')::boolean, false),
            coalesce((p ->> 'high_volume')::boolean, false),
            coalesce(p -> 'metadata', '{}'::jsonb), p ->> 'key')
    RETURNING id INTO v_id;
    RETURN to_jsonb(v_id);
END
$$;

-- Close an account ({account_id}): it takes no more postings or holds; open holds may
-- still be voided.
CREATE FUNCTION payments._close_account(p_org uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a payments._account;
BEGIN
    a := (payments._lock_accounts(p_org, ARRAY[(p ->> 'account_id')::uuid], true, NULL))[1];
    IF a.org_id <> p_org THEN
        PERFORM payments._fail('account_organization_mismatch',
            jsonb_build_object('account_id', a.id, 'org_id', p_org));
    END IF;
    UPDATE payments.accounts SET closed = true WHERE id = a.id AND org_id = a.org_id;
    RETURN to_jsonb(a.id);
END
$$;

-- The one door for writes. p = {org_id, operation, record_failure,
-- requests: [{key, hash, ...operation's payload}]}; post_entries takes many requests (a
-- batch, all or nothing), the other operations one. Returns {results: [{status, id,
-- replayed} | {status: 'failed', code, details, replayed}]} in request order.
CREATE FUNCTION payments.ledger_write(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET payments.engine_checked = 'off' AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_op text := p ->> 'operation';
    v_record boolean := coalesce((p ->> 'record_failure')::boolean, false);
    v_requests jsonb := p -> 'requests';
    v_count int := jsonb_array_length(v_requests);
    v_stored jsonb;
    v_todo jsonb;
    v_ids jsonb;
    v_results jsonb;
    v_conflict record;
    v_state text;
    v_code text;
    v_detail text;
    v_constraint text;
    v_existing uuid;
    v_hv uuid[];
BEGIN
    IF v_op NOT IN ('post_entries', 'create_hold', 'post_hold', 'void_hold', 'open_account',
                    'close_account') THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('operation', v_op));
    END IF;
    IF v_count = 0 OR (v_op <> 'post_entries' AND v_count <> 1) THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('requests', v_count));
    END IF;
    FOR v_attempt IN 1..20 LOOP
        BEGIN
            PERFORM set_config('payments.writer', 'on', true);
            PERFORM payments._check_org(v_org);

            -- Keys seen before: the same request replays its stored result, another conflicts.
            -- Probed by key (an index lookup per key, whatever the table's statistics say:
            -- enable_seqscan is off in this function, see the end of this file).
            SELECT jsonb_object_agg(k.key, jsonb_build_object('status', k.status, 'result', k.result))
              INTO v_stored
              FROM payments.idempotency_keys k
             WHERE k.org_id = v_org
               AND k.key = ANY (ARRAY(SELECT r.x ->> 'key' FROM jsonb_array_elements(v_requests) r(x)));
            IF v_stored IS NOT NULL THEN
                SELECT r.x ->> 'key' AS key INTO v_conflict
                  FROM jsonb_array_elements(v_requests) r(x)
                  JOIN payments.idempotency_keys k ON k.org_id = v_org AND k.key = r.x ->> 'key'
                 WHERE k.request_hash <> r.x ->> 'hash' OR k.operation <> v_op
                 LIMIT 1;
                IF FOUND THEN
                    PERFORM payments._fail('idempotency_conflict',
                        jsonb_build_object('idempotency_key', v_conflict.key));
                END IF;
            END IF;
            SELECT coalesce(jsonb_agg(r.x ORDER BY r.ord), '[]'::jsonb) INTO v_todo
              FROM jsonb_array_elements(v_requests) WITH ORDINALITY r(x, ord)
             WHERE v_stored IS NULL OR NOT v_stored ? (r.x ->> 'key');

            IF jsonb_array_length(v_todo) > 0 THEN
                -- A caller names what it posts, never how: an entry is standard, or a reversal
                -- when it names what it reverses; only post_hold makes hold posts.
                IF v_op = 'post_entries' THEN
                    SELECT jsonb_agg((x - 'kind' - 'hold_id' - 'id' - 'ord') || jsonb_build_object(
                               'kind', CASE WHEN x ->> 'reverses' IS NULL THEN 'standard'
                                            ELSE 'reversal' END) ORDER BY ord)
                      INTO v_todo
                      FROM jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord);
                END IF;
                v_ids := CASE v_op
                    WHEN 'post_entries' THEN payments._post(v_org, v_todo)
                    WHEN 'create_hold' THEN jsonb_build_array(payments._create_hold(v_org, v_todo -> 0))
                    WHEN 'post_hold' THEN jsonb_build_array(payments._post_hold(v_org, v_todo -> 0))
                    WHEN 'void_hold' THEN jsonb_build_array(payments._void_hold(v_org, v_todo -> 0))
                    WHEN 'open_account' THEN jsonb_build_array(payments._open_account(v_org, v_todo -> 0))
                    WHEN 'close_account' THEN jsonb_build_array(payments._close_account(v_org, v_todo -> 0))
                END;
                INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
                SELECT v_org, t.x ->> 'key', v_op, t.x ->> 'hash', 'succeeded', jsonb_build_object('id', i.id)
                  FROM jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord)
                  JOIN jsonb_array_elements(v_ids) WITH ORDINALITY i(id, ord) USING (ord);
                -- A high-volume account is read, not locked (_lock_accounts): one closed while
                -- a statement since waited (this key's or a reference's holder) sends the
                -- request round again, which judges it closed.
                -- Read by organization: the new lines' high-volume accounts, then the
                -- organization's closed ones, then the platform's (docs/engine.md).
                IF v_op IN ('post_entries', 'post_hold') THEN
                    SELECT array_agg(DISTINCT l.account_id) INTO v_hv
                      FROM payments.lines l
                     WHERE l.entry_org_id = v_org
                       AND l.entry_id IN (SELECT (i #>> '{}')::uuid
                                            FROM jsonb_array_elements(v_ids) i)
                       AND l.account_version IS NULL;
                    IF v_hv IS NOT NULL AND (
                           EXISTS (SELECT FROM payments.accounts a
                                    WHERE a.org_id = v_org AND a.id = ANY (v_hv) AND a.closed)
                        OR EXISTS (SELECT FROM payments.accounts a
                                    WHERE a.org_id = (SELECT o.id FROM payments.organizations o
                                                       WHERE o.is_platform)
                                      AND a.id = ANY (v_hv) AND a.closed)) THEN
                        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                            MESSAGE = 'ledger_write: a high-volume account was closed meanwhile';
                    END IF;
                END IF;
            END IF;

            SELECT jsonb_agg(CASE
                       WHEN v_stored ? (r.x ->> 'key') THEN
                           (v_stored -> (r.x ->> 'key') -> 'result')
                           || jsonb_build_object('status', v_stored -> (r.x ->> 'key') ->> 'status',
                                                 'replayed', true)
                       ELSE jsonb_build_object('status', 'succeeded', 'replayed', false,
                                               'id', v_ids -> (t.ord::int - 1))
                   END ORDER BY r.ord)
              INTO v_results
              FROM jsonb_array_elements(v_requests) WITH ORDINALITY r(x, ord)
              LEFT JOIN jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord)
                     ON t.x ->> 'key' = r.x ->> 'key';
            -- A recorded failure replays as the same refusal; in a batch it fails the batch.
            IF v_count > 1 THEN
                SELECT x AS failure INTO v_conflict FROM jsonb_array_elements(v_results) x
                 WHERE x ->> 'status' = 'failed' LIMIT 1;
                IF FOUND THEN
                    PERFORM payments._fail(v_conflict.failure ->> 'code',
                                           v_conflict.failure -> 'details');
                END IF;
            END IF;
            PERFORM set_config('payments.writer', 'off', true);
            RETURN jsonb_build_object('results', v_results);
        EXCEPTION
            -- A deadlock is not run again here: the caller gets 40P01 at once, its
            -- transaction aborted, and runs its unit of work again (the API does). The
            -- rollback to the subtransaction cannot release what the caller's transaction
            -- took before the call (a unit of work posting for two organizations): every
            -- retry deadlocked again, up to 20 a side, a deadlock timeout each (review of
            -- e423f18). Even a caller that held nothing before may lose again: its retry
            -- can retake a row before the woken waiter does (seen in a test). Nor is a
            -- lock_not_available (the caller's own lock_timeout): running it again would
            -- make the caller wait its timeout up to 20 times, not once.
            WHEN serialization_failure THEN
                IF v_attempt = 20 THEN
                    RAISE;
                END IF;
                PERFORM pg_sleep(0.001 * v_attempt * random());
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'idempotency_keys_pkey' THEN
                    CONTINUE;  -- a concurrent request with the same key won: replay it
                ELSIF v_constraint = 'entries_org_external_ref_key' THEN
                    SELECT e.id, e.external_ref INTO v_conflict
                      FROM payments.entries e
                      JOIN jsonb_array_elements(v_requests) r(x)
                        ON e.org_id = v_org AND e.external_ref = r.x ->> 'external_ref'
                     LIMIT 1;
                    PERFORM payments._fail('duplicate_external_reference', jsonb_build_object(
                        'external_ref', v_conflict.external_ref, 'entry_id', v_conflict.id));
                ELSIF v_constraint = 'accounts_org_code_key' THEN
                    PERFORM payments._fail('duplicate_account_code', jsonb_build_object(
                        'org_id', v_org, 'account_code', v_requests -> 0 ->> 'code'));
                ELSIF v_constraint = 'entries_reversed_once' THEN
                    SELECT e.id, e.reverses_entry_id INTO v_conflict
                      FROM payments.entries e
                      JOIN jsonb_array_elements(v_requests) r(x)
                        ON e.reverses_entry_id = (r.x ->> 'reverses')::uuid
                     LIMIT 1;
                    IF FOUND THEN
                        v_code := 'entry_already_reversed';
                        v_detail := jsonb_build_object('entry_id', v_conflict.reverses_entry_id,
                                                       'reversal_entry_id', v_conflict.id)::text;
                    ELSE
                        -- the same entry reversed twice within one batch
                        PERFORM payments._fail('invalid_request', jsonb_build_object(
                            'reason', 'the batch reverses one entry twice'));
                    END IF;
                ELSE
                    RAISE;
                END IF;
            WHEN SQLSTATE 'LX001' THEN
                GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            WHEN check_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint LIKE 'accounts_%' THEN
                    PERFORM payments._fail('invalid_account', jsonb_build_object('reason', v_constraint));
                END IF;
                RAISE;
            WHEN invalid_text_representation OR numeric_value_out_of_range
                 OR invalid_datetime_format OR datetime_field_overflow THEN
                GET STACKED DIAGNOSTICS v_detail = MESSAGE_TEXT;
                PERFORM payments._fail('invalid_request', jsonb_build_object('reason', v_detail));
        END;
        -- Here only after a refusal (v_code): store it when it is a recorded one.
        IF v_code IS NOT NULL THEN
            IF v_record AND v_count = 1 AND v_code = ANY (payments.recorded_error_codes()) THEN
                INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
                VALUES (v_org, v_requests -> 0 ->> 'key', v_op, v_requests -> 0 ->> 'hash', 'failed',
                        jsonb_build_object('code', v_code, 'details', v_detail::jsonb));
                RETURN jsonb_build_object('results', jsonb_build_array(jsonb_build_object(
                    'status', 'failed', 'replayed', false, 'code', v_code,
                    'details', v_detail::jsonb)));
            END IF;
            PERFORM payments._fail(v_code, v_detail::jsonb);
        END IF;
    END LOOP;
    RAISE EXCEPTION 'ledger_write: too many retries';
END
$$;

------------------------------------------------------------------------------------------
-- The fast writers' guards: one definition of each, used by post_entry's usual way (3a), its
-- step 3 and the capture's writer (post_capture_entry)
------------------------------------------------------------------------------------------

-- In this section the arrays are zipped in a select list (`SELECT unnest(a) AS x, unnest(b)
-- AS y`: a ProjectSet), not as `FROM unnest(a, b) AS t(x, y)` (a Function Scan storing each
-- function's rows in a tuplestore of its own): session 43, -2.5 % of a capture's
-- instructions, -7.3 % of a batch entry's (payments_batches.sql). Only the request handed to
-- the long way (ledger_write's jsonb) keeps the other form: it is built once, off the fast
-- paths.

-- Whether a regular account's row takes a line's (or an account's lines') p_debits and
-- p_credits in an entry of p_entry_currency: the account's currency, open, no overflow of
-- its posted totals, the overdraft flags counting its pending holds (the single-row UPDATE's
-- rules of the long way, judged on the locked row). The sums are numeric, so no amount a raw
-- call passes can overflow here. A line's own validity (a positive amount on a side, the
-- entry's one currency) is the caller's to judge. NULL when an argument is NULL: callers
-- read it as a refusal (coalesce, WHERE).
-- Each guard is ONE expression in a LANGUAGE sql function, IMMUTABLE (it reads nothing), no
-- SET, not SECURITY DEFINER, not STRICT: the planner inlines it into the statement or
-- PL/pgSQL expression that calls it (EXPLAIN VERBOSE shows the expression, no call), so it
-- costs what the expression written out costs. A rule added here holds for every writer; a
-- rule written beside a call holds for that writer alone (tests/escrow_core/
-- test_capture_guards.py breaks each guard in turn on both writers).
CREATE FUNCTION payments._regular_row_takes(
    p_currency text, p_closed boolean, p_posted_debits bigint, p_posted_credits bigint,
    p_pending_debits bigint, p_pending_credits bigint, p_debits_limited boolean,
    p_credits_limited boolean, p_entry_currency text, p_debits numeric, p_credits numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_currency = p_entry_currency AND NOT p_closed
       AND p_posted_debits::numeric + p_debits <= 9223372036854775807
       AND p_posted_credits::numeric + p_credits <= 9223372036854775807
       AND (NOT p_debits_limited
            OR p_posted_debits::numeric + p_pending_debits + p_debits
               <= p_posted_credits::numeric + p_credits)
       AND (NOT p_credits_limited
            OR p_posted_credits::numeric + p_pending_credits + p_credits
               <= p_posted_debits::numeric + p_debits)
$$;

-- Whether a high-volume account's row (read, not locked: its lines carry no position until
-- the roll-up) takes a line in an entry of p_entry_currency the fast way: the account's
-- currency, open, far from the overflow limits (below 2**61, no large line of its own
-- unrolled: the account's hint, as _check_positions judges them). A line's own validity
-- (below 2**40 too) is the caller's. Inlined as _regular_row_takes is.
CREATE FUNCTION payments._high_volume_row_takes(
    p_currency text, p_closed boolean, p_large_unrolled boolean, p_posted_debits bigint,
    p_posted_credits bigint, p_entry_currency text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_currency = p_entry_currency AND NOT p_closed AND NOT p_large_unrolled
       AND p_posted_debits < 2305843009213693952 AND p_posted_credits < 2305843009213693952
$$;

-- The closed recheck after a fast writer's writes: p_org's high-volume accounts among p_ids
-- that are closed now (read with the statement's snapshot: one closed while a statement
-- waited, for the key's or the reference's holder, after the row was judged open). A query
-- of one SELECT in a STABLE SQL set-returning function, called in FROM: the planner inlines
-- it as a subquery (no function call).
CREATE FUNCTION payments._closed_high_volume(p_org uuid, p_ids uuid[]) RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
    SELECT a.id FROM payments.accounts a
     WHERE a.org_id = p_org AND a.id = ANY (p_ids) AND a.high_volume AND a.closed
$$;

------------------------------------------------------------------------------------------
-- The fast path: one entry with typed arguments, as its own request
------------------------------------------------------------------------------------------

-- Post one standard entry (no reversal, no conditions) for p_org under idempotency key
-- p_key (p_hash: the request's fingerprint, as ledger_write stores it). The usual case is a
-- handful of statements and no subtransaction:
--   1. who acts (the proof, the organization, the platform's id);
--   3a. the usual entry (two regular accounts, each on one line, and maybe high-volume
--      accounts, each on one line too: a sale's fee to the platform's revenue; or one
--      regular account beside high-volume ones: the payment's capture, the escrow with the
--      clearing and the two fees; one currency): the regular accounts locked and judged
--      (a statement of their own per organization), the high-volume ones read and judged
--      (a statement of their own per organization), the key taken (INSERT ON CONFLICT DO NOTHING: a key already there is a replay or a
--      conflict, answered by 2), the regular accounts moved by one UPDATE, the entry and
--      its lines inserted: five statements (seven with high-volume accounts), the key never
--      looked up first (measured, 1 client, A/B: a sale with its fee took 967 us of server
--      CPU by 2 to 4, 734 us this way);
--   2. otherwise the key looked up (a replay or a conflict ends here);
--   3. one SELECT locking the touched regular accounts in id order and judging them by every
--      rule that can refuse the entry (currency, closed, organization, overflow, overdraft
--      flags), reading their positions before; high-volume accounts are read, not locked;
--   4. the key (INSERT ON CONFLICT DO NOTHING); once it is taken, one UPDATE moving the
--      accounts (every one passed in 3), then the entry and its lines.
-- No account is moved before every one has passed, so nothing is ever moved and put back
-- (an account's triggers, a balance monitor's, see only movements that happen). Anything
-- unusual (a guard that held an account back, a high-volume account near its limits, a
-- duplicate external reference, a concurrent request under the same key) hands the request,
-- nothing moved, to ledger_write, which judges it the long way: the same refusals, details
-- and recorded failures as before. The row triggers lines_balanced, entries_have_lines
-- and idempotency_keys_org are skipped for this door's insert (payments.engine_checked): it
-- checks what they check itself (each line's account, organization and currency; the entry
-- balanced per currency, all its lines inserted with it; the organization; a non-empty key)
-- and writes rows that keep the rules of a single row they judge (a debit or a credit of a
-- positive amount, a complete position or none, the kind 'standard', the status
-- 'succeeded'). Every other trigger and rule holds.
CREATE FUNCTION payments.post_entry(
    p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[],
    p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb,
    p_effective_at timestamptz, p_external_ref text,
    OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET payments.writer = 'on'
SET payments.engine_checked = 'on' AS $$
#variable_conflict use_column
DECLARE
    -- Who acts: the actor the proof presented names (payments.current_actor(), a SQL function
    -- call, SECURITY DEFINER: asked only of a caller that presented a proof; with none it
    -- answers NULL, so a proofless caller, the owner posting as the workers, the CLI and the
    -- benchmarks do, is not asked).
    v_actor text := CASE WHEN coalesce(current_setting('liventix.actor_proof', true), '') <> ''
                         THEN payments.current_actor() END;
    v_refused boolean;
    v_platform uuid;
    v_key record;
    -- Time-ordered (UUIDv7), as the batch door's: the entries' primary key and lines_entry
    -- take each posting at their right edge, not at a random page of an index as large as
    -- the ledger (session 28: 5,298 -> 4,959 B of WAL per posting after a checkpoint).
    v_id uuid;
    v_n int;
    v_distinct int;
    v_ids uuid[];
    v_orgs uuid[];
    v_versions bigint[];
    v_debits bigint[];
    v_credits bigint[];
    v_hv_ids uuid[];
    v_hv_orgs uuid[];
    v_ok boolean;
    v_done int;
    v_dr bigint;
    v_cr bigint;
    v_balanced boolean;
    v_answer jsonb;
    v_at timestamptz;
    v_i int;
    v_row record;
    -- 3a's arrays start NULL (no initial value: an untyped '{}' was cast by array_in at every
    -- call); an element assigned to a NULL array makes it an array, and a missing element
    -- reads NULL.
    -- Where 3a's locked rows are (their ctid, in the order locked): the write finds them
    -- there, not by a second descent of the accounts' key (session 42: -18K instructions a
    -- two-line posting). A row this transaction holds FOR NO KEY UPDATE keeps its ctid until
    -- this transaction updates it.
    v_tids tid[];
    v_reg uuid[];  -- the regular accounts 3a locked, in the order locked: one or two
    -- per line (request order, 3a, by subscript): its account's organization, version and
    -- posted totals after it (NULL on a high-volume account's line but its organization)
    v_line_orgs uuid[];
    v_vers bigint[];
    v_debs bigint[];
    v_creds bigint[];
    -- The high-volume accounts 3a read (NULL: none): how many, and what the closed recheck
    -- probes (these alone, not every account of the request).
    v_hvs uuid[];
    -- The request's accounts not found by 3a's step 1: what the later steps probe (each
    -- probe of an id step 1 found was a descent of the accounts' key for nothing).
    v_missing uuid[];
    v_hv_id uuid;
    v_plat_hv int;  -- of v_hvs, the platform's (step 2's), once a step after it ran
    v_who uuid;  -- the organization whose accounts a statement reads: p_org, then the platform
    v_step int;  -- 3a's step: 1 and 4 lock regular accounts (p_org's, the platform's), 2 and 3
                 -- read high-volume ones (the platform's, p_org's)
    -- 3a: the entry's debits less its credits so far; numeric, as the shape's sum was: it is
    -- added to before a line is judged valid, and a raw call's negative amounts (a line below
    -- -2**40 is not large) would overflow a bigint into an untyped 22003 (review of 62e3ecf)
    v_net numeric;
    -- Of the regular accounts (3a), p_org's: counted once a step follows step 1; NULL when
    -- 3a ended at step 1 (every one of them is p_org's).
    v_org_regs int;
    v_moved int;  -- 3a's write: the regular rows moved
    v_eff timestamptz;  -- the entry's effective time
    v_closed uuid;
    v_pass_ids uuid[];
    v_pass_orgs uuid[];
    v_pass_versions bigint[];
    v_pass_debits bigint[];
    v_pass_credits bigint[];
    v_locked int;
    v_large boolean;  -- a line of 2**40 or more: the long way, nothing locked before it
BEGIN
    -- 1. Who acts: as _check_org. An organization acting for itself sees none of the
    -- platform's accounts (v_platform NULL); the platform's proof and the owner may use them.
    -- Whether a caller with no proof is the owner: payments._owner_role, the owner's test
    -- (as _trusted_caller's), inlined (_trusted_caller, a SQL function with a subquery, is
    -- not: called, it cost ~25 us of every owner's posting, perf, session 29), asked only of
    -- such a caller, of this door's owner (current_user here: no catalog query). The same
    -- statement draws the entry's id and counts its lines, and starts 3a's state: each
    -- PL/pgSQL assignment or condition is an expression compiled again in every transaction
    -- (a posting is one), a statement's target list is not dearer per value (session 39).
    SELECT p_org IS NULL
           OR NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = p_org)
           -- an organization's proof acting for another
           OR coalesce(CASE WHEN v_actor <> 'platform' THEN v_actor::uuid <> p_org END, false)
           -- no proof (or a wrong one), and not the owner
           OR (v_actor IS NULL
               AND NOT payments._owner_role(current_user)),
           CASE WHEN v_actor IS NULL OR v_actor = 'platform'
                THEN (SELECT o.id FROM payments.organizations o WHERE o.is_platform) END,
           uuidv7(), cardinality(p_accounts),
           -- A line of 2**40 or more goes the long way with no account locked here first (3a
           -- and 3 are skipped): _post locks the high-volume accounts such lines reach with
           -- the regular ones, organization by organization in the one order
           -- (_lock_accounts' p_large); the regular ones locked here first, the platform's
           -- among them, would come before them (review of 2e5ae69: a deadlock with a hold's
           -- creation).
           coalesce(1099511627776 <= ANY (p_amounts), false),
           0, true, p_org, 1
      INTO v_refused, v_platform, v_id, v_n, v_large, v_net, v_ok, v_who, v_step;
    -- The key's rule (idempotency_keys_key_check), which the skipped trigger would judge:
    -- after the organization's.
    IF v_refused OR p_key = '' THEN
        IF v_refused THEN
            PERFORM payments._fail('organization_not_found',
                                   jsonb_build_object('org_id', p_org));
        END IF;
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_key_check');
    END IF;

    -- 3a. The usual entry: two regular accounts, each on one line, and maybe high-volume
    -- ones (a sale's fee to the platform's revenue), or one regular account and one or more
    -- high-volume ones (the payment's capture: the escrow, the clearing, the platform's and
    -- Stripe's fees), every account on one line, in one currency; two lines are two regular
    -- accounts (one beside a high-volume one goes the general way). Two statements, one text
    -- each, run organization by organization in the doors' one order (docs/engine.md):
    --   r. the regular accounts of one organization, read and locked in id order (primary-key
    --      probes of the request's accounts, no high-volume branch);
    --   h. the high-volume accounts of one organization, read, not locked (an entry of three
    --      or more lines).
    -- Steps: (1) r of p_org; then, only while some account is still missing: for three or
    -- more lines (2) h of the platform (when the caller may use its accounts), (3) h of p_org;
    -- (4) r of the platform (after every lock of p_org's: the one order). The hot sale (two
    -- of the organization's regular accounts, the platform's high-volume fee) and the capture
    -- (the escrow, the platform's three high-volume accounts) run (1) and (2) only; a
    -- two-line entry (1), and (4) for a regular account of the platform's. Session 33's 3a
    -- ran one statement per organization, a UNION ALL of both kinds with eight subscripts
    -- per probe list, for every entry of three or more lines.
    -- Each row is judged once: a line's own validity here, the row by its kind's guard
    -- function, shared with step 3 and post_capture_entry (_regular_row_takes: the account's
    -- currency, open, overflow, overdraft flags; _high_volume_row_takes: far from its
    -- limits); the entry balances (a running net: every amount is below 2**40
    -- here, so eight of them cannot overflow) in one currency, each account found once.
    -- The key is not looked up first: its INSERT finds it (a replay locks the accounts,
    -- judges them and then answers from 2). Only once all pass and the key is taken are the
    -- regular rows moved (p_org's by the statement that takes the key, the platform's by one
    -- of their own); the key, the entry and its lines are plain INSERTs. Whatever does not
    -- fit (a guard that holds an account back, another number of regular accounts, a
    -- high-volume account near its limits, the key already there or taken meanwhile, a used
    -- reference) moves nothing and is handed to 2 and 3: no account is moved and put back,
    -- so nothing (a balance monitor's trigger) ever sees a movement that did not happen.
    IF NOT v_large AND v_n BETWEEN 2 AND 8 AND cardinality(p_sides) = v_n
       AND cardinality(p_amounts) = v_n AND cardinality(p_currencies) = v_n THEN
        LOOP
            IF v_step IN (1, 4) THEN
                FOR v_row IN
                    SELECT a.ctid, a.id, a.org_id, a.currency, a.closed, a.version,
                           a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,
                           a.debits_must_not_exceed_credits AS dm,
                           a.credits_must_not_exceed_debits AS cm
                      FROM payments.accounts a
                     WHERE a.org_id = v_who AND a.id = ANY (coalesce(v_missing, p_accounts))
                       AND NOT a.high_volume
                     ORDER BY a.id
                       FOR NO KEY UPDATE
                LOOP
                    v_i := array_position(p_accounts, v_row.id);
                    v_dr := CASE WHEN p_sides[v_i] = 'debit' THEN p_amounts[v_i] ELSE 0 END;
                    v_cr := CASE WHEN p_sides[v_i] = 'credit' THEN p_amounts[v_i] ELSE 0 END;
                    -- The line valid (a positive amount on a side) in the entry's currency,
                    -- and the guards of a regular row on the locked row (_regular_row_takes).
                    -- (A row is locked by one step only: each step reads only the accounts
                    -- the steps before it did not find.)
                    v_ok := v_ok AND coalesce(
                        v_dr + v_cr > 0 AND p_currencies[v_i] = p_currencies[1]
                        AND payments._regular_row_takes(
                                v_row.currency, v_row.closed, v_row.posted_debits,
                                v_row.posted_credits, v_row.pending_debits,
                                v_row.pending_credits, v_row.dm, v_row.cm, p_currencies[v_i],
                                v_dr, v_cr), false);
                    v_net := v_net + v_dr - v_cr;
                    v_reg := v_reg || v_row.id;
                    v_tids := v_tids || v_row.ctid;
                    -- The line's organization and its account's position after it.
                    v_line_orgs[v_i] := v_row.org_id;
                    v_vers[v_i] := v_row.version + 1;
                    v_debs[v_i] := CASE WHEN v_ok THEN v_row.posted_debits + v_dr END;
                    v_creds[v_i] := CASE WHEN v_ok THEN v_row.posted_credits + v_cr END;
                END LOOP;
            ELSE
                FOR v_row IN
                    SELECT a.id, a.org_id, a.currency, a.closed, a.posted_debits,
                           a.posted_credits, a.large_unrolled
                      FROM payments.accounts a
                     WHERE a.org_id = v_who AND a.id = ANY (v_missing) AND a.high_volume
                LOOP
                    v_i := array_position(p_accounts, v_row.id);
                    -- The line valid (a positive amount below 2**40 on a side) in the entry's
                    -- currency, and the guards of a high-volume row (_high_volume_row_takes);
                    -- its line carries no position until the roll-up.
                    v_ok := v_ok AND v_line_orgs[v_i] IS NULL AND coalesce(
                        p_amounts[v_i] > 0 AND p_sides[v_i] IN ('debit', 'credit')
                        AND p_currencies[v_i] = p_currencies[1]
                        AND p_amounts[v_i] < 1099511627776
                        AND payments._high_volume_row_takes(
                                v_row.currency, v_row.closed, v_row.large_unrolled,
                                v_row.posted_debits, v_row.posted_credits, p_currencies[v_i]),
                        false);
                    v_net := v_net + CASE WHEN p_sides[v_i] = 'debit' THEN p_amounts[v_i]
                                          ELSE -(p_amounts[v_i]::numeric) END;
                    v_line_orgs[v_i] := v_row.org_id;
                    v_hvs := v_hvs || v_row.id;
                END LOOP;
            END IF;
            -- The usual two lines leave by the first test, every account regular and found:
            -- a condition is compiled at its first run in a transaction, a step at a time
            -- (~190 instructions a step, each looked up again by its first run's check), so
            -- the second, ~33 steps, is compiled only by an entry that gets that far (two-line
            -- -13K instructions, the hot sale +4K; session 45).
            EXIT WHEN NOT v_ok OR cardinality(v_reg) = v_n;
            EXIT WHEN coalesce(cardinality(v_reg), 0) + coalesce(cardinality(v_hvs), 0) >= v_n
                   OR v_step = 4 OR (v_platform IS NULL AND (v_n = 2 OR v_step = 3))
                   OR (v_step = 1 AND cardinality(v_reg) > 2);
            -- What the later steps probe: the request's accounts less those found (after
            -- step 1 the regular ones, one or two: more is no usual entry, the long way).
            -- Never changed while a step's query runs on it (its scan's keys point into it).
            IF v_step = 1 THEN
                v_org_regs := coalesce(cardinality(v_reg), 0);
                v_missing := array_remove(array_remove(p_accounts, v_reg[1]), v_reg[2]);
            ELSE
                FOREACH v_hv_id IN ARRAY coalesce(v_hvs, '{}'::uuid[]) LOOP
                    v_missing := array_remove(v_missing, v_hv_id);
                END LOOP;
                IF v_step = 2 THEN
                    v_plat_hv := coalesce(cardinality(v_hvs), 0);
                END IF;
            END IF;
            -- The next step: 2 and 4 read the platform's (only for a caller that may use
            -- them), 3 the organization's high-volume ones (three or more lines).
            v_step := CASE WHEN v_n = 2 OR v_step = 3 THEN 4
                           WHEN v_step = 1 AND v_platform IS NULL THEN 3
                           ELSE v_step + 1 END;
            v_who := CASE WHEN v_step IN (2, 4) THEN v_platform ELSE p_org END;
        END LOOP;
        -- A used reference goes the long way (asked only of an entry naming one: a query).
        IF p_external_ref IS NOT NULL THEN
            v_ok := v_ok AND NOT EXISTS (SELECT FROM payments.entries e
                                          WHERE e.org_id = p_org
                                            AND e.external_ref = p_external_ref);
        END IF;
        -- Balanced, two regular accounts (or one beside high-volume ones), every account of
        -- the request found once.
        IF v_ok AND v_net = 0
           AND (cardinality(v_reg) = 2 OR (cardinality(v_reg) = 1 AND v_n > 2))
           AND cardinality(v_reg) + coalesce(cardinality(v_hvs), 0) = v_n THEN
            -- The key; nothing else when it is there (a replay, a conflict: 2).
            INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                                   result)
            VALUES (p_org, p_key, 'post_entries', p_hash, 'succeeded',
                    jsonb_build_object('id', v_id))
            ON CONFLICT DO NOTHING;
            IF FOUND THEN
                -- Every guard held on the locked rows: move them (one or two), by organization
                -- as they were locked: the organization's (none when both are the
                -- platform's), then the platform's when the entry moves one of its regular
                -- accounts.
                IF v_org_regs IS DISTINCT FROM 0 THEN
                    UPDATE payments.accounts a
                       SET posted_debits = v_debs[array_position(p_accounts, a.id)],
                           posted_credits = v_creds[array_position(p_accounts, a.id)],
                           version = v_vers[array_position(p_accounts, a.id)]
                     WHERE a.ctid = ANY (v_tids) AND a.org_id = p_org;
                    GET DIAGNOSTICS v_moved = ROW_COUNT;
                ELSE
                    v_moved := 0;
                END IF;
                -- Not when the platform posts for itself: the statement above moved every
                -- row then, whichever step read it.
                IF v_org_regs < cardinality(v_reg) AND v_platform IS DISTINCT FROM p_org THEN
                    UPDATE payments.accounts a
                       SET posted_debits = v_debs[array_position(p_accounts, a.id)],
                           posted_credits = v_creds[array_position(p_accounts, a.id)],
                           version = v_vers[array_position(p_accounts, a.id)]
                     WHERE a.ctid = ANY (v_tids) AND a.org_id = v_platform;
                    GET DIAGNOSTICS v_i = ROW_COUNT;
                    v_moved := v_moved + v_i;
                END IF;
                -- The entry, recorded at the time read once the key is taken; its insert
                -- answers the posting (status, id, replayed: any other way sets them again).
                v_at := clock_timestamp();
                INSERT INTO payments.entries (id, org_id, kind, description, metadata,
                                              effective_at, created_at, external_ref,
                                              idempotency_key)
                VALUES (v_id, p_org, 'standard', coalesce(p_description, ''),
                        coalesce(p_metadata, '{}'::jsonb), coalesce(p_effective_at, v_at), v_at,
                        p_external_ref, p_key)
                RETURNING 'succeeded', entries.id, false, entries.effective_at
                     INTO status, id, replayed, v_eff;
                -- In request order; a high-volume account's line without a position (its
                -- three arrays' elements NULL: shorter arrays are padded so).
                INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,
                                            amount, currency, effective_at, created_at,
                                            account_version, account_posted_debits,
                                            account_posted_credits)
                SELECT v_id, p_org, v_line_orgs[i], p_accounts[i], p_sides[i], p_amounts[i],
                       p_currencies[i], v_eff, v_at, v_vers[i], v_debs[i], v_creds[i]
                  FROM generate_series(1, v_n) AS i;
                GET DIAGNOSTICS v_done = ROW_COUNT;
                IF v_done <> v_n OR v_moved <> cardinality(v_reg) THEN
                    -- Cannot happen (every row locked, every line judged): never a key, a
                    -- moved row or an entry without all its lines.
                    RAISE EXCEPTION 'post_entry: % of % lines inserted, % accounts moved',
                        v_done, v_n, v_moved;
                END IF;
                -- A high-volume account read open above may have been closed while a statement
                -- since waited (the key's or the reference's holder): judged again, refused
                -- (raised: the key is this transaction's; a retry under it goes the long way,
                -- which remembers the refusal).
                -- Read by organization, as above.
                -- Each probes the high-volume accounts read (the platform's by step 2, the
                -- last step or followed by others, v_plat_hv of them; p_org's by step 3),
                -- unordered; only a refusal asks for the first in request order.
                IF v_hvs IS NOT NULL THEN
                    IF v_step >= 3 AND cardinality(v_hvs) > coalesce(v_plat_hv, 0) THEN
                        SELECT c.id INTO v_closed
                          FROM payments._closed_high_volume(p_org, v_hvs) AS c(id);
                        IF v_closed IS NOT NULL THEN
                            SELECT c.id INTO v_closed
                              FROM payments._closed_high_volume(p_org, v_hvs) AS c(id)
                             ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                        END IF;
                    END IF;
                    IF v_closed IS NULL AND (v_step = 2 OR v_plat_hv > 0) THEN
                        SELECT c.id INTO v_closed
                          FROM payments._closed_high_volume(v_platform, v_hvs) AS c(id);
                        IF v_closed IS NOT NULL THEN
                            SELECT c.id INTO v_closed
                              FROM payments._closed_high_volume(v_platform, v_hvs) AS c(id)
                             ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                        END IF;
                    END IF;
                    IF v_closed IS NOT NULL THEN
                        PERFORM payments._fail('account_closed',
                                               jsonb_build_object('account_id', v_closed));
                    END IF;
                END IF;
                RETURN;
            END IF;
        END IF;
        -- Not here: nothing was moved (the rows stay locked); 2 and 3 judge the request.
    END IF;

    -- 2. The key: a replay answers what was stored, another request under it conflicts.
    SELECT k.status, k.result, k.request_hash, k.operation INTO v_key
      FROM payments.idempotency_keys k WHERE k.org_id = p_org AND k.key = p_key;
    IF FOUND THEN
        IF v_key.request_hash <> p_hash OR v_key.operation <> 'post_entries' THEN
            PERFORM payments._fail('idempotency_conflict',
                jsonb_build_object('idempotency_key', p_key));
        END IF;
        status := v_key.status;
        id := (v_key.result ->> 'id')::uuid;
        code := v_key.result ->> 'code';
        details := v_key.result -> 'details';
        replayed := true;
        RETURN;
    END IF;

    -- 3. The regular accounts: locked and judged by every rule; they are moved in 4, only
    -- once every one passes and the key is taken (never moved and put back). Read by
    -- organization in the doors' one order (docs/engine.md): the organization's accounts
    -- (regular ones locked in id order, then the high-volume ones read), then, when some
    -- are still missing and the caller may use them, the platform's, the same way.
    v_ids := '{}';
    v_orgs := '{}';
    v_versions := '{}';
    v_debits := '{}';
    v_credits := '{}';
    v_done := 0;
    v_who := p_org;
    LOOP
        EXIT WHEN v_large;  -- step 4 is not taken (it asks NOT v_large): the long way
        WITH l AS (
            SELECT x.account_id, x.side, x.amount, x.currency
              FROM (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                           unnest(p_amounts) AS amount, unnest(p_currencies) AS currency) AS x
        ), d AS (
            SELECT l.account_id,
                   count(DISTINCT l.currency) AS currencies, min(l.currency) AS currency,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits,
                   count(*) AS n
              FROM l GROUP BY l.account_id
        ), valid AS (
            SELECT v_n >= 2 AND cardinality(p_sides) = v_n AND cardinality(p_amounts) = v_n
                   AND cardinality(p_currencies) = v_n
                   AND coalesce(bool_and(l.account_id IS NOT NULL
                                         AND l.side IN ('debit', 'credit')
                                         AND l.amount > 0 AND l.currency IS NOT NULL), false)
                   -- balanced per currency (the row triggers are skipped in this door)
                   AND coalesce((SELECT bool_and(b.net = 0)
                                   FROM (SELECT sum(CASE x.side WHEN 'debit' THEN x.amount
                                                                ELSE -x.amount END) AS net
                                           FROM l x GROUP BY x.currency) b), false) AS ok
              FROM l
        ), locked AS (
            SELECT a.id, a.org_id, a.currency, a.closed, a.version, a.posted_debits,
                   a.posted_credits, a.pending_debits, a.pending_credits,
                   a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits
              FROM payments.accounts a
             WHERE a.org_id = v_who AND a.id = ANY (p_accounts) AND NOT a.high_volume
             ORDER BY a.id
               FOR NO KEY UPDATE
        ), fine AS (
            SELECT a.id, a.org_id, a.version, a.posted_debits, a.posted_credits
              FROM d JOIN locked a ON a.id = d.account_id
             WHERE (SELECT valid.ok FROM valid)
               AND d.currencies = 1
               AND payments._regular_row_takes(
                       a.currency, a.closed, a.posted_debits, a.posted_credits,
                       a.pending_debits, a.pending_credits, a.debits_must_not_exceed_credits,
                       a.credits_must_not_exceed_debits, d.currency, d.debits, d.credits)
        )
        SELECT array_agg(m.id), array_agg(m.org_id), array_agg(m.version),
               array_agg(m.posted_debits), array_agg(m.posted_credits),
               (SELECT count(*) FROM d), (SELECT valid.ok FROM valid),
               (SELECT count(*) FROM locked)
          INTO v_pass_ids, v_pass_orgs, v_pass_versions, v_pass_debits, v_pass_credits,
               v_distinct, v_ok, v_locked
          FROM fine m;
        v_ids := v_ids || coalesce(v_pass_ids, '{}');
        v_orgs := v_orgs || coalesce(v_pass_orgs, '{}');
        v_versions := v_versions || coalesce(v_pass_versions, '{}');
        v_debits := v_debits || coalesce(v_pass_debits, '{}');
        v_credits := v_credits || coalesce(v_pass_credits, '{}');
        -- A regular account held back by a guard: the long way judges it.
        v_ok := v_ok IS TRUE AND v_locked = coalesce(cardinality(v_pass_ids), 0);
        v_done := v_done + coalesce(cardinality(v_pass_ids), 0);

        -- High-volume accounts are not locked (their lines are rolled up later); they take
        -- the fast path while far from the overflow limits (the account's hint, as
        -- _check_positions judges them).
        IF v_ok AND v_done < v_distinct THEN
            SELECT array_agg(h.id), array_agg(h.org_id) INTO v_pass_ids, v_pass_orgs
              FROM (SELECT a.id, a.org_id
                      FROM payments.accounts a
                      JOIN (SELECT unnest(p_accounts) AS account_id, unnest(p_amounts) AS amount,
                                   unnest(p_currencies) AS currency) AS x
                        ON a.id = x.account_id
                     WHERE a.org_id = v_who AND a.id = ANY (p_accounts) AND a.high_volume
                     GROUP BY a.id, a.org_id
                    HAVING bool_and(payments._high_volume_row_takes(
                                        a.currency, a.closed, a.large_unrolled,
                                        a.posted_debits, a.posted_credits, x.currency)
                                    AND x.amount < 1099511627776)) h;
            v_hv_ids := coalesce(v_hv_ids, '{}') || coalesce(v_pass_ids, '{}');
            v_hv_orgs := coalesce(v_hv_orgs, '{}') || coalesce(v_pass_orgs, '{}');
            v_done := v_done + coalesce(cardinality(v_pass_ids), 0);
        END IF;
        EXIT WHEN NOT v_ok OR v_done >= v_distinct OR v_platform IS NULL
               OR v_who = v_platform;
        v_who := v_platform;
    END LOOP;
    IF v_hv_ids = '{}' THEN
        v_hv_ids := NULL;
        v_hv_orgs := NULL;
    END IF;

    -- 4. The key, then the regular accounts moved (every one passed in 3), then the entry and
    -- its lines; nothing if the key was taken meanwhile (ON CONFLICT waited for that
    -- request's commit) or the reference is used.
    -- Recorded at the time read now that the regular accounts are locked (as _post does).
    -- Only a valid entry (two or more lines, balanced per currency: v_ok) is inserted here,
    -- whatever its accounts are; any other goes the long way, which refuses it, typed.
    v_at := clock_timestamp();
    IF v_large IS FALSE AND v_ok IS TRUE AND v_done = v_distinct
       AND (p_external_ref IS NULL OR NOT EXISTS (
            SELECT FROM payments.entries e
             WHERE e.org_id = p_org AND e.external_ref = p_external_ref)) THEN
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        VALUES (p_org, p_key, 'post_entries', p_hash, 'succeeded',
                jsonb_build_object('id', v_id))
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            -- The rows are locked and every guard held on them: the same sums as the lines'.
            -- By organization, as they were locked (the platform's only when it has some).
            v_done := 0;
            v_who := p_org;
            WHILE v_who IS NOT NULL LOOP
                UPDATE payments.accounts a
                   SET posted_debits = a.posted_debits + d.debits,
                       posted_credits = a.posted_credits + d.credits,
                       version = a.version + d.n
                  FROM (SELECT x.account_id,
                               coalesce(sum(x.amount) FILTER (WHERE x.side = 'debit'), 0)
                                   AS debits,
                               coalesce(sum(x.amount) FILTER (WHERE x.side = 'credit'), 0)
                                   AS credits,
                               count(*) AS n
                          FROM (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                                       unnest(p_amounts) AS amount) AS x
                         WHERE x.account_id IN (SELECT r.id
                                                  FROM (SELECT unnest(v_ids) AS id,
                                                               unnest(v_orgs) AS o) AS r
                                                 WHERE r.o = v_who)
                         GROUP BY x.account_id) d
                 WHERE a.org_id = v_who AND a.id = d.account_id;
                GET DIAGNOSTICS v_i = ROW_COUNT;
                v_done := v_done + v_i;
                EXIT WHEN v_who <> p_org OR v_platform IS NULL OR v_platform = p_org
                       OR NOT v_platform = ANY (v_orgs);
                v_who := v_platform;
            END LOOP;
            IF v_done <> coalesce(cardinality(v_ids), 0) THEN  -- cannot happen: locked above
                RAISE EXCEPTION 'post_entry: % of % accounts moved', v_done,
                    coalesce(cardinality(v_ids), 0);
            END IF;
            WITH e AS (
                INSERT INTO payments.entries (id, org_id, kind, description, metadata,
                                              effective_at, created_at, external_ref,
                                              idempotency_key)
                SELECT v_id, p_org, 'standard', coalesce(p_description, ''),
                       coalesce(p_metadata, '{}'::jsonb), coalesce(p_effective_at, v_at), v_at,
                       p_external_ref, p_key
                RETURNING entries.id, entries.effective_at, entries.created_at
            ), a AS (
                SELECT r.id, r.org_id, r.version, r.debits, r.credits
                  FROM (SELECT unnest(v_ids) AS id, unnest(v_orgs) AS org_id,
                               unnest(v_versions) AS version, unnest(v_debits) AS debits,
                               unnest(v_credits) AS credits) AS r
                UNION ALL
                SELECT h.id, h.org_id, NULL, NULL, NULL
                  FROM (SELECT unnest(v_hv_ids) AS id, unnest(v_hv_orgs) AS org_id) AS h
            ), ins AS (
                INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,
                                            amount, currency, effective_at, created_at,
                                            account_version, account_posted_debits,
                                            account_posted_credits)
                SELECT e.id, p_org, a.org_id, x.account_id, x.side, x.amount, x.currency,
                       e.effective_at, e.created_at, a.version + row_number() OVER w,
                       a.debits
                         + sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END) OVER w,
                       a.credits
                         + sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END) OVER w
                  FROM e
                 CROSS JOIN (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                                    unnest(p_amounts) AS amount,
                                    unnest(p_currencies) AS currency,
                                    generate_series(1, cardinality(p_accounts)) AS ord) AS x
                  JOIN a ON a.id = x.account_id
                WINDOW w AS (PARTITION BY x.account_id ORDER BY x.ord)
                 ORDER BY x.ord
                RETURNING lines.side, lines.amount, lines.currency
            )
            -- The backstop, over the rows inserted (the row triggers are skipped): how
            -- many, and whether they balance per currency.
            SELECT coalesce(sum(b.n), 0), coalesce(bool_and(b.net = 0), false)
              INTO v_done, v_balanced
              FROM (SELECT count(*) AS n,
                           sum(CASE ins.side WHEN 'debit' THEN ins.amount ELSE -ins.amount END)
                               AS net
                      FROM ins GROUP BY ins.currency) b;
            IF v_done <> v_n OR v_done < 2 OR NOT v_balanced THEN
                -- Cannot happen (every line's account was moved or read above, the entry
                -- checked valid); never leave an entry with some of its lines, or unbalanced,
                -- nor a key and moved accounts without their entry: abort.
                RAISE EXCEPTION 'post_entry: % of % lines inserted, balanced: %',
                    v_done, v_n, v_balanced;
            END IF;
            -- As in 3a: a high-volume account closed while a statement waited is refused.
            -- Read by organization, as above.
            IF v_hv_ids IS NOT NULL THEN
                SELECT c.id INTO v_closed
                  FROM payments._closed_high_volume(p_org, v_hv_ids) AS c(id)
                 ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                IF v_closed IS NULL AND v_platform = ANY (v_hv_orgs) THEN
                    SELECT c.id INTO v_closed
                      FROM payments._closed_high_volume(v_platform, v_hv_ids) AS c(id)
                     ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                END IF;
                IF v_closed IS NOT NULL THEN
                    PERFORM payments._fail('account_closed',
                                           jsonb_build_object('account_id', v_closed));
                END IF;
            END IF;
            status := 'succeeded';
            id := v_id;
            replayed := false;
            RETURN;
        END IF;
    END IF;

    -- The long way: nothing was moved (the regular accounts stay locked); ask ledger_write.
    v_answer := payments.ledger_write(jsonb_build_object(
        'org_id', p_org, 'operation', 'post_entries', 'record_failure', true,
        'requests', jsonb_build_array(jsonb_build_object(
            'key', p_key, 'hash', p_hash, 'kind', 'standard',
            -- No line at all is an empty array (too_few_lines), never JSON's null.
            'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('account_id', x.account_id,
                                                                   'side', x.side,
                                                                   'amount', x.amount,
                                                                   'currency', x.currency)
                                                ORDER BY x.ord)
                                 FROM unnest(p_accounts, p_sides, p_amounts, p_currencies)
                                      WITH ORDINALITY AS x(account_id, side, amount, currency,
                                                           ord)), '[]'::jsonb),
            'description', coalesce(p_description, ''),
            'metadata', coalesce(p_metadata, '{}'::jsonb),
            'effective_at', p_effective_at, 'external_ref', p_external_ref,
            'conditions', '[]'::jsonb)))) -> 'results' -> 0;
    status := v_answer ->> 'status';
    id := (v_answer ->> 'id')::uuid;
    replayed := (v_answer ->> 'replayed')::boolean;
    code := v_answer ->> 'code';
    details := v_answer -> 'details';
END
$$;

ALTER FUNCTION payments.post_entry(uuid, text, text, uuid[], text[], bigint[], text[], text,
    jsonb, timestamptz, text) SET plan_cache_mode = force_generic_plan;

-- Both doors read by index whatever the statistics say. A session keeps the plans it builds
-- (generic ones here), and a plan chosen while the tables held a few rows (a new deployment,
-- a benchmark's fresh database: ANALYZE is what replans) scanned them whole: post_entry the
-- accounts to lock and move and the entries for an external reference (and the keys on a
-- replay), ledger_write the keys, the entries a reversal names, the entry's lines and
-- accounts, and the checks its inserts fire, every call until the next ANALYZE, each dearer
-- as the tables grew. Every statement in them finds its rows by an index; enable_seqscan off
-- leaves the planner no other choice (a table scan stays possible where no index serves).
-- The helpers they call (_post, _lock_accounts, _check_positions, the row triggers) run
-- under it too. As post_batch_fast (payments_batches.sql). Its cost, one more setting saved
-- and restored per call: ~0.08 us of a posting's ~150+ (session 30, docs/engine.md).
ALTER FUNCTION payments.post_entry(uuid, text, text, uuid[], text[], bigint[], text[], text,
    jsonb, timestamptz, text) SET enable_seqscan = off;
ALTER FUNCTION payments.ledger_write(jsonb) SET enable_seqscan = off;
-- The usual way's lock (3a: `a.id = ANY (p_accounts)`, an array of unknown length to the
-- generic plan, estimated at five rows) was planned as a bitmap scan and a sort by id; an
-- index scan of the key returns the probes in id order, unsorted, as the two-subscript list
-- of session 33's two-line statement was planned. Backend instructions per two-line posting
-- (cachegrind, one backend, 200 postings): 1,413K without this setting, 1,375K with it.
ALTER FUNCTION payments.post_entry(uuid, text, text, uuid[], text[], bigint[], text[], text,
    jsonb, timestamptz, text) SET enable_bitmapscan = off;

-- The payment's capture's entry (payments.capture_card_payment, escrow.sql): ONE regular
-- account of p_org (p_regular: the escrow) beside high-volume accounts of the platform's
-- (p_high_volume: the clearing and the fees), three to eight lines, each account on one line,
-- one currency. The same entry post_entry's usual way (3a, steps 1 and 2) posts, judged by
-- the same guards, in fewer statements and PL/pgSQL expressions (every expression is compiled
-- again in each transaction, and a capture is one): the regular row locked and every line
-- judged in one statement (the caller's right to act, the line's own validity, each row's
-- guards, the balance, the reference unused), the key, the regular row's move, the entry and
-- its lines in a second, the high-volume rows' closed recheck in a third. It answers the
-- entry's id, or NULL having written nothing when the entry is anything else, a guard holds
-- it back, the caller is not the platform nor the owner, or the key is there already: the
-- caller then asks post_entry, which judges it its own ways (the same refusals, recorded
-- failures, replays and conflicts as before). The row triggers it skips (engine_checked)
-- are skipped as post_entry skips them: it checks what they check itself; a backstop counts
-- and balances the lines inserted. Every guard is post_entry's own definition: who acts
-- (payments._owner_role), the regular row's (_regular_row_takes), the high-volume rows'
-- (_high_volume_row_takes), the closed recheck's (_closed_high_volume). The high-volume rows
-- are judged by the second statement (its snapshot is taken once the first holds the
-- regular row's lock, as post_entry reads them after its lock: a flag or a total changed
-- while the lock was awaited is seen), as the gate of the key's insert: one of them held
-- back, or one named twice (counted by account, not by line), and nothing is written; the
-- closed recheck after the writes reads them again (a close while the key's insert waited).
CREATE FUNCTION payments.post_capture_entry(
    p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[],
    p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text,
    p_regular uuid, p_high_volume uuid[]) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET payments.writer = 'on'
SET payments.engine_checked = 'on' AS $$
DECLARE
    v_platform uuid;
    v_version bigint;  -- the regular row's after the line, and its posted totals
    v_debits bigint;
    v_credits bigint;
    v_id uuid;
    v_at timestamptz;
    v_keys int;
    v_lines int;
    v_net numeric;
    v_closed uuid;
BEGIN
    -- Who acts (as post_entry's step 1, for a caller that may use the platform's accounts:
    -- the platform's proof, or no proof and the owner; anyone else is post_entry's to
    -- judge), the regular row locked and judged, every line judged, in one statement: a row
    -- only when all holds. Each check is an expression over the arrays (an operator each:
    -- every node of a statement's expressions is compiled again at each execution) or one
    -- subquery.
    SELECT (SELECT o.id FROM payments.organizations o WHERE o.is_platform), r.version + 1,
           r.posted_debits + h.dr, r.posted_credits + h.cr, uuidv7(), clock_timestamp()
      INTO v_platform, v_version, v_debits, v_credits, v_id, v_at
      FROM (SELECT a.id, a.currency, a.closed, a.version, a.posted_debits, a.posted_credits,
                   a.pending_debits, a.pending_credits,
                   a.debits_must_not_exceed_credits AS dm,
                   a.credits_must_not_exceed_debits AS cm
              FROM payments.accounts a
             WHERE a.org_id = p_org AND a.id = p_regular AND NOT a.high_volume
               -- who acts: the owner (no proof), or the platform's proof (current_actor(), a
               -- function call, asked only of a caller with a proof)
               AND CASE WHEN coalesce(current_setting('liventix.actor_proof', true), '') = ''
                        THEN payments._owner_role(current_user)
                        ELSE payments.current_actor() = 'platform' END
               FOR NO KEY UPDATE) r
     -- the lines: the regular line's amounts by side, the entry's net
     CROSS JOIN (SELECT coalesce(sum(x.m) FILTER (WHERE x.a = p_regular AND x.s = 'debit'), 0)
                            AS dr,
                        coalesce(sum(x.m) FILTER (WHERE x.a = p_regular AND x.s = 'credit'), 0)
                            AS cr,
                        sum(CASE WHEN x.s = 'debit' THEN x.m ELSE -(x.m::numeric) END) AS net
                   FROM (SELECT unnest(p_accounts) AS a, unnest(p_sides) AS s,
                                unnest(p_amounts) AS m) AS x) h
     -- The shape: three to eight lines, the arrays of one length, every account on one line
     -- (the regular one and each high-volume one: the same set, as many; the high-volume
     -- ones told apart by the key's gate below, which counts them by account), each line
     -- valid (a positive amount below 2**40 on a side) in the entry's one currency, the key
     -- not empty (idempotency_keys_key_check).
     WHERE cardinality(p_accounts) BETWEEN 3 AND 8
       AND cardinality(p_sides) = cardinality(p_accounts)
       AND cardinality(p_amounts) = cardinality(p_accounts)
       AND cardinality(p_currencies) = cardinality(p_accounts)
       AND cardinality(p_high_volume) = cardinality(p_accounts) - 1
       AND p_accounts <@ (p_regular || p_high_volume)
       AND (p_regular || p_high_volume) <@ p_accounts
       AND 0 < ALL (p_amounts) AND 1099511627776 > ALL (p_amounts)
       AND p_sides <@ '{debit,credit}'::text[] AND p_currencies <@ ARRAY[p_currencies[1]]
       AND p_key <> ''
       -- the regular row's guards, on the locked row
       AND payments._regular_row_takes(r.currency, r.closed, r.posted_debits,
                                       r.posted_credits, r.pending_debits, r.pending_credits,
                                       r.dm, r.cm, p_currencies[1], h.dr, h.cr)
       AND h.net = 0
       -- a used reference is post_entry's to refuse
       AND (p_external_ref IS NULL OR NOT EXISTS (
               SELECT FROM payments.entries e
                WHERE e.org_id = p_org AND e.external_ref = p_external_ref));
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The key, gated by the high-volume rows (read now, after the regular row's lock): every
    -- account of p_high_volume the platform's, high-volume and taking its line
    -- (_high_volume_row_takes), counted by account (so none named twice: with the arrays'
    -- containment both ways and the lengths above, every account of the entry is on one
    -- line); a row held back or a key already there: nothing else written, NULL. Then the
    -- regular row moved, the entry and its lines (in request order, the order of the arrays'
    -- one scan, as post_entry inserts them; a high-volume account's line without a
    -- position), the entry's id (time-ordered, UUIDv7, as post_entry's) and time (recorded
    -- at the time read once the row is locked) drawn by the first statement; the backstop
    -- over the lines inserted.
    WITH k AS (
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        SELECT p_org, p_key, 'post_entries', p_hash, 'succeeded',
               jsonb_build_object('id', v_id)
         WHERE (SELECT count(*)
                  FROM payments.accounts a
                 WHERE a.org_id = v_platform AND a.id = ANY (p_high_volume) AND a.high_volume
                   AND payments._high_volume_row_takes(a.currency, a.closed,
                                                       a.large_unrolled, a.posted_debits,
                                                       a.posted_credits, p_currencies[1]))
               = cardinality(p_high_volume)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), m AS (
        UPDATE payments.accounts a
           SET posted_debits = v_debits, posted_credits = v_credits, version = v_version
         WHERE a.org_id = p_org AND a.id = p_regular AND EXISTS (SELECT FROM k)
        RETURNING a.id
    ), e AS (
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, idempotency_key)
        SELECT v_id, p_org, 'standard', coalesce(p_description, ''), '{}'::jsonb, v_at, v_at,
               p_external_ref, p_key
          FROM m
        RETURNING 1
    ), l AS (
        INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                    currency, effective_at, created_at, account_version,
                                    account_posted_debits, account_posted_credits)
        SELECT v_id, p_org, CASE WHEN x.a = p_regular THEN p_org ELSE v_platform END, x.a,
               x.s, x.m, x.c, v_at, v_at,
               CASE WHEN x.a = p_regular THEN v_version END,
               CASE WHEN x.a = p_regular THEN v_debits END,
               CASE WHEN x.a = p_regular THEN v_credits END
          FROM (SELECT unnest(p_accounts) AS a, unnest(p_sides) AS s, unnest(p_amounts) AS m,
                       unnest(p_currencies) AS c) AS x
         WHERE EXISTS (SELECT FROM e)
        RETURNING lines.side, lines.amount
    )
    SELECT (SELECT count(*) FROM k), count(*),
           coalesce(sum(CASE l.side WHEN 'debit' THEN l.amount ELSE -(l.amount::numeric) END),
                    0)
      INTO v_keys, v_lines, v_net
      FROM l;
    IF v_lines <> cardinality(p_accounts) OR v_net <> 0 THEN
        IF v_keys = 0 THEN  -- a high-volume row held back, or the key is there: post_entry
            RETURN NULL;    -- judges it (the long way, a replay or a conflict)
        END IF;
        -- Cannot happen (the row locked, every line judged): never a key, a moved row or an
        -- entry without all its lines, balanced.
        RAISE EXCEPTION 'post_capture_entry: % of % lines inserted, net %', v_lines,
            cardinality(p_accounts), v_net;
    END IF;
    -- As post_entry's: a high-volume account closed while a statement waited is refused
    -- (raised: the key is this transaction's; a retry under it goes the long way). Probed
    -- unordered (no sort, no limit: ~10K instructions of a capture's ~1,386K); only a refusal
    -- asks for the first in request order.
    SELECT c.id INTO v_closed
      FROM payments._closed_high_volume(v_platform, p_high_volume) AS c(id);
    IF FOUND THEN
        SELECT c.id INTO v_closed
          FROM payments._closed_high_volume(v_platform, p_high_volume) AS c(id)
         ORDER BY array_position(p_accounts, c.id) LIMIT 1;
        PERFORM payments._fail('account_closed', jsonb_build_object('account_id', v_closed));
    END IF;
    RETURN v_id;
END
$$;
-- As post_entry's (array parameters: the generic plan, by index, the probes unsorted).
ALTER FUNCTION payments.post_capture_entry(uuid, text, text, uuid[], text[], bigint[], text[],
    text, text, uuid, uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION payments.post_capture_entry(uuid, text, text, uuid[], text[], bigint[], text[],
    text, text, uuid, uuid[]) SET enable_seqscan = off;
ALTER FUNCTION payments.post_capture_entry(uuid, text, text, uuid[], text[], bigint[], text[],
    text, text, uuid, uuid[]) SET enable_bitmapscan = off;


-- Expire every open hold whose expiry has passed (up to p_limit); returns how many.
-- Locks in the doors' one order (docs/engine.md): the holds first (a door posting or voiding
-- a hold locks it before its accounts; SKIP LOCKED: one a writer holds is left for the next
-- run), then all their accounts, each organization's by id in a statement of its own, the
-- platform's last, and only then releases them. Hold by hold in expiry order, each locking its
-- two accounts, it took one organization's accounts after the platform's of the hold before
-- (a deadlock with a door of that organization waiting for the platform's, review of
-- a9c95d2).
CREATE FUNCTION payments.expire_holds(p_limit int DEFAULT 1000) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_holds payments.holds[];
    h payments.holds;
    v_platform uuid := (SELECT o.id FROM payments.organizations o WHERE o.is_platform);
    v_org uuid;
BEGIN
    PERFORM payments._check_platform();
    PERFORM set_config('payments.writer', 'on', true);
    -- The due holds from the list of open ones (payments.hold_expiries, by expiry): what
    -- this reads does not grow with the holds resolved before (session 31; it walked
    -- holds_expiry over every hold whose expiry had passed).
    -- Each listed hold is locked by a subquery of its own (LATERAL, a probe of the holds'
    -- key per listed hold): with a join the planner may read the holds whole as the outer
    -- side (it did on small tables).
    SELECT coalesce(array_agg(d.h ORDER BY (d.h).expires_at, (d.h).id), '{}') INTO v_holds
      FROM (SELECT locked.held AS h
              FROM payments.hold_expiries q
             CROSS JOIN LATERAL (
                    SELECT x AS held FROM payments.holds x
                     WHERE x.id = q.hold_id AND x.org_id = q.org_id
                       AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                        WHERE r.hold_id = x.id)
                       FOR UPDATE SKIP LOCKED) locked
             WHERE q.expires_at <= now()
             ORDER BY q.expires_at, q.hold_id
             LIMIT p_limit) d;
    -- Resolved meanwhile by a writer that held the lock (this statement sees its commit).
    SELECT coalesce(array_agg(x ORDER BY x.expires_at, x.id), '{}') INTO v_holds
      FROM unnest(v_holds) x
     WHERE NOT EXISTS (SELECT FROM payments.hold_resolutions r WHERE r.hold_id = x.id);
    FOR v_org IN
        SELECT a.org FROM unnest(v_holds) x,
               LATERAL (VALUES (x.debit_org_id), (x.credit_org_id)) a(org)
         GROUP BY a.org
         ORDER BY a.org IS NOT DISTINCT FROM v_platform, a.org
    LOOP
        PERFORM FROM (SELECT a.id FROM payments.accounts a
                       WHERE a.org_id = v_org
                         AND a.id IN (SELECT x.debit_account_id FROM unnest(v_holds) x
                                       WHERE x.debit_org_id = v_org
                                      UNION ALL
                                      SELECT x.credit_account_id FROM unnest(v_holds) x
                                       WHERE x.credit_org_id = v_org)
                       ORDER BY a.id
                         FOR NO KEY UPDATE) a;
    END LOOP;
    FOREACH h IN ARRAY v_holds LOOP
        PERFORM payments._release_pending(h);
        INSERT INTO payments.hold_resolutions (hold_id, org_id, kind)
        VALUES (h.id, h.org_id, 'expired');
    END LOOP;
    PERFORM set_config('payments.writer', 'off', true);
    RETURN cardinality(v_holds);
END
$$;

-- Give a high-volume account's new lines their version and running totals, in line order,
-- and move them into the account row (up to p_limit lines); returns how many.
CREATE FUNCTION payments.roll_up(p_account uuid, p_limit int DEFAULT 100000) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a payments.accounts;
    v_done int;
BEGIN
    PERFORM payments._check_platform();
    PERFORM set_config('payments.writer', 'on', true);
    SELECT * INTO a FROM payments.accounts WHERE id = p_account AND high_volume FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH todo AS (
        SELECT l.id, l.entry_org_id, l.side, l.amount FROM payments.lines l
         WHERE l.account_id = p_account AND l.account_version IS NULL
         ORDER BY l.id LIMIT p_limit FOR UPDATE
    ), run AS (
        SELECT id, entry_org_id,
               a.version + row_number() OVER w AS version,
               a.posted_debits + sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END) OVER w AS debits,
               a.posted_credits + sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END) OVER w AS credits
          FROM todo WINDOW w AS (ORDER BY id)
    ), moved AS (
        UPDATE payments.lines l
           SET account_version = run.version, account_posted_debits = run.debits,
               account_posted_credits = run.credits
          -- By the primary key, (entry_org_id, id): the line's id alone is no index's lead.
          FROM run WHERE l.entry_org_id = run.entry_org_id AND l.id = run.id
        RETURNING run.version, run.debits, run.credits
    )
    UPDATE payments.accounts x
       SET version = m.version, posted_debits = m.debits, posted_credits = m.credits
      FROM (SELECT version, debits, credits FROM moved ORDER BY version DESC LIMIT 1) m
     WHERE x.id = p_account;
    GET DIAGNOSTICS v_done = ROW_COUNT;
    IF v_done > 0 THEN
        SELECT count(*) INTO v_done FROM payments.lines
         WHERE account_id = p_account AND account_version > a.version;
        -- The fast doors' overflow hint (accounts.large_unrolled): down once no large line
        -- is left unrolled. The row is locked: every writer of a large line on it holds or
        -- waits for this lock (the doors take it before they insert the line, the line's
        -- trigger raises the hint under it), so a large line this statement cannot see
        -- (uncommitted) raises the hint again once this transaction ends.
        UPDATE payments.accounts x SET large_unrolled = false
         WHERE x.id = p_account AND x.org_id = a.org_id AND x.large_unrolled
           AND NOT EXISTS (SELECT FROM payments.lines w
                            WHERE w.account_id = p_account AND w.account_version IS NULL
                              AND w.amount >= 1099511627776);
    END IF;
    PERFORM set_config('payments.writer', 'off', true);
    RETURN v_done;
END
$$;

-- Roll up every high-volume account; returns the number of lines rolled up. The accounts are
-- locked (each roll_up keeps its row locked to the end of the transaction) in the doors' one
-- order: every other organization's by organization and id, then the platform's by id (a
-- hold's creation locks two high-volume accounts, a posting with large lines may too).
CREATE FUNCTION payments.roll_up_all(p_limit int DEFAULT 100000) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_account uuid;
    v_done int := 0;
BEGIN
    PERFORM payments._check_platform();
    FOR v_account IN
        SELECT a.id FROM payments.accounts a
         WHERE a.high_volume
         ORDER BY a.org_id IS NOT DISTINCT FROM (SELECT o.id FROM payments.organizations o
                                                  WHERE o.is_platform),
                  a.org_id, a.id
    LOOP
        v_done := v_done + payments.roll_up(v_account, p_limit);
    END LOOP;
    RETURN v_done;
END
$$;

-- An account's balances as recorded by p_at, or with every line effective by p_at
-- (p_effective). Posted totals: a regular account's last line recorded by then (its lines are
-- recorded in version order, each carrying the totals it produced): one backward probe of
-- lines_account_recorded. By effective time, that corrected by the account's dated lines
-- (effective at another time than recorded) on the other side of the time: a probe of
-- lines_account_dated, empty unless entries were backdated or future-dated. A high-volume
-- account's lines are rolled up after commit, in no time order: its lines are summed. A line
-- of a regular account without a position (written by hand by the owner, bypassing the
-- engine: none otherwise; lines_unrolled finds them) is added by its own time, so the answer
-- is always the sum of the lines. Pending: the holds created by then and not yet resolved by
-- then. Row-level security applies (the caller's rights).
--
-- enable_sort is off for it: with a generic plan (the statement prepared after its fifth use)
-- the planner guessed a handful of lines per account and, an index-only scan of a table not
-- yet vacuumed looking dear, read every line of the account through lines_entry_org (an
-- index since dropped) and sorted them (measured: 22-58 ms for an account of 25,000 lines, 2,160 buffers; 0.1 ms, 13 buffers,
-- by the probe). Without a sort the last line by time is found only by the probe.
CREATE FUNCTION payments.balance_as_of(p_account uuid, p_at timestamptz, p_effective boolean)
RETURNS TABLE (account_id uuid, currency text, normal_side text, posted_debits numeric,
               posted_credits numeric, pending_debits numeric, pending_credits numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_sort = off AS $$
    SELECT a.id, a.currency, a.normal_side,
           coalesce(p.debits, s.debits, 0) + coalesce(c.debits, 0) + coalesce(u.debits, 0),
           coalesce(p.credits, s.credits, 0) + coalesce(c.credits, 0) + coalesce(u.credits, 0),
           (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
             WHERE h.debit_account_id = p_account AND h.created_at <= p_at
               AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                WHERE r.hold_id = h.id AND r.created_at <= p_at)),
           (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
             WHERE h.credit_account_id = p_account AND h.created_at <= p_at
               AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                WHERE r.hold_id = h.id AND r.created_at <= p_at))
      FROM payments.accounts a
      LEFT JOIN LATERAL (
            SELECT l.account_posted_debits AS debits, l.account_posted_credits AS credits
              FROM payments.lines l
             WHERE NOT a.high_volume AND l.account_id = p_account AND l.created_at <= p_at
               AND l.account_version IS NOT NULL
             ORDER BY l.created_at DESC, l.account_version DESC
             LIMIT 1) p ON true
      LEFT JOIN LATERAL (
            SELECT sum(l.amount) FILTER (WHERE l.side = 'debit') AS debits,
                   sum(l.amount) FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE a.high_volume AND l.account_id = p_account
               AND CASE WHEN p_effective THEN l.effective_at ELSE l.created_at END <= p_at) s
             ON true
      LEFT JOIN LATERAL (
            SELECT sum(CASE WHEN l.effective_at <= p_at THEN l.amount ELSE -l.amount END)
                       FILTER (WHERE l.side = 'debit') AS debits,
                   sum(CASE WHEN l.effective_at <= p_at THEN l.amount ELSE -l.amount END)
                       FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE p_effective AND NOT a.high_volume AND l.account_id = p_account
               AND (l.effective_at <> l.created_at) IS TRUE
               AND (l.effective_at <= p_at) <> (l.created_at <= p_at)
               AND l.account_version IS NOT NULL) c ON true
      LEFT JOIN LATERAL (
            SELECT sum(l.amount) FILTER (WHERE l.side = 'debit') AS debits,
                   sum(l.amount) FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE NOT a.high_volume AND l.account_id = p_account
               AND l.account_version IS NULL
               AND CASE WHEN p_effective THEN l.effective_at ELSE l.created_at END <= p_at) u
             ON true
     WHERE a.id = p_account
$$;

-- The sweeper and the roll-up run on the worker's connection, which lives from the
-- deployment on, and the balance read on the API's pooled ones: with plans built while the
-- tables were nearly empty they scanned payments.holds and payments.accounts (the sweep),
-- payments.lines and payments.accounts (the roll-up of one account), payments.lines and
-- payments.holds (the balance) whole, until the next ANALYZE. Each finds its rows by an index
-- (the due holds by hold_expiries_due, an account's lines and holds by theirs), so enable_seqscan
-- is off for them as for the doors. Not for roll_up_all: its list of the high-volume accounts
-- has no index to use, and with table scans priced out it would read every account by one.
ALTER FUNCTION payments.expire_holds(int) SET enable_seqscan = off;
ALTER FUNCTION payments.roll_up(uuid, int) SET enable_seqscan = off;
ALTER FUNCTION payments.balance_as_of(uuid, timestamptz, boolean) SET enable_seqscan = off;

-- Their statements take array parameters, for which PostgreSQL keeps re-planning a custom
-- plan on every call (measured: a third of a posting's server time); the generic plan is as
-- good for them; _post too, since it counts an entry's lines in one pass.
ALTER FUNCTION payments._lock_accounts(uuid, uuid[], boolean, uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION payments._check_positions(jsonb, payments._run[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION payments._post(uuid, jsonb) SET plan_cache_mode = force_generic_plan;

-- The door functions run with their owner's rights (SECURITY DEFINER, fixed search_path):
-- the application's roles cannot write the ledger's tables at all, only call these. The
-- sweeper and the roll-up are the platform's; the internal functions are nobody's.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA payments FROM PUBLIC;
-- Who acts, and whether the caller is the owner, are anyone's to ask (the proof is the secret).
GRANT EXECUTE ON FUNCTION payments.current_actor(), payments.acting_as_platform(),
    payments._trusted_caller(), payments._owner_role(name) TO PUBLIC;
GRANT EXECUTE ON FUNCTION payments.current_org_id(), payments.ledger_write(jsonb),
    payments.balance_as_of(uuid, timestamptz, boolean),
    payments.recorded_error_codes() TO liventix_app, liventix_platform;
GRANT EXECUTE ON FUNCTION payments.post_entry(uuid, text, text, uuid[], text[], bigint[], text[],
    text, jsonb, timestamptz, text) TO liventix_app, liventix_platform;
GRANT EXECUTE ON FUNCTION payments.expire_holds(int), payments.roll_up(uuid, int),
    payments.roll_up_all(int) TO liventix_platform;
-- The capture's entry: the platform's (payments.capture_card_payment runs with its caller's
-- rights and is the platform's alone).
GRANT EXECUTE ON FUNCTION payments.post_capture_entry(uuid, text, text, uuid[], text[],
    bigint[], text[], text, text, uuid, uuid[]) TO liventix_platform;
