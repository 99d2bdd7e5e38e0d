-- Tamper evidence (issue 16 item 1), owned by ledger/seals.py. The posting path pays nothing:
-- a sealer (payments.seal, run periodically by the worker and by `liventix ledger seal`)
-- hashes the entries recorded since its last run, each with its lines, and seals them into a
-- hash-chained checkpoint per organization and one for the platform, each published through
-- the outbox (ledger.checkpoint.sealed) so that a party outside the database holds it.
-- payments.verify_seals recomputes everything and names what no longer matches.
--
-- Canonical forms (stable across versions, sessions and time zones; times as integer
-- microseconds since the epoch, UTC; JSON as PostgreSQL's jsonb text, keys sorted):
--   line hash   = sha256(id|entry_id|entry_org_id|org_id|account_id|side|amount|currency|
--                        effective_at_us|created_at_us)  (text, fields joined by '|')
--   header hash = sha256(jsonb text of [id, org_id, kind, description, metadata,
--                                       effective_at_us, created_at_us, external_ref,
--                                       reverses_entry_id, hold_id, idempotency_key])
--   entry hash  = sha256(header hash || line hashes, in line id order)
--   checkpoint  = sha256(text 'liventix-checkpoint|' || scope || '|' || org (or '') || '|'
--                        || seq || '|' || previous hash (hex; '' for the first) || '|'
--                        || cut_at_us || '|' || members), members being, in order, for an
--                        organization's checkpoint `entry_id:entry hash hex` by entry id,
--                        for the platform's `org_id:seq:hash hex` of the organizations'
--                        checkpoints of the same run by org id, joined by ','.

-- STABLE, not IMMUTABLE: these are inlined into the sealer's and verify's queries only if
-- nothing in their bodies is more volatile than declared (a function called per line
-- instead cost ~0.3 ms per entry).
CREATE FUNCTION payments._epoch_us(p timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (extract(epoch FROM p) * 1000000)::bigint
$$;

-- A line's fields are fixed-format (ids, numbers, `debit`/`credit`, a currency code), so
-- '|' separates them unambiguously.
CREATE FUNCTION payments.line_hash(l payments.lines) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(concat_ws('|',
        l.id, l.entry_id, l.entry_org_id, l.org_id, l.account_id, l.side, l.amount, l.currency,
        (extract(epoch FROM l.effective_at) * 1000000)::bigint,
        (extract(epoch FROM l.created_at) * 1000000)::bigint), 'UTF8'))
$$;

-- An entry's free text (description, metadata, references) as JSON, which quotes it.
CREATE FUNCTION payments.entry_header_hash(e payments.entries) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        e.id, e.org_id, e.kind, e.description, e.metadata,
        (extract(epoch FROM e.effective_at) * 1000000)::bigint,
        (extract(epoch FROM e.created_at) * 1000000)::bigint, e.external_ref,
        e.reverses_entry_id, e.hold_id, e.idempotency_key)::text, 'UTF8'))
$$;

-- The members of a checkpoint, hashed with its chain position.
CREATE FUNCTION payments._checkpoint_hash(p_org uuid, p_seq bigint, p_previous bytea,
                                          p_cut timestamptz, p_members text)
RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(concat_ws('|', 'liventix-checkpoint',
        CASE WHEN p_org IS NULL THEN 'platform' ELSE 'organization' END,
        coalesce(p_org::text, ''), p_seq::text, coalesce(encode(p_previous, 'hex'), ''),
        payments._epoch_us(p_cut)::text, coalesce(p_members, '')), 'UTF8'))
$$;

-- Each sealed entry: its hashes as sealed, and the checkpoints that hold it.
CREATE TABLE payments.entry_seals (
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL,
    checkpoint_seq bigint NOT NULL,  -- in the organization's chain
    platform_seq bigint NOT NULL,    -- in the platform's chain
    header_hash bytea NOT NULL,
    line_ids bigint[] NOT NULL,
    line_hashes bytea[] NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT entry_seals_lines CHECK (cardinality(line_ids) = cardinality(line_hashes)),
    CONSTRAINT entry_seals_pkey PRIMARY KEY (entry_id, org_id)
);
CREATE INDEX entry_seals_checkpoint ON payments.entry_seals (org_id, checkpoint_seq, entry_id);

