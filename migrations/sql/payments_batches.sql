-- Batches of entries: payments.post_batch, many entries in one call, each standing alone
-- (TigerBeetle's create_transfers) unless linked, and its set-based fast path. Built on the
-- engine's internals (payments_engine.sql: ledger_write, _check_org, the key store), so it
-- is applied after it.

------------------------------------------------------------------------------------------
-- Batches of independent entries (TigerBeetle's create_transfers)
------------------------------------------------------------------------------------------

-- Post many entries, each standing alone unless linked: p = {org_id, requests: [as
-- ledger_write's post_entries takes them], chains: [[request index, ...], ...]}, every
-- request in exactly one chain (a chain of one is an independent entry). A chain's entries
-- are posted together or not at all. Returns {results: [...]} in request order, as
-- ledger_write does: posted, replayed, or failed with its code; the entries of a refused
-- chain other than the one refused fail with linked_entry_failed naming it.
--
-- The usual case is one all-or-nothing call of ledger_write for the whole batch (one
-- subtransaction). When it is refused, every chain is judged on its own, in order, each in
-- its own subtransaction: an independent entry's recorded refusal is stored under its key as
-- a single posting's is (a retry keeps being refused); a linked chain stores no refusal (its
-- retry is judged again), and the entry that refused it is found by posting its prefixes.
CREATE FUNCTION payments.post_batch(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET payments.engine_checked = 'off' AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_requests jsonb := p -> 'requests';
    v_n int := jsonb_array_length(p -> 'requests');
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p -> 'requests')]);
    v_chain jsonb;
    v_len int;
    v_answer jsonb;
    v_code text;
    v_detail text;
    v_culprit int;
BEGIN
    IF v_n = 0 OR (SELECT count(*) FROM jsonb_array_elements(p -> 'chains') c,
                                         jsonb_array_elements_text(c) i) <> v_n THEN
        PERFORM payments._fail('invalid_request',
            jsonb_build_object('reason', 'every request belongs to exactly one chain'));
    END IF;
    PERFORM payments._check_org(v_org);
    BEGIN
        RETURN payments.ledger_write(jsonb_build_object(
            'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
            'requests', v_requests));
    EXCEPTION WHEN SQLSTATE 'LX001' THEN
        NULL;  -- something was refused: judged chain by chain below
    END;
    FOR v_chain IN SELECT c FROM jsonb_array_elements(p -> 'chains') c LOOP
        v_len := jsonb_array_length(v_chain);
        BEGIN
            v_answer := payments.ledger_write(jsonb_build_object(
                'org_id', v_org, 'operation', 'post_entries', 'record_failure', v_len = 1,
                'requests', (SELECT jsonb_agg(v_requests -> (i.x::int) ORDER BY i.o)
                               FROM jsonb_array_elements_text(v_chain) WITH ORDINALITY i(x, o))));
            FOR k IN 0 .. v_len - 1 LOOP
                v_results[(v_chain ->> k)::int + 1] := v_answer -> 'results' -> k;
            END LOOP;
        EXCEPTION WHEN SQLSTATE 'LX001' THEN
            GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            v_culprit := 0;
            IF v_len > 1 THEN
                FOR k IN 1 .. v_len LOOP
                    BEGIN
                        PERFORM payments.ledger_write(jsonb_build_object(
                            'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
                            'requests', (SELECT jsonb_agg(v_requests -> (i.x::int) ORDER BY i.o)
                                           FROM jsonb_array_elements_text(v_chain)
                                                WITH ORDINALITY i(x, o)
                                          WHERE i.o <= k)));
                        RAISE SQLSTATE 'LX003';  -- this prefix posts: undo it, try a longer one
                    EXCEPTION
                        WHEN SQLSTATE 'LX003' THEN
                            NULL;
                        WHEN SQLSTATE 'LX001' THEN
                            GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT,
                                                    v_detail = PG_EXCEPTION_DETAIL;
                            v_culprit := k - 1;
                            EXIT;
                    END;
                END LOOP;
            END IF;
            FOR k IN 0 .. v_len - 1 LOOP
                v_results[(v_chain ->> k)::int + 1] := CASE
                    WHEN k = v_culprit THEN jsonb_build_object(
                        'status', 'failed', 'replayed', false, 'code', v_code,
                        'details', v_detail::jsonb)
                    ELSE jsonb_build_object(
                        'status', 'failed', 'replayed', false, 'code', 'linked_entry_failed',
                        'details', jsonb_build_object('index', (v_chain ->> v_culprit)::int))
                END;
            END LOOP;
        END;
    END LOOP;
    RETURN jsonb_build_object('results', to_jsonb(v_results));
END
$$;

-- An account as post_batch_fast found it, before the batch moved it.
CREATE TYPE payments._batch_account AS (
    id uuid,
    org_id uuid,
    currency text,
    closed boolean,
    hv boolean,
    dm boolean,
    cm boolean,
    debits bigint,
    credits bigint,
    pending_debits bigint,
    pending_credits bigint,
    version bigint
);

-- The batch's fast path: standard entries without conditions in a few set-based statements,
-- typed arrays rather than jsonb, when nothing in the batch is unusual (every entry posts,
-- no key or external reference was seen before). One element per entry (p_keys ...
-- p_external_refs) and one per line (p_entry_of: the line's entry, 1-based; lines in request
-- order). Returns the new entries' ids in request order, or NULL when the batch must be
-- judged the long way (payments.post_batch: replays, conflicts, refusals, a high-volume
-- account near its limits, anything malformed), having written nothing: whatever it did is
-- undone with its subtransaction. Every rule _post applies is applied here, to the same
-- running positions (overdraft flags where each entry leaves each account, 64-bit totals).
-- As post_entry, it checks itself what the row triggers lines_balanced, entries_have_lines
-- and idempotency_keys_org check (each entry balanced per currency, of two or more lines, on
-- accounts of its organization and currency; the organization; non-empty keys), writes rows
-- that keep the rules of a single row they judge (a debit or a credit of a positive amount,
-- a complete position or none, the kind 'standard', the status 'succeeded'), and skips them
-- (payments.engine_checked).
--
-- The accounts, in the doors' one order (docs/engine.md), each statement pinned to one
-- organization (org_id = <one value>: one array scan of an accounts index leading with
-- (id, org_id) by the batch's ids, and one node under Citus): the organization's regular
-- accounts, locked in id order (FOR NO KEY UPDATE over the ORDER BY: the order holds
-- whatever plan the planner picks; the index scan's own order since session 43, no Sort) and
-- read whole, then its
-- high-volume ones (read, not locked; only when some account is still missing), then the
-- platform's regular and high-volume ones (only when some are still missing and the caller
-- may use them). The lines are judged on the values read (arrays, no second read), and only
-- then are the regular accounts moved, one UPDATE per organization. A refusal after the
-- locks raises inside the door's subtransaction: a declined batch leaves nothing moved and
-- nothing locked (the long way then judges it). Before session 29 the lock SELECT returned
-- ids only, a second statement read the accounts again to judge them, the UPDATE found them
-- a third time, the platform's were read in the organization's statements (org_id = p_org
-- OR org_id = <the platform's>), and a declined batch left its locks in the caller's
-- transaction. (An UPDATE taking the locks itself was tried: its order is the join's, which
-- the planner chooses; on a small organization it scanned the organization's accounts by
-- code.) High-volume accounts are read, not locked, as post_entry reads them.
--
-- Its cost is the rows it writes (bench.batches: a line's heap tuple and its five index
-- entries are most of it); what is around them is kept to a few statements per batch:
-- - the arrays are read by unnest (a subscript of a text array walks it from its start:
--   quadratic in the batch's size), each in a select list (`SELECT unnest(a) AS x,
--   unnest(b) AS y`: one ProjectSet handing over a row at a time), not as `FROM unnest(a, b)
--   AS t(x, y)` (a Function Scan, which stores every function's rows in a tuplestore of its
--   own and reads them back: session 43, -7.3 % of a batch entry's instructions). Both
--   zip the arrays, the shorter padded with NULLs;
-- - keys are compared in the "C" collation (byte order: all uniqueness needs);
-- - the entries' ids are UUIDv7 (time-ordered, as PostgreSQL 18 makes them), one drawn per
--   batch and numbered: the entries' primary key and lines_entry take each batch at their
--   right edge instead of at random pages all over an index that grows with the ledger.
CREATE FUNCTION payments.post_batch_fast(
    p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[],
    p_effective_at timestamptz[], p_external_refs text[], p_entry_of int[], p_accounts uuid[],
    p_sides text[], p_amounts bigint[], p_currencies text[])
RETURNS uuid[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET payments.writer = 'on'
SET payments.engine_checked = 'on' AS $$
DECLARE
    -- Who acts, asked once (each question computes the actor's proof again).
    v_actor text := payments.current_actor();
    v_acting uuid := CASE WHEN v_actor <> 'platform' THEN v_actor::uuid END;
    v_known boolean;
    v_platform uuid;
    v_who uuid;
    v_n int := coalesce(cardinality(p_keys), 0);
    v_m int := coalesce(cardinality(p_accounts), 0);
    v_ok boolean;
    v_refs bigint;
    v_distinct int;
    -- The accounts found, as they were before this batch, and their ids.
    v_accounts payments._batch_account[] := '{}';
    v_found uuid[] := '{}';
    -- Where the regular accounts locked are (their rows' ctid): the UPDATE finds them there
    -- (a Tid Scan), not by a descent of the accounts' key per account (session 42: -1.7 % of
    -- a batch entry's instructions). A row this transaction holds FOR NO KEY UPDATE keeps
    -- its ctid until this transaction updates it.
    v_tids tid[] := '{}';
    v_hv_ids uuid[] := '{}';
    v_orgs uuid[];
    v_versions bigint[];
    v_debits bigint[];
    v_credits bigint[];
    v_ids uuid[];
    v_base bytea;
    v_low bigint;
    v_done bigint;
    v_moved bigint := 0;
    v_at timestamptz;
BEGIN
    -- Who acts: as post_entry.
    SELECT EXISTS (SELECT FROM payments.organizations o WHERE o.id = p_org),
           (SELECT o.id FROM payments.organizations o WHERE o.is_platform)
      INTO v_known, v_platform;
    IF p_org IS NULL OR NOT v_known
       OR (v_acting IS NOT NULL AND v_acting <> p_org)
       OR (v_acting IS NULL AND v_actor IS DISTINCT FROM 'platform'
           AND NOT payments._trusted_caller()) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
    IF v_acting IS NOT NULL OR v_platform = p_org THEN
        v_platform := NULL;
    END IF;

    -- The shape: arrays of matching lengths, unique keys, entries 1..n each of two or more
    -- valid lines balancing per currency (every line's entry one of 1..n: a NULL is no
    -- entry); no key or external reference seen before.
    IF v_n = 0 OR v_n > 10000
       OR cardinality(p_hashes) IS DISTINCT FROM v_n
       OR cardinality(p_descriptions) IS DISTINCT FROM v_n
       OR cardinality(p_metadata) IS DISTINCT FROM v_n
       OR cardinality(p_effective_at) IS DISTINCT FROM v_n
       OR cardinality(p_external_refs) IS DISTINCT FROM v_n
       OR cardinality(p_entry_of) IS DISTINCT FROM v_m
       OR cardinality(p_sides) IS DISTINCT FROM v_m
       OR cardinality(p_amounts) IS DISTINCT FROM v_m
       OR cardinality(p_currencies) IS DISTINCT FROM v_m THEN
        RETURN NULL;
    END IF;
    WITH g AS (
        SELECT l.e, count(*) AS n,
               sum(CASE l.side WHEN 'debit' THEN l.amount WHEN 'credit' THEN -l.amount END) AS net,
               -- coalesce: bool_and and sum skip NULLs, so a line with no amount or a side
               -- that is neither would otherwise pass as balanced and fail later, untyped.
               bool_and(coalesce(l.account_id IS NOT NULL AND l.amount > 0
                                 AND l.side IN ('debit', 'credit') AND l.currency IS NOT NULL,
                                 false)) AS fine
          FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                       unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                       unnest(p_currencies) AS currency) AS l
         GROUP BY l.e, l.currency
    ), ent AS (
        SELECT g.e, sum(g.n) AS n, bool_and(coalesce(g.net = 0 AND g.fine, false)) AS ok
          FROM g GROUP BY g.e
    ), keys AS (
        SELECT count(DISTINCT x.k COLLATE "C") = v_n
               AND NOT coalesce(bool_or(x.k IS NULL OR x.k = '' OR x.h IS NULL), true)
               AND count(x.r) = count(DISTINCT x.r COLLATE "C") AS ok,
               count(x.r) AS refs
          FROM (SELECT unnest(p_keys) AS k, unnest(p_hashes) AS h,
                       unnest(p_external_refs) AS r) AS x
    )
    SELECT (SELECT count(*) = v_n AND min(ent.e) = 1 AND max(ent.e) = v_n
                   AND bool_and(ent.e IS NOT NULL AND ent.ok AND ent.n >= 2) FROM ent)
           AND keys.ok,
           keys.refs,
           (SELECT count(DISTINCT a) FROM unnest(p_accounts) a)
      INTO v_ok, v_refs, v_distinct
      FROM keys;
    IF v_ok IS NOT TRUE
       OR EXISTS (SELECT FROM payments.idempotency_keys k
                   WHERE k.org_id = p_org AND k.key = ANY (p_keys))
       OR (v_refs > 0 AND EXISTS (SELECT FROM payments.entries e
                                   WHERE e.org_id = p_org AND e.external_ref IS NOT NULL
                                     AND e.external_ref = ANY (p_external_refs))) THEN
        RETURN NULL;
    END IF;

    BEGIN
        v_who := p_org;
        LOOP
            -- This organization's regular accounts, locked in id order (the ORDER BY under
            -- the lock: whatever the plan), as they are before the batch; where they are (ctid)
            -- and their ids. One scan of the accounts' key by the batch's account ids (an
            -- array scan: the ids sorted, each leaf page read once; session 42: it was a
            -- DISTINCT of the ids joined to one probe per account), and the arrays built
            -- in the same statement (the ids were read back from v_accounts by another).
            SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.closed,
                       false, a.debits_must_not_exceed_credits,
                       a.credits_must_not_exceed_debits, a.posted_debits, a.posted_credits,
                       a.pending_debits, a.pending_credits, a.version)::payments._batch_account),
                       '{}'),
                   v_tids || coalesce(array_agg(a.ctid), '{}'),
                   v_found || coalesce(array_agg(a.id), '{}')
              INTO v_accounts, v_tids, v_found
              FROM (SELECT a.ctid, a.id, a.org_id, a.currency, a.closed,
                           a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                           a.posted_debits, a.posted_credits, a.pending_debits,
                           a.pending_credits, a.version
                      FROM payments.accounts a
                     WHERE a.id = ANY (p_accounts) AND a.org_id = v_who
                       AND NOT a.high_volume AND a.id <> ALL (v_found)
                     ORDER BY a.id
                       FOR NO KEY UPDATE OF a) a;
            -- Its high-volume ones, read, not locked (their lines are rolled up later, as
            -- post_entry posts them), while far from the overflow limits (as
            -- _check_positions judges them); only when some account is still missing.
            IF cardinality(v_found) < v_distinct THEN
                SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.closed,
                           true, false, false, a.posted_debits, a.posted_credits,
                           a.pending_debits, a.pending_credits, a.version)
                           ::payments._batch_account), '{}'),
                       v_hv_ids || coalesce(array_agg(a.id), '{}')
                  INTO v_accounts, v_hv_ids
                  FROM payments.accounts a
                 -- Only the accounts still missing (a hashed set difference, once: an
                 -- InitPlan), not the batch's every id probed again and its row fetched.
                 WHERE a.id = ANY (ARRAY(SELECT unnest(p_accounts) EXCEPT SELECT unnest(v_found)))
                   AND a.org_id = v_who AND a.high_volume
                   AND a.posted_debits < 2305843009213693952
                   AND a.posted_credits < 2305843009213693952
                   -- The overflow hint on the account's own row (no large line of its own
                   -- unrolled), not its lines read by account alone (docs/engine.md).
                   AND NOT a.large_unrolled;
                v_found := ARRAY(SELECT a.id FROM unnest(v_accounts) a);
            END IF;
            EXIT WHEN cardinality(v_found) >= v_distinct OR v_platform IS NULL
                   OR v_who = v_platform;
            v_who := v_platform;
        END LOOP;
        IF cardinality(v_found) < v_distinct THEN
            -- A missing or another organization's account, or a high-volume one near its
            -- limits.
            RAISE SQLSTATE 'LX003';
        END IF;

        -- Every line's running position on its (regular) account, judged: a closed or
        -- other-currency account, or an overdraft where an entry leaves an account, sends
        -- the batch the long way.
        SELECT bool_and(coalesce(r.fine, false)
                        AND (r.hv OR NOT r.last_of_entry
                             OR ((NOT r.dm OR r.debits + r.pending_debits <= r.credits)
                                 AND (NOT r.cm OR r.credits + r.pending_credits <= r.debits)))),
               array_agg(r.org_id ORDER BY r.ord),
               -- A high-volume account's lines carry no position until the roll-up.
               array_agg(CASE WHEN NOT r.hv THEN r.version END ORDER BY r.ord),
               array_agg(CASE WHEN NOT r.hv THEN r.debits::bigint END ORDER BY r.ord),
               array_agg(CASE WHEN NOT r.hv THEN r.credits::bigint END ORDER BY r.ord)
          INTO v_ok, v_orgs, v_versions, v_debits, v_credits
          FROM (SELECT x.ord, a.hv, a.org_id, a.dm, a.cm, a.pending_debits, a.pending_credits,
                       a.currency = x.currency AND NOT a.closed
                           AND (NOT a.hv OR x.amount < 1099511627776) AS fine,
                       a.version + row_number() OVER w AS version,
                       a.debits + sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END)
                                  OVER w AS debits,
                       a.credits + sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END)
                                   OVER w AS credits,
                       -- The last line of its entry on its account (or, for lines of one
                       -- entry not side by side, one of them: judged once more, stricter):
                       -- the account's next line is another entry's, or there is none.
                       lead(x.e) OVER w IS DISTINCT FROM x.e AS last_of_entry
                  FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                               unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                               unnest(p_currencies) AS currency,
                               generate_series(1, cardinality(p_entry_of)) AS ord) AS x
                  JOIN unnest(v_accounts) a ON a.id = x.account_id
                WINDOW w AS (PARTITION BY x.account_id ORDER BY x.ord)) r;
        IF v_ok IS NOT TRUE THEN
            RAISE SQLSTATE 'LX003';
        END IF;

        -- The regular accounts moved by the batch's net amounts on each, one UPDATE per
        -- organization (their rows locked above: the UPDATE's own order does not matter).
        FOR v_who IN SELECT DISTINCT a.org_id FROM unnest(v_accounts) a WHERE NOT a.hv LOOP
            UPDATE payments.accounts a
               SET posted_debits = a.posted_debits + d.dr,
                   posted_credits = a.posted_credits + d.cr,
                   version = a.version + d.n
              FROM (SELECT x.id,
                           sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END) AS dr,
                           sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END) AS cr,
                           count(*) AS n
                      FROM (SELECT unnest(p_accounts) AS id, unnest(p_sides) AS side,
                                   unnest(p_amounts) AS amount) AS x
                     GROUP BY x.id) d
             WHERE a.ctid = ANY (v_tids) AND a.org_id = v_who AND a.id = d.id
               AND NOT a.high_volume;
            GET DIAGNOSTICS v_done = ROW_COUNT;
            v_moved := v_moved + v_done;
        END LOOP;
        -- The backstop of the moves by ctid (cannot happen: every row locked above, none
        -- updated since): every regular account locked moved, or nothing is written.
        IF v_moved <> cardinality(v_tids) THEN
            RAISE EXCEPTION 'post_batch_fast: % of % accounts moved', v_moved,
                cardinality(v_tids);
        END IF;
        -- Every guard held on the locked rows: the keys, the entries and their lines;
        -- recorded at the time read now that the accounts are locked (as _post does: an
        -- account's lines in the order of its versions by time too, which balance_as_of
        -- reads). The keys come after the locks as in every other door (the one lock order,
        -- docs/engine.md): inserted before them (tried in session 40), a batch holding a key
        -- while it waited for an account deadlocked with a post_entry of that key holding
        -- the account (the key's insert waits for its holder).
        v_at := clock_timestamp();
        -- The entries' ids: one UUIDv7 for the batch, its last 16 bits replaced by the
        -- entry's number (1..n, n <= 10000): time-ordered, in request order, unique within
        -- the batch, and 46 random bits apart from any other batch's in the same
        -- millisecond (a UUIDv7 of PostgreSQL 18 holds 62 random bits, its 12 bits after
        -- the millisecond being a finer timestamp; 16 of the 62 are replaced here; a clash
        -- would be a unique violation: the long way). uuidv7() draws from the strong random
        -- source on every call (measured: ~6 us an entry).
        v_base := uuid_send(uuidv7());
        v_low := ('x' || encode(substring(v_base FROM 9 FOR 8), 'hex'))::bit(64)::bigint
                 & -65536;
        v_ids := ARRAY(SELECT encode(substring(v_base FROM 1 FOR 8) || int8send(v_low | i),
                                     'hex')::uuid
                         FROM generate_series(1, v_n) i);
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        SELECT p_org, x.k, 'post_entries', x.h, 'succeeded', jsonb_build_object('id', x.id)
          FROM (SELECT unnest(p_keys) AS k, unnest(p_hashes) AS h, unnest(v_ids) AS id) AS x;
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, idempotency_key)
        SELECT x.id, p_org, 'standard', coalesce(x.description, ''),
               coalesce(x.metadata, '{}'::jsonb), coalesce(x.effective_at, v_at), v_at,
               x.ref, x.k
          FROM (SELECT unnest(v_ids) AS id, unnest(p_descriptions) AS description,
                       unnest(p_metadata) AS metadata, unnest(p_effective_at) AS effective_at,
                       unnest(p_external_refs) AS ref, unnest(p_keys) AS k) AS x;
        -- v_ids and p_effective_at hold fixed-width elements: a subscript is a direct read.
        INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                    currency, effective_at, created_at, account_version,
                                    account_posted_debits, account_posted_credits)
        SELECT v_ids[x.e], p_org, x.org_id, x.account_id, x.side, x.amount, x.currency,
               coalesce(p_effective_at[x.e], v_at), v_at, x.version, x.debits, x.credits
          FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                       unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                       unnest(p_currencies) AS currency, unnest(v_orgs) AS org_id,
                       unnest(v_versions) AS version, unnest(v_debits) AS debits,
                       unnest(v_credits) AS credits) AS x;
        GET DIAGNOSTICS v_done = ROW_COUNT;
        -- The backstop (the row triggers are skipped): every line inserted.
        IF v_done IS DISTINCT FROM v_m THEN
            RAISE EXCEPTION 'post_batch_fast: % of % lines inserted', v_done, v_m;
        END IF;
        -- A high-volume account closed while a statement waited (a key's or a reference's
        -- holder): undone, the long way refuses it. One statement per organization.
        IF cardinality(v_hv_ids) > 0
           AND (EXISTS (SELECT FROM payments.accounts a
                         WHERE a.org_id = p_org AND a.id = ANY (v_hv_ids) AND a.closed)
                OR (v_platform IS NOT NULL
                    AND EXISTS (SELECT FROM payments.accounts a
                                 WHERE a.org_id = v_platform AND a.id = ANY (v_hv_ids)
                                   AND a.closed))) THEN
            RAISE SQLSTATE 'LX003';
        END IF;
    EXCEPTION WHEN unique_violation OR numeric_value_out_of_range OR SQLSTATE 'LX003' THEN
        -- A key or reference taken meanwhile by a concurrent request, a total past 2**63, or
        -- a line the long way refuses: everything undone, the long way judges the batch. A
        -- deadlock (a unit of work outside the one lock order) is not caught: the caller gets
        -- 40P01 at once, as from ledger_write. Run the long way in the same transaction, the
        -- batch waited again for the rows the other side waits on (the caller's locks from
        -- before the call are not released by this block's rollback) and deadlocked again.
        RETURN NULL;
    END;
    RETURN v_ids;
END
$$;

-- Generic plans (an array parameter made PostgreSQL plan each call again), read by index
-- whatever the statistics: a generic plan chosen while the tables held a few rows (a new
-- deployment, a benchmark's fresh database; ANALYZE is what replans) scanned
-- payments.idempotency_keys whole for the keys already used, and kept doing so, every batch
-- reading every key the organization had used, until the next ANALYZE (bench.batches,
-- session 30: the first case on a fresh server ran at ~1.5x its steady server CPU per entry
-- for seconds). Every statement here finds its rows by an index; enable_seqscan off leaves
-- the planner no other choice (a table scan stays possible, priced out, where no index
-- serves), and the keys' probe of the references names external_ref IS NOT NULL, so that
-- the partial unique index serves it.
ALTER FUNCTION payments.post_batch_fast(uuid, text[], text[], text[], jsonb[], timestamptz[],
    text[], int[], uuid[], text[], bigint[], text[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION payments.post_batch_fast(uuid, text[], text[], text[], jsonb[], timestamptz[],
    text[], int[], uuid[], text[], bigint[], text[])
    SET enable_seqscan = off;
-- And by a plain index scan, not a bitmap: the accounts' array scan then hands the rows over
-- in id order, which the lock's ORDER BY needs, so the plan has no Sort under the lock (with a
-- bitmap scan the rows came in the heap's order and were sorted; session 43: -1.8 % of a batch
-- entry's instructions).
ALTER FUNCTION payments.post_batch_fast(uuid, text[], text[], text[], jsonb[], timestamptz[],
    text[], int[], uuid[], text[], bigint[], text[])
    SET enable_bitmapscan = off;
-- And no nested loop (its joins: the judge's, of two arrays, and the accounts' UPDATE by ctid
-- with the batch's sums per account). The UPDATE, planned on an estimate of one row for the
-- Tid Scan (its ten tuples of a generic plan, filtered by the organization), read the sums
-- again for every row moved: ~20,000 comparisons for a batch of 100 in a big organization
-- among many small ones (~17 ms; session 43). A hash join reads them once.
ALTER FUNCTION payments.post_batch_fast(uuid, text[], text[], text[], jsonb[], timestamptz[],
    text[], int[], uuid[], text[], bigint[], text[])
    SET enable_nestloop = off;

-- As the engine's doors: run with their owner's rights, callable by the application's roles.
REVOKE EXECUTE ON FUNCTION payments.post_batch(jsonb), payments.post_batch_fast(uuid, text[],
    text[], text[], jsonb[], timestamptz[], text[], int[], uuid[], text[], bigint[], text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.post_batch(jsonb) TO liventix_app, liventix_platform;
GRANT EXECUTE ON FUNCTION payments.post_batch_fast(uuid, text[], text[], text[], jsonb[],
    timestamptz[], text[], int[], uuid[], text[], bigint[], text[]) TO liventix_app, liventix_platform;