-- The chains: an organization's (org_id) and the platform's (org_id NULL).
CREATE TABLE payments.checkpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid REFERENCES payments.organizations (id),
    seq bigint NOT NULL CHECK (seq > 0),
    previous_hash bytea,
    hash bytea NOT NULL,
    entry_count bigint NOT NULL CHECK (entry_count >= 0),
    -- Entries recorded before it (and from the previous platform checkpoint's cut on) are in
    -- this run; every transaction that could still record one earlier had ended.
    cut_at timestamptz NOT NULL,
    platform_seq bigint NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkpoints_chain_seq UNIQUE NULLS NOT DISTINCT (org_id, seq),
    CONSTRAINT checkpoints_first_has_no_previous CHECK ((seq = 1) = (previous_hash IS NULL))
);

CREATE FUNCTION payments._utc(p timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION payments._checkpoint_event(c payments.checkpoints) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'scope', CASE WHEN c.org_id IS NULL THEN 'platform' ELSE 'organization' END,
        'org_id', c.org_id, 'seq', c.seq, 'hash', encode(c.hash, 'hex'),
        'previous_hash', encode(c.previous_hash, 'hex'), 'entry_count', c.entry_count,
        'cut_at', payments._utc(c.cut_at), 'sealed_at', payments._utc(c.sealed_at))
$$;

-- The moment before which no open transaction can still record an entry: the start of the
-- oldest client session's transaction open in this database (entries are stamped with the
-- clock, later than their transaction's start), else now. Read in its own statement, before
-- the sealing's snapshot is taken, so a transaction that commits in between is seen by it.
CREATE FUNCTION payments._seal_cut() RETURNS timestamptz
LANGUAGE sql VOLATILE AS $$
    SELECT least(clock_timestamp(), min(a.xact_start))
      FROM pg_stat_activity a
     WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
       -- Entries come from client sessions (a parallel worker's leader is one, started
       -- earlier); autovacuum and other background processes record none and would only
       -- hold the cut back.
       AND a.backend_type = 'client backend'
$$;

-- Seal every entry recorded before the cut and not sealed yet: one checkpoint per
-- organization that has some, then one for the platform over them; each published. One
-- sealer at a time (a transaction-level advisory lock that postings never take: a second
-- sealer answers busy at once). Answers {busy, sealed, platform_seq, checkpoints}.
-- With p_min_interval, nothing is done within that time of the platform's last checkpoint
-- (the worker's periodic step runs every round; a checkpoint a minute is plenty).
-- Needs READ COMMITTED (each statement its own snapshot) and the right to see every
-- session's transaction start (a superuser, or a member of pg_read_all_stats).
CREATE FUNCTION payments.seal(p_limit int DEFAULT NULL, p_min_interval interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cut timestamptz;
    v_bound timestamptz;
    v_prev_cut timestamptz;
    v_pseq bigint;
    v_sealed bigint := 0;
    v_members text;
    v_prev payments.checkpoints;
    c payments.checkpoints;
    v_made jsonb := '[]';
BEGIN
    PERFORM payments._check_platform();
    IF p_min_interval IS NOT NULL AND EXISTS (
        SELECT FROM payments.checkpoints k
         WHERE k.org_id IS NULL AND k.sealed_at > now() - p_min_interval) THEN
        RETURN jsonb_build_object('busy', false, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('payments.seal'), 0) THEN
        RETURN jsonb_build_object('busy', true, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'the sealer runs at READ COMMITTED (each statement its own snapshot)'));
    END IF;
    IF NOT (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
            OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'the sealer''s owner must see every session: GRANT pg_read_all_stats'));
    END IF;
    v_cut := payments._seal_cut();
    SELECT * INTO v_prev FROM payments.checkpoints WHERE org_id IS NULL ORDER BY seq DESC LIMIT 1;
    v_prev_cut := coalesce(v_prev.cut_at, '-infinity');
    v_pseq := coalesce(v_prev.seq, 0) + 1;
    IF p_limit IS NOT NULL THEN
        -- Bound the run: move the cut back to just after the p_limit-th entry's time.
        SELECT least(v_cut, max(t.created_at) + interval '1 microsecond') INTO v_bound FROM (
            SELECT e.created_at FROM payments.entries e
             WHERE e.created_at >= v_prev_cut AND e.created_at < v_cut
             ORDER BY e.created_at LIMIT p_limit) t
        HAVING count(*) >= p_limit;
        v_cut := coalesce(v_bound, v_cut);
    END IF;
    -- The entries, each hashed with its lines (found by the lines' entry index, one entry at
    -- a time: the run's size is unknown to the planner), then one checkpoint per
    -- organization over the rows just inserted, each chained to its previous one.
    FOR c IN
        WITH todo AS (
            SELECT e.id, e.org_id, payments.entry_header_hash(e) AS header
              FROM payments.entries e
             WHERE e.created_at >= v_prev_cut AND e.created_at < v_cut
               AND NOT EXISTS (SELECT FROM payments.entry_seals s WHERE s.entry_id = e.id)
        ), chain AS (
            -- each organization's last checkpoint, through the chain's index
            SELECT o.org_id, (SELECT max(k.seq) FROM payments.checkpoints k
                               WHERE k.org_id = o.org_id) AS seq
              FROM (SELECT DISTINCT t.org_id FROM todo t) o
        ), sealed AS (
            INSERT INTO payments.entry_seals (entry_id, org_id, checkpoint_seq, platform_seq,
                                              header_hash, line_ids, line_hashes, hash)
            SELECT t.id, t.org_id, coalesce(ch.seq, 0) + 1, v_pseq, t.header,
                   coalesce(x.ids, '{}'), coalesce(x.hs, '{}'),
                   sha256(t.header || coalesce(x.joined, ''::bytea))
              FROM todo t
              CROSS JOIN LATERAL (
                  SELECT array_agg(q.id ORDER BY q.id) AS ids, array_agg(q.h ORDER BY q.id) AS hs,
                         string_agg(q.h, ''::bytea ORDER BY q.id) AS joined
                    FROM (SELECT l.id, payments.line_hash(l) AS h FROM payments.lines l
                           WHERE l.entry_id = t.id) q) x
              LEFT JOIN chain ch ON ch.org_id = t.org_id
            RETURNING entry_id, org_id, checkpoint_seq, hash
        ), runs AS (
            SELECT r.org_id, min(r.checkpoint_seq) AS seq, count(*) AS n,
                   string_agg(r.entry_id::text || ':' || encode(r.hash, 'hex'), ','
                              ORDER BY r.entry_id) AS members
              FROM sealed r GROUP BY r.org_id
        ), made AS (
            INSERT INTO payments.checkpoints (org_id, seq, previous_hash, hash, entry_count,
                                              cut_at, platform_seq)
            SELECT r.org_id, r.seq, p.hash,
                   payments._checkpoint_hash(r.org_id, r.seq, p.hash, v_cut, r.members),
                   r.n, v_cut, v_pseq
              FROM runs r
              LEFT JOIN payments.checkpoints p ON p.org_id = r.org_id AND p.seq = r.seq - 1
             ORDER BY r.org_id
            RETURNING *
        )
        SELECT * FROM made ORDER BY org_id
    LOOP
        v_sealed := v_sealed + c.entry_count;
        v_made := v_made || payments._checkpoint_event(c);
        PERFORM messaging.publish(c.org_id, 'ledger.checkpoint.sealed', 'checkpoint',
            c.org_id::text || ':' || c.seq, payments._checkpoint_event(c),
            format('ledger.checkpoint.sealed:%s:%s', c.org_id, c.seq));
    END LOOP;
    IF v_sealed = 0 THEN
        RETURN jsonb_build_object('busy', false, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    SELECT string_agg(x ->> 'org_id' || ':' || (x ->> 'seq') || ':' || (x ->> 'hash'), ','
                      ORDER BY x ->> 'org_id')
      INTO v_members FROM jsonb_array_elements(v_made) x;
    INSERT INTO payments.checkpoints (org_id, seq, previous_hash, hash, entry_count, cut_at,
                                      platform_seq)
    VALUES (NULL, v_pseq, v_prev.hash,
            payments._checkpoint_hash(NULL, v_pseq, v_prev.hash, v_cut, v_members),
            v_sealed, v_cut, v_pseq)
    RETURNING * INTO c;
    v_made := v_made || payments._checkpoint_event(c);
    -- The platform's chain is published to the platform organization (its webhooks).
    -- None when no platform organization is registered: nothing to publish then.
    PERFORM messaging.publish(o.id,
        'ledger.checkpoint.sealed', 'checkpoint', 'platform:' || c.seq,
        payments._checkpoint_event(c), format('ledger.checkpoint.sealed:platform:%s', c.seq))
       FROM payments.organizations o WHERE o.is_platform;
    RETURN jsonb_build_object('busy', false, 'sealed', v_sealed, 'platform_seq', v_pseq,
                              'checkpoints', v_made);
END
$$;

-- The first line of a sealed entry that differs from its lines now: (kind, line id).
CREATE FUNCTION payments._line_difference(p_ids bigint[], p_hashes bytea[], p_now_ids bigint[],
                                          p_now_hashes bytea[])
RETURNS TABLE (kind text, line_id bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int := greatest(cardinality(p_ids), cardinality(p_now_ids));
BEGIN
    FOR i IN 1..n LOOP
        CONTINUE WHEN p_ids[i] IS NOT DISTINCT FROM p_now_ids[i]
                  AND p_hashes[i] IS NOT DISTINCT FROM p_now_hashes[i];
        IF p_ids[i] IS NOT NULL AND NOT p_ids[i] = ANY (coalesce(p_now_ids, '{}')) THEN
            RETURN QUERY SELECT 'line_missing', p_ids[i];
        ELSIF p_now_ids[i] IS NOT NULL AND NOT p_now_ids[i] = ANY (p_ids) THEN
            RETURN QUERY SELECT 'line_added', p_now_ids[i];
        ELSE
            RETURN QUERY SELECT 'line_changed', coalesce(p_ids[i], p_now_ids[i]);
        END IF;
        RETURN;
    END LOOP;
END
$$;

-- Recompute every sealed entry, every chain and what was published, for one organization
-- (p_org) or the whole ledger (NULL: the platform or the owner only). Answers what no longer
-- matches, earliest first (entries in sealing order, then the chains in order), up to
-- p_limit rows: kind, the entry, line, organization and checkpoint it names, a detail.
CREATE FUNCTION payments.verify_seals(p_org uuid DEFAULT NULL, p_limit int DEFAULT 100)
RETURNS TABLE (ord bigint, kind text, entry_id uuid, line_id bigint, org_id uuid,
               seq bigint, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF p_org IS NULL THEN
        PERFORM payments._check_platform();
    ELSE
        PERFORM payments._check_org(p_org);
    END IF;
    RETURN QUERY
    WITH sealed AS (
        SELECT s.* FROM payments.entry_seals s WHERE p_org IS NULL OR s.org_id = p_org
    ), now_lines AS (
        SELECT l.entry_id, array_agg(l.id ORDER BY l.id) AS ids,
               array_agg(payments.line_hash(l) ORDER BY l.id) AS hs
          FROM payments.lines l
         WHERE p_org IS NULL OR l.entry_org_id = p_org
         GROUP BY l.entry_id
    ), compared AS (
        SELECT s.*, e.id IS NOT NULL AS present,
               CASE WHEN e.id IS NOT NULL THEN payments.entry_header_hash(e) END AS now_header,
               coalesce(n.ids, '{}') AS now_ids, coalesce(n.hs, '{}') AS now_hs
          FROM sealed s
          LEFT JOIN payments.entries e ON e.id = s.entry_id
          LEFT JOIN now_lines n ON n.entry_id = s.entry_id
    ), entry_problems AS (
        SELECT c.platform_seq AS o1, c.entry_id AS o2,
               CASE WHEN NOT c.present THEN 'entry_missing'
                    WHEN c.now_header <> c.header_hash THEN 'entry_changed'
                    WHEN c.hash <> sha256(c.header_hash || coalesce((
                             SELECT string_agg(h, ''::bytea ORDER BY i)
                               FROM unnest(c.line_hashes) WITH ORDINALITY u(h, i)), ''::bytea))
                        THEN 'seal_changed'
                    ELSE d.kind END AS kind,
               c.entry_id, d.line_id, c.org_id, c.checkpoint_seq AS seq
          FROM compared c
          LEFT JOIN LATERAL payments._line_difference(c.line_ids, c.line_hashes, c.now_ids,
                                                      c.now_hs) d
            ON c.line_ids <> c.now_ids OR c.line_hashes <> c.now_hs
    ), last_cut AS (
        SELECT max(cut_at) AS cut FROM payments.checkpoints WHERE org_id IS NULL
    ), unsealed AS (
        -- An entry recorded before the last cut was sealed by then, unless written by hand.
        SELECT e.id AS entry_id, e.org_id
          FROM payments.entries e, last_cut k
         WHERE e.created_at < k.cut AND (p_org IS NULL OR e.org_id = p_org)
           AND NOT EXISTS (SELECT FROM payments.entry_seals s WHERE s.entry_id = e.id)
    ), orphans AS (
        SELECT l.id AS line_id, l.entry_id, l.entry_org_id AS org_id
          FROM payments.lines l
         WHERE (p_org IS NULL OR l.entry_org_id = p_org)
           AND NOT EXISTS (SELECT FROM payments.entries e WHERE e.id = l.entry_id)
    ), org_members AS (
        SELECT s.org_id, s.checkpoint_seq AS seq, count(*) AS n,
               string_agg(s.entry_id::text || ':' || encode(s.hash, 'hex'), ','
                          ORDER BY s.entry_id) AS members
          FROM payments.entry_seals s
         WHERE p_org IS NULL OR s.org_id = p_org
         GROUP BY s.org_id, s.checkpoint_seq
    ), platform_counts AS (
        SELECT s.platform_seq AS seq, count(*) AS n FROM payments.entry_seals s
         WHERE p_org IS NULL GROUP BY s.platform_seq
    ), platform_members AS (
        SELECT o.platform_seq AS seq,
               string_agg(o.org_id::text || ':' || o.seq || ':' || encode(o.hash, 'hex'), ','
                          ORDER BY o.org_id) AS members
          FROM payments.checkpoints o
         WHERE p_org IS NULL AND o.org_id IS NOT NULL GROUP BY o.platform_seq
    ), chains AS (
        SELECT k.*, lag(k.hash) OVER w AS before_hash, lag(k.seq) OVER w AS before_seq,
               CASE WHEN k.org_id IS NULL THEN pm.members ELSE om.members END AS members,
               coalesce(CASE WHEN k.org_id IS NULL THEN pc.n ELSE om.n END, 0) AS members_count
          FROM payments.checkpoints k
          LEFT JOIN org_members om ON om.org_id = k.org_id AND om.seq = k.seq
          LEFT JOIN platform_members pm ON k.org_id IS NULL AND pm.seq = k.seq
          LEFT JOIN platform_counts pc ON k.org_id IS NULL AND pc.seq = k.seq
         WHERE (p_org IS NULL OR k.org_id = p_org)
        WINDOW w AS (PARTITION BY k.org_id ORDER BY k.seq)
    ), published AS (
        SELECT m.dedup_key, m.payload ->> 'hash' AS hash FROM messaging.messages m
         WHERE m.type = 'ledger.checkpoint.sealed'
    ), chain_problems AS (
        SELECT k.org_id, k.seq,
               CASE WHEN k.seq <> coalesce(k.before_seq, 0) + 1 THEN 'checkpoint_missing'
                    WHEN k.previous_hash IS DISTINCT FROM k.before_hash THEN 'checkpoint_unlinked'
                    WHEN k.hash <> payments._checkpoint_hash(k.org_id, k.seq, k.previous_hash,
                                                             k.cut_at, k.members)
                        OR k.entry_count <> k.members_count THEN 'checkpoint_changed'
                    WHEN p.hash <> encode(k.hash, 'hex')
                        THEN 'checkpoint_differs_from_published'
               END AS kind
          FROM chains k
          LEFT JOIN published p ON p.dedup_key = format('ledger.checkpoint.sealed:%s:%s',
                                                        coalesce(k.org_id::text, 'platform'), k.seq)
    ), everything AS (
        SELECT 1 AS part, p.o1, p.o2::text AS o2, p.kind, p.entry_id,
               CASE WHEN p.kind LIKE 'line%' THEN p.line_id END AS line_id, p.org_id,
               p.seq, NULL::text AS detail
          FROM entry_problems p WHERE p.kind IS NOT NULL
        UNION ALL
        SELECT 2, 0, u.entry_id::text, 'entry_not_sealed', u.entry_id, NULL, u.org_id, NULL,
               'recorded before the last checkpoint''s cut, yet in no checkpoint'
          FROM unsealed u
        UNION ALL
        SELECT 3, o.line_id, o.entry_id::text, 'line_without_entry', o.entry_id, o.line_id,
               o.org_id, NULL, NULL
          FROM orphans o
        UNION ALL
        SELECT 4, c.seq, coalesce(c.org_id::text, '~'), c.kind, NULL, NULL, c.org_id, c.seq,
               CASE WHEN c.org_id IS NULL THEN 'the platform''s chain' END
          FROM chain_problems c WHERE c.kind IS NOT NULL
    )
    SELECT row_number() OVER (ORDER BY x.part, x.o1, x.o2, x.line_id), x.kind, x.entry_id,
           x.line_id, x.org_id, x.seq, x.detail
      FROM everything x
     ORDER BY x.part, x.o1, x.o2, x.line_id
     LIMIT p_limit;
END
$$;

-- verify_seals reads whole tables: hash joins, never a nested loop over an aggregate whose
-- size the planner cannot know.
ALTER FUNCTION payments.verify_seals(uuid, int) SET enable_nestloop = off;

-- Counts of what verify_seals covered (for its report).
CREATE FUNCTION payments.seal_counts(p_org uuid DEFAULT NULL)
RETURNS TABLE (entries bigint, lines bigint, checkpoints bigint, last_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_org IS NULL THEN
        PERFORM payments._check_platform();
    ELSE
        PERFORM payments._check_org(p_org);
    END IF;
    RETURN QUERY
    SELECT (SELECT count(*) FROM payments.entry_seals s WHERE p_org IS NULL OR s.org_id = p_org),
           (SELECT coalesce(sum(cardinality(s.line_ids)), 0)::bigint FROM payments.entry_seals s
             WHERE p_org IS NULL OR s.org_id = p_org),
           (SELECT count(*) FROM payments.checkpoints k WHERE p_org IS NULL OR k.org_id = p_org),
           (SELECT max(k.seq) FROM payments.checkpoints k
             WHERE k.org_id IS NOT DISTINCT FROM p_org);
END
$$;

-- Append-only, as the entries they seal.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entry_seals', 'checkpoints']
    LOOP
        EXECUTE format('CREATE TRIGGER %I_no_delete BEFORE DELETE ON payments.%I
                        FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON payments.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_update BEFORE UPDATE ON payments.%I
                        FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('ALTER TABLE payments.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON payments.%I TO liventix_app
                        USING (org_id = (SELECT payments.current_org_id()))', t);
        EXECUTE format('CREATE POLICY platform ON payments.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))', t);
        EXECUTE format('GRANT SELECT ON payments.%I TO liventix_app, liventix_platform', t);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION payments.seal(int, interval), payments._seal_cut(),
    payments._line_difference(bigint[], bytea[], bigint[], bytea[]),
    payments.verify_seals(uuid, int), payments.seal_counts(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.verify_seals(uuid, int), payments.seal_counts(uuid)
    TO liventix_app, liventix_platform;
GRANT EXECUTE ON FUNCTION payments.seal(int, interval) TO liventix_platform;
