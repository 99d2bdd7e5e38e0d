-- The payments schema: tables, the rules PostgreSQL enforces itself, row-level security.
-- The posting engine (functions) lives in payments_engine.sql.

CREATE SCHEMA payments;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'liventix_app') THEN
        CREATE ROLE liventix_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'liventix_platform') THEN
        CREATE ROLE liventix_platform NOLOGIN;
    END IF;
END
$$;

-- Who a transaction acts for: see docs/tenancy.md.
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
-- No proof presented (the owner's own transactions: the worker, the CLI) is answered without
-- computing one (two SHA-256 over the secret: ~40 us, asked several times per posting).
CREATE FUNCTION payments.current_actor() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT CASE WHEN coalesce(a.proof, '') = '' THEN NULL
                WHEN a.proof = payments._actor_proof(a.actor) THEN a.actor END
      FROM (SELECT coalesce(nullif(current_setting('liventix.org_id', true), ''), 'platform')
                   AS actor,
                   current_setting('liventix.actor_proof', true) AS proof) a
$$;

-- The organization the current transaction proved it acts for; NULL otherwise (the platform,
-- or nobody). One expression on payments.current_actor(), so the planner inlines it into the
-- row-level security policies below (and into messaging.current_org_id, which calls it): a
-- body reading FROM the actor could not be inlined and was one more SQL function call per
-- policy evaluation (see ticketing.current_org_id, written the same way).
CREATE FUNCTION payments.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS
$$ SELECT nullif(payments.current_actor(), 'platform')::uuid $$;

-- Whether the current transaction presented the platform's key (or the owner acted for it).
CREATE FUNCTION payments.acting_as_platform() RETURNS boolean
LANGUAGE sql STABLE PARALLEL RESTRICTED AS
$$ SELECT coalesce(payments.current_actor() = 'platform', false) $$;

-- Whether the role in force has the rights of p_owner (the owner: the worker, the CLI, the
-- demo). The role in force counts (SET ROLE liventix_app by the owner is no longer the
-- owner); only a member of a role can set it, so no application role can pass for the
-- owner. The one definition of the owner's test (_trusted_caller, and who acts in
-- payments.post_entry and payments.post_capture_entry): one expression, no query, no SET,
-- not SECURITY DEFINER, so the planner inlines it where it is called (a SQL function with a
-- subquery is not inlined: called, _trusted_caller cost ~25 us of every owner's posting,
-- perf, session 29). The caller names the owner: _trusted_caller the schema's, read by its
-- own subquery; a door (SECURITY DEFINER) its own, `current_user` inside it: the role whose
-- rights the door lends, so a caller with them could do by itself whatever the door does.
-- The migrations create every door and its schema as one role (tests/ledger_core/
-- test_owner_test.py checks it); the door's own owner costs no query (the schema's, read
-- by every owner's posting, was ~16K instructions of a two-line posting's ~1.24M, session 45).
CREATE FUNCTION payments._owner_role(p_owner name) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.pg_has_role(
        CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user::text
             ELSE pg_catalog.current_setting('role') END::name,
        p_owner, 'USAGE')
$$;

-- Whether the caller is the schema's owner (or has its rights).
CREATE FUNCTION payments._trusted_caller() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT payments._owner_role((SELECT pg_catalog.pg_get_userbyid(n.nspowner)
                                   FROM pg_catalog.pg_namespace n WHERE n.nspname = 'payments'))
$$;

CREATE TABLE payments.currencies (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    exponent smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4)
);

-- ISO 4217 active codes and their minor-unit exponents (the same table as ledger/currencies.py).
INSERT INTO payments.currencies (code, exponent) VALUES
    ('AED', 2), ('AFN', 2), ('ALL', 2), ('AMD', 2), ('AOA', 2), ('ARS', 2), ('AUD', 2),
    ('AWG', 2), ('AZN', 2), ('BAM', 2), ('BBD', 2), ('BDT', 2), ('BGN', 2), ('BHD', 3),
    ('BIF', 0), ('BMD', 2), ('BND', 2), ('BOB', 2), ('BOV', 2), ('BRL', 2), ('BSD', 2),
    ('BTN', 2), ('BWP', 2), ('BYN', 2), ('BZD', 2), ('CAD', 2), ('CDF', 2), ('CHE', 2),
    ('CHF', 2), ('CHW', 2), ('CLF', 4), ('CLP', 0), ('CNY', 2), ('COP', 2), ('COU', 2),
    ('CRC', 2), ('CUP', 2), ('CVE', 2), ('CZK', 2), ('DJF', 0), ('DKK', 2), ('DOP', 2),
    ('DZD', 2), ('EGP', 2), ('ERN', 2), ('ETB', 2), ('EUR', 2), ('FJD', 2), ('FKP', 2),
    ('GBP', 2), ('GEL', 2), ('GHS', 2), ('GIP', 2), ('GMD', 2), ('GNF', 0), ('GTQ', 2),
    ('GYD', 2), ('HKD', 2), ('HNL', 2), ('HTG', 2), ('HUF', 2), ('IDR', 2), ('ILS', 2),
    ('INR', 2), ('IQD', 3), ('IRR', 2), ('ISK', 0), ('JMD', 2), ('JOD', 3), ('JPY', 0),
    ('KES', 2), ('KGS', 2), ('KHR', 2), ('KMF', 0), ('KPW', 2), ('KRW', 0), ('KWD', 3),
    ('KYD', 2), ('KZT', 2), ('LAK', 2), ('LBP', 2), ('LKR', 2), ('LRD', 2), ('LSL', 2),
    ('LYD', 3), ('MAD', 2), ('MDL', 2), ('MGA', 2), ('MKD', 2), ('MMK', 2), ('MNT', 2),
    ('MOP', 2), ('MRU', 2), ('MUR', 2), ('MVR', 2), ('MWK', 2), ('MXN', 2), ('MXV', 2),
    ('MYR', 2), ('MZN', 2), ('NAD', 2), ('NGN', 2), ('NIO', 2), ('NOK', 2), ('NPR', 2),
    ('NZD', 2), ('OMR', 3), ('PAB', 2), ('PEN', 2), ('PGK', 2), ('PHP', 2), ('PKR', 2),
    ('PLN', 2), ('PYG', 0), ('QAR', 2), ('RON', 2), ('RSD', 2), ('RUB', 2), ('RWF', 0),
    ('SAR', 2), ('SBD', 2), ('SCR', 2), ('SDG', 2), ('SEK', 2), ('SGD', 2), ('SHP', 2),
    ('SLE', 2), ('SOS', 2), ('SRD', 2), ('SSP', 2), ('STN', 2), ('SVC', 2), ('SYP', 2),
    ('SZL', 2), ('THB', 2), ('TJS', 2), ('TMT', 2), ('TND', 3), ('TOP', 2), ('TRY', 2),
    ('TTD', 2), ('TWD', 2), ('TZS', 2), ('UAH', 2), ('UGX', 0), ('USD', 2), ('USN', 2),
    ('UYI', 0), ('UYU', 2), ('UYW', 4), ('UZS', 2), ('VED', 2), ('VES', 2), ('VND', 0),
    ('VUV', 0), ('WST', 2), ('XAF', 0), ('XCD', 2), ('XCG', 2), ('XOF', 0), ('XPF', 0),
    ('YER', 2), ('ZAR', 2), ('ZMW', 2), ('ZWG', 2);

CREATE TABLE payments.organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (name <> ''),
    is_platform boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_one_platform ON payments.organizations (is_platform)
    WHERE is_platform;

-- An account's balances and version: never below zero. A domain, not a table CHECK: every
-- UPDATE of an account (two per posting) read each CHECK of the table back from its stored
-- text, planned and compiled it (~45K instructions of a two-line posting's ~1.3M, session
-- 42, callgrind); a domain's check is planned once per session and runs only on the
-- columns a statement assigns. The constraint keeps the name the table's CHECK had.
CREATE DOMAIN payments.account_count AS bigint
    CONSTRAINT accounts_balances_check CHECK (VALUE >= 0);

CREATE TABLE payments.accounts (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    -- code <> '' and type one of the five: accounts_code_check and accounts_type_check, by the
    -- trigger accounts_rules (below), as the overdraft flags' two rules.
    code text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    -- 'debit' for an asset or an expense, else 'credit': set from the type by the trigger
    -- accounts_rules at INSERT (whatever the inserter gives) and never changed after
    -- (accounts_guard_identity). A stored generated column did the same, but PostgreSQL parses
    -- a table's generation expressions again for every UPDATE of the table (to learn which
    -- columns they read): ~20 us of every posting's server CPU (perf, session 29).
    normal_side text NOT NULL,
    currency text NOT NULL REFERENCES payments.currencies (code),
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
    high_volume boolean NOT NULL DEFAULT false,
    closed boolean NOT NULL DEFAULT false,
    -- True exactly while the account has a live balance monitor (payments_monitors.sql sets
    -- and clears it under the account's row lock): the monitors' trigger tests it in its
    -- WHEN, so a posting on an account without monitors calls no function for them.
    monitored boolean NOT NULL DEFAULT false,
    -- True while a high-volume account may have a line of 2**40 or more not yet rolled up:
    -- the fast doors' overflow hint, read on the account's own row (pinned to its
    -- organization, docs/scaling.md) instead of probing the lines by account alone (the
    -- platform's lines of every organization's entries). Set by check_new_line (every door
    -- that may write such a line runs it: the fast doors send a large line on a high-volume
    -- account the long way), cleared by the roll-up once none is left.
    large_unrolled boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- No balance or version below zero: a domain (payments.account_count), as escrow.sql's hot
    -- rows have theirs.
    posted_debits payments.account_count NOT NULL DEFAULT 0,
    posted_credits payments.account_count NOT NULL DEFAULT 0,
    pending_debits payments.account_count NOT NULL DEFAULT 0,
    pending_credits payments.account_count NOT NULL DEFAULT 0,
    version payments.account_count NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text,
    CONSTRAINT accounts_org_code_key UNIQUE (org_id, code),
    CONSTRAINT accounts_id_org_currency_key UNIQUE (id, org_id, currency),
    CONSTRAINT accounts_pkey PRIMARY KEY (id, org_id)
)
-- Room on each page for the new versions of its rows: a posting updates two accounts and
-- changes no indexed column, so each update can be HOT (no index entry, a smaller WAL
-- record) when the row's page has room. Full pages made ~28 % of a posting's account updates
-- non-HOT (three index entries each; session 28, pg_waldump, 10,000 accounts).
WITH (fillfactor = 70);

-- The planner is told an organization holds 64 accounts (n_distinct as a fraction of the rows:
-- -1/64), whatever ANALYZE counts. The doors run on generic plans (plan_cache_mode =
-- force_generic_plan), where `org_id = <a parameter>` is estimated at the table's rows over
-- its organizations. On a platform of many small organizers that is a handful of rows, so
-- the statements finding accounts by their ids within one organization (`a.id = ANY (...) AND
-- a.org_id = ...`, the locks, the moves by ctid) were planned as a read of the whole
-- organization by accounts_org_code_key, filtered by id: for a big organization among 5,000
-- small ones (20,000 accounts), every posting read all 20,000 twice, ~6 ms, and every batch
-- ~50 ms (session 43, Review1; tests/ledger_core/test_accounts_many_organizations.py). At 64
-- rows an organization's read always costs more than probing the ids (an array estimated at
-- 10 ids, or a Tid Scan of 10 tuples), and an organization-wide read (a listing, a report)
-- still takes an index. A tenant's policy (`org_id = (SELECT current_org_id())`, an
-- InitPlan) is estimated the same way, at 64. A custom plan (a constant organization) still finds a big
-- organization among the most common values; a small one is estimated at more accounts than
-- it holds, which only moves a read of all of them toward the index it takes anyway.
ALTER TABLE payments.accounts ALTER COLUMN org_id SET (n_distinct = -0.015625);

CREATE TABLE payments.holds (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    debit_account_id uuid NOT NULL,
    credit_account_id uuid NOT NULL,
    -- The accounts' organizations: the hold's own, or the platform's (a hold the platform or
    -- the owner makes may reserve on the platform's accounts), so each account is named with
    -- its organization (docs/scaling.md step 3 makes them the hold's own).
    debit_org_id uuid NOT NULL,
    credit_org_id uuid NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL REFERENCES payments.currencies (code),
    expires_at timestamptz,
    description text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text,
    CONSTRAINT holds_two_accounts CHECK (debit_account_id <> credit_account_id),
    CONSTRAINT holds_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT holds_debit_account_id_fkey FOREIGN KEY (debit_account_id, debit_org_id)
        REFERENCES payments.accounts (id, org_id),
    CONSTRAINT holds_credit_account_id_fkey FOREIGN KEY (credit_account_id, credit_org_id)
        REFERENCES payments.accounts (id, org_id)
);
-- (No index by expiry: the sweep finds the due holds in payments.hold_expiries, below.)
-- An account's holds, for its pending balance as of a time.
CREATE INDEX holds_debit_account ON payments.holds (debit_account_id, created_at);
CREATE INDEX holds_credit_account ON payments.holds (credit_account_id, created_at);

-- The ledger's hottest rows (entries, their lines, idempotency keys) name their organization,
-- account and entry without foreign-key constraints: a foreign key is checked row by row (one
-- query per row: six per two-line entry, most of a batch's server time), and the rows they
-- name can never go away (organizations, accounts and entries refuse DELETE, TRUNCATE and a
-- change of identity). The same references are checked by row triggers instead
-- (check_new_entry, check_new_line, check_new_key below), with the foreign keys' error (23503)
-- and constraint names, which the engine's fast doors skip: they check them once for the
-- whole posting or batch themselves.
CREATE TABLE payments.entries (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    -- One of 'standard', 'hold_post', 'reversal' (entries_kind_check), naming its original
    -- entry exactly when a reversal (entries_reversal_names_entry) and its hold exactly when
    -- a hold's posting (entries_hold_post_names_hold): judged by a row trigger, see
    -- check_new_entry.
    kind text NOT NULL DEFAULT 'standard',
    description text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    effective_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    external_ref text,
    reverses_entry_id uuid,
    hold_id uuid,
    idempotency_key text,
    -- The (top-level) transaction that posted the entry, as a 64-bit id: a line added by any
    -- other transaction is refused at commit (check_new_line). The row's xmin, 32 bits
    -- wide, names another transaction again after 2**32 of them and could be mistaken for
    -- this one's (a posted entry then taking new lines); an xid8 is never reused.
    created_xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT entries_pkey PRIMARY KEY (id, org_id),
    -- The entry a reversal reverses and the hold a hold's posting posts, of the entry's own
    -- organization: declared (the catalog and its readers see the references) but NOT
    -- ENFORCED, checked by check_entry_references instead (a trigger no setting skips),
    -- with the same error (23503) and names, and only when set. An enforced foreign key queued and fired its check trigger for every
    -- entry, NULL or not (~7k instructions per entry of a batch, callgrind, session 30);
    -- the fast doors write neither column. The rows they name can never go away (entries
    -- and holds refuse UPDATE, DELETE and TRUNCATE).
    CONSTRAINT entries_reverses_entry_id_fkey FOREIGN KEY (reverses_entry_id, org_id)
        REFERENCES payments.entries (id, org_id) NOT ENFORCED,
    CONSTRAINT entries_hold_id_fkey FOREIGN KEY (hold_id, org_id)
        REFERENCES payments.holds (id, org_id) NOT ENFORCED
);
CREATE INDEX entries_org_created ON payments.entries (org_id, created_at);
-- An organization taken for 4,096 entries (n_distinct -1/4096), as the accounts' for 64
-- (above, and docs/engine.md): a tenant's policy, `org_id = (SELECT current_org_id())`, is
-- estimated as a generic parameter is, at the entries over their organizations. With many
-- organizations of a few entries that was a few rows, and reading a page of a big
-- organization's entries by id (ledger.get_entries) took entries_org_created through all
-- of them, filtered by id (Review2, session 43: 200,000 rows read for 50, 23 ms). At 4,096
-- a page of ids is probed by the primary key; a read of an organization's entries in time
-- order still takes entries_org_created.
ALTER TABLE payments.entries ALTER COLUMN org_id SET (n_distinct = -0.000244140625);
-- An external reference once per organization, an entry reversed once, a hold posted once:
-- partial unique indexes over the few entries that name one (a unique constraint indexed
-- every entry, most under NULL: three index entries of every posting's sixteen, ~0.3 KB of
-- its ~3 KB of WAL). Each keeps its constraint's name (the name a unique_violation reports,
-- which ledger_write and ledger/writes.py translate) and holds org_id (the sharding rules).
-- Every lookup by them is an equality (strict), which the planner knows implies the
-- predicate.
CREATE UNIQUE INDEX entries_org_external_ref_key ON payments.entries (org_id, external_ref)
    WHERE external_ref IS NOT NULL;
CREATE UNIQUE INDEX entries_reversed_once ON payments.entries (reverses_entry_id, org_id)
    WHERE reverses_entry_id IS NOT NULL;
CREATE UNIQUE INDEX entries_hold_posted_once ON payments.entries (hold_id, org_id)
    WHERE hold_id IS NOT NULL;

CREATE TABLE payments.lines (
    id bigint GENERATED ALWAYS AS IDENTITY,
    entry_id uuid NOT NULL,
    -- The organization the entry is booked for (a trial balance per organization groups by
    -- it, row-level security shows the line to it) beside the organization owning the account
    -- (the platform's, in a shared entry): the entry's own (check_new_line).
    entry_org_id uuid NOT NULL,
    org_id uuid NOT NULL,
    account_id uuid NOT NULL,
    -- 'debit' or 'credit' (lines_side_check), a positive amount (lines_amount_check):
    -- judged by a row trigger, see check_new_line.
    side text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    effective_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The account's version and posted totals this line produced. NULL on a high-volume
    -- account's line until the roll-up step assigns them (shortly after commit); all three
    -- or none (lines_position_complete: check_new_line on INSERT, guard_line_update on the
    -- roll-up's UPDATE).
    account_version bigint,
    account_posted_debits bigint,
    account_posted_credits bigint,
    -- The account, its organization and its currency must be an account's (a line can name
    -- neither another organization's copy of an account nor another currency), and the entry
    -- and its organization an entry's: checked by the row trigger check_new_line, reported as
    -- lines_account_fkey and lines_entry_fkey.
    -- The primary key leads with the organization the entry is booked for: it also serves
    -- the organization-wide reads (the trial balance, the seals' scans, row-level security's
    -- entry_org_id), which had an index of their own, lines_entry_org (entry_org_id,
    -- account_id): two index entries per two-line entry fewer (session 31, docs/engine.md).
    -- A line is found by its id with its organization (the roll-up names both).
    CONSTRAINT lines_pkey PRIMARY KEY (entry_org_id, id)
);
CREATE INDEX lines_entry ON payments.lines (entry_id);
CREATE INDEX lines_account ON payments.lines (account_id, id) INCLUDE (side, amount);
CREATE INDEX lines_unrolled ON payments.lines (account_id, id) WHERE account_version IS NULL;
-- Point-in-time balances (ledger.balance_as_of) in one probe: the engine reads the time a
-- regular account's lines are recorded at once the account is locked, so they are recorded
-- in version order, each carrying the posted totals it produced; "as recorded by t" is the
-- last line recorded by t (ties, an entry's or a batch's lines, by version).
CREATE INDEX lines_account_recorded ON payments.lines (account_id, created_at, account_version)
    INCLUDE (account_posted_debits, account_posted_credits);
-- Lines effective at another time than recorded (backdated or future-dated; an entry given no
-- effective time is effective when recorded): "effective by t" is "recorded by t" corrected
-- by those of them on the other side of t. Empty for the usual posting.
CREATE INDEX lines_account_dated ON payments.lines (account_id, effective_at)
    INCLUDE (created_at, side, amount) WHERE (effective_at <> created_at) IS TRUE;
-- Their count for the planner. A stored generated column (dated) held it until session 42:
-- computed, materialized and copied by every INSERT of lines (~21K instructions of a
-- two-line posting). The statistics of an expression are read for a clause that has it as
-- an operand (IS TRUE; a bare `<>` of two columns is estimated at 0.995 whatever they say),
-- so the predicate above and balance_as_of's clause both say IS TRUE (the columns are NOT
-- NULL: the same lines). A reader must say IS TRUE too: the index serves only a clause that
-- implies its predicate, which the bare `<>` does not.
CREATE STATISTICS payments.lines_dated ON ((effective_at <> created_at)) FROM payments.lines;
-- Large lines of a high-volume account not yet rolled up (the overflow check's hint).
CREATE INDEX lines_unrolled_large ON payments.lines (account_id)
    WHERE account_version IS NULL AND amount >= 1099511627776;

CREATE TABLE payments.hold_resolutions (
    hold_id uuid NOT NULL,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    kind text NOT NULL CHECK (kind IN ('posted', 'voided', 'expired')),
    posted_amount bigint NOT NULL DEFAULT 0 CHECK (posted_amount >= 0),
    entry_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text,
    CONSTRAINT hold_resolutions_posted_has_entry CHECK ((kind = 'posted') = (entry_id IS NOT NULL)),
    CONSTRAINT hold_resolutions_amount_only_when_posted
        CHECK ((kind = 'posted') = (posted_amount > 0)),
    CONSTRAINT hold_resolutions_pkey PRIMARY KEY (hold_id, org_id),
    CONSTRAINT hold_resolutions_hold_id_fkey FOREIGN KEY (hold_id, org_id)
        REFERENCES payments.holds (id, org_id),
    CONSTRAINT hold_resolutions_entry_id_fkey FOREIGN KEY (entry_id, org_id)
        REFERENCES payments.entries (id, org_id)
);

-- The holds with an expiry that are not resolved yet: the sweep's work list
-- (payments.expire_holds finds the due ones here, by expiry), so that finding them reads the
-- open holds only, whatever the history. Searched in payments.holds it walked every hold
-- whose expiry had passed, resolved or not, with a probe of hold_resolutions each: a cost
-- growing with every hold ever expired, posted or voided after its expiry. Kept by triggers
-- (below) for every writer: a hold with an expiry is listed as it is inserted, and unlisted
-- as its resolution (posted, voided, expired) is inserted. Not append-only (a queue, as
-- entries_to_check): a row lives as long as its hold is open.
CREATE TABLE payments.hold_expiries (
    hold_id uuid NOT NULL,
    org_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT hold_expiries_pkey PRIMARY KEY (hold_id, org_id),
    CONSTRAINT hold_expiries_hold_id_fkey FOREIGN KEY (hold_id, org_id)
        REFERENCES payments.holds (id, org_id)
);
CREATE INDEX hold_expiries_due ON payments.hold_expiries (expires_at, hold_id);

CREATE TABLE payments.idempotency_keys (
    org_id uuid NOT NULL,  -- an organization's: check_new_key
    key text NOT NULL,  -- not empty (idempotency_keys_key_check): check_new_key
    operation text NOT NULL,
    request_hash text NOT NULL,
    status text NOT NULL,  -- 'succeeded' or 'failed' (idempotency_keys_status_check): ditto
    result jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (org_id, key)
);

-- Balances as they are now: a high-volume account's row is exact up to its last roll-up;
-- its lines not yet rolled up are added here, so reads are exact at once.
CREATE VIEW payments.account_balances WITH (security_invoker = true) AS
SELECT
    a.id AS account_id,
    a.org_id,
    a.currency,
    a.normal_side,
    (a.posted_debits + coalesce(u.debits, 0))::bigint AS posted_debits,
    (a.posted_credits + coalesce(u.credits, 0))::bigint AS posted_credits,
    a.pending_debits,
    a.pending_credits,
    a.version
FROM payments.accounts a
LEFT JOIN LATERAL (
    SELECT
        sum(l.amount) FILTER (WHERE l.side = 'debit') AS debits,
        sum(l.amount) FILTER (WHERE l.side = 'credit') AS credits
    FROM payments.lines l
    WHERE a.high_volume AND l.account_id = a.id AND l.account_version IS NULL
) u ON true;

------------------------------------------------------------------------------------------
-- Rules PostgreSQL enforces by itself
------------------------------------------------------------------------------------------

-- Raise a ledger error: the message is the error's code, the detail its ids as JSON.
CREATE FUNCTION payments._fail(p_code text, p_details jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX001', MESSAGE = p_code, DETAIL = p_details::text;
END
$$;

-- Every entry has two or more lines and sums to zero per currency, checked at commit (as the
-- owner: the check sees every line, whoever's role commits). One pass over the entry's lines
-- (it was two: a count, then the sums per currency); an unbalanced currency sorts first.
CREATE FUNCTION payments.assert_entry_balanced(p_entry uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT sum(g.n) OVER () AS n, g.currency, g.debits, g.credits
      INTO v
      FROM (SELECT currency, count(*) AS n,
                   coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS debits,
                   coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS credits
              FROM payments.lines WHERE entry_id = p_entry
             GROUP BY currency) g
     ORDER BY g.debits = g.credits, g.currency
     LIMIT 1;
    IF coalesce(v.n, 0) < 2 THEN
        PERFORM payments._fail('too_few_lines',
            jsonb_build_object('entry_id', p_entry, 'count', coalesce(v.n, 0)));
    END IF;
    IF v.debits <> v.credits THEN
        PERFORM payments._fail('unbalanced_entry', jsonb_build_object(
            'entry_id', p_entry, 'currency', v.currency,
            'debits', v.debits, 'credits', v.credits));
    END IF;
END
$$;

-- The balance rule is judged when a statement that inserted lines ends: an entry whose lines,
-- as the statement left them, are two or more and balance per currency is balanced. Any other
-- entry, and an entry inserted with no line yet, is queued for the full check at commit
-- (entries_to_check, a deferred constraint trigger: raw SQL by the owner, one line per
-- statement, is judged at commit or at SET CONSTRAINTS ... IMMEDIATE). The engine inserts an
-- entry and all its lines in one statement, so it queues nothing.
-- A line added to an entry an earlier transaction posted queues that entry marked
-- posted_before, refused at commit even when the lines balance: a posted entry is final.
CREATE UNLOGGED TABLE payments.entries_to_check (
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL,  -- the entry's: the queue is distributed with the entries
    posted_before boolean NOT NULL DEFAULT false
);

-- Raise a foreign key's error (23503) for a reference checked by a row trigger.
CREATE FUNCTION payments._missing_reference(p_table text, p_constraint text, p_key text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'payments',
        TABLE = p_table, CONSTRAINT = p_constraint,
        MESSAGE = format('insert on table "%s" violates foreign key constraint "%s"',
                         p_table, p_constraint),
        DETAIL = format('Key %s is not present.', p_key);
END
$$;

-- Raise a CHECK constraint's error (23514, the rule's name as the constraint's) for a rule a
-- row trigger judges on a new row.
CREATE FUNCTION payments._check_violation(p_table text, p_constraint text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'payments',
        TABLE = p_table, CONSTRAINT = p_constraint,
        MESSAGE = format('new row for relation "%s" violates check constraint "%s"',
                         p_table, p_constraint);
END
$$;

-- The rules of a single row of the ledger's hottest tables (lines, entries, idempotency
-- keys) are judged here, by row triggers whose WHEN skips them inside the engine's fast
-- doors, not as CHECK constraints: a CHECK is read from its stored text, planned and
-- compiled again by every INSERT (measured: the eight of them ~0.1 ms of a single posting's
-- server CPU, 1 client, A/B in one run). Refused as a CHECK refuses (check_violation, the
-- rule's name as the constraint's; a NULL passes), before the references are judged. The
-- engine's fast doors (post_entry, post_batch_fast), whose inserts skip these triggers,
-- write rows that keep them by construction (a constant kind and status, sides and amounts
-- validated, a non-empty key, a position complete or, on a high-volume account, absent).
--
-- Row triggers, not statement triggers reading a transition table: PostgreSQL copies every
-- inserted row into the transition table of a statement trigger that declares one whatever
-- the trigger's WHEN says (the WHEN is judged only when the statement ends), so the fast
-- doors paid for the copies of rows nobody read (session 28: ~0.1 ms of a single posting's
-- server CPU, A/B in one run). A row trigger's WHEN is judged as each row is inserted and,
-- false, queues nothing. An AFTER row trigger runs when its statement has ended, so it sees
-- every row the statement inserted: a line judges its entry's balance from all the entry's
-- lines then (the engine's doors insert an entry with all its lines in one statement).

-- A new line: a debit or a credit (lines_side_check) of a positive amount
-- (lines_amount_check), with its position complete or absent (lines_position_complete);
-- naming an account with its organization and currency (lines_account_fkey) and an entry
-- with its organization (lines_entry_fkey). Its entry is queued for the check at commit
-- unless the entry, as the statement left it, has two or more lines balanced per currency;
-- an entry an earlier transaction posted is queued marked posted_before, refused at commit
-- even when its lines balance: a posted entry is final.
CREATE FUNCTION payments.check_new_line() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_xact xid8;
    v_partial boolean;
    v_up boolean;  -- the high-volume account's overflow hint, under the row's lock
BEGIN
    IF NOT NEW.side IN ('debit', 'credit') THEN
        PERFORM payments._check_violation('lines', 'lines_side_check');
    ELSIF NOT NEW.amount > 0 THEN
        PERFORM payments._check_violation('lines', 'lines_amount_check');
    ELSIF NOT ((NEW.account_version IS NULL) = (NEW.account_posted_debits IS NULL)
               AND (NEW.account_version IS NULL) = (NEW.account_posted_credits IS NULL)) THEN
        PERFORM payments._check_violation('lines', 'lines_position_complete');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.accounts a
                    WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id
                      AND a.currency = NEW.currency) THEN
        PERFORM payments._missing_reference('lines', 'lines_account_fkey', format(
            '(account_id, org_id, currency)=(%s, %s, %s)', NEW.account_id, NEW.org_id,
            NEW.currency));
    END IF;
    -- A large line not rolled up on a high-volume account: the fast doors' overflow hint
    -- (accounts.large_unrolled) is raised on the account's row, in this transaction, under
    -- the row's lock, which is taken even when the hint is up already: the roll-up lowers it
    -- under that lock once it sees no large line unrolled, and this line, uncommitted, it
    -- cannot see. Locked only when still down ("AND NOT large_unrolled"), a second large
    -- line took no lock and a concurrent roll-up lowered the hint under it (review of
    -- 2e5ae69). The row is locked by a SELECT and written only when the hint is down: an
    -- UPDATE each time wrote a new version of the account for every large line (50 in one
    -- entry: 51 versions, review of a9c95d2). The engine's doors lock the row before they
    -- insert the line, in the one lock order (_lock_accounts' p_large), so this waits for
    -- nobody there; a raw writer's waits, in its order.
    IF NEW.account_version IS NULL AND NEW.amount >= 1099511627776 THEN
        SELECT a.large_unrolled INTO v_up FROM payments.accounts a
         WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id AND a.high_volume
           FOR NO KEY UPDATE;
        IF NOT v_up THEN
            UPDATE payments.accounts a SET large_unrolled = true
             WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id;
        END IF;
    END IF;
    -- An entry this transaction can see was posted by it (in it or one of its
    -- subtransactions: created_xact is the top-level id) or by an earlier one.
    SELECT e.created_xact INTO v_xact FROM payments.entries e
     WHERE e.id = NEW.entry_id AND e.org_id = NEW.entry_org_id;
    IF NOT FOUND THEN
        PERFORM payments._missing_reference('lines', 'lines_entry_fkey', format(
            '(entry_id, entry_org_id)=(%s, %s)', NEW.entry_id, NEW.entry_org_id));
    END IF;
    IF v_xact <> pg_current_xact_id() THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id, posted_before)
        VALUES (NEW.entry_id, NEW.entry_org_id, true);
        RETURN NULL;
    END IF;
    SELECT bool_or(g.net <> 0) OR sum(g.n) < 2 INTO v_partial
      FROM (SELECT count(*) AS n,
                   sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -(l.amount::numeric) END)
                       AS net
              FROM payments.lines l
             WHERE l.entry_id = NEW.entry_id AND l.entry_org_id = NEW.entry_org_id
             GROUP BY l.currency) g;
    IF v_partial THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id)
        VALUES (NEW.entry_id, NEW.entry_org_id);
    END IF;
    RETURN NULL;
END
$$;

-- A new entry: of a known kind (entries_kind_check), naming the entry it reverses exactly
-- when a reversal (entries_reversal_names_entry) and the hold it posts exactly when a hold's
-- posting (entries_hold_post_names_hold), and an organization (entries_org_id_fkey); queued
-- for the check at commit when it has no line yet. The two references (the entry reversed,
-- the hold posted) are check_entry_references', below: never skipped.
CREATE FUNCTION payments.check_new_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT NEW.kind IN ('standard', 'hold_post', 'reversal') THEN
        PERFORM payments._check_violation('entries', 'entries_kind_check');
    ELSIF NOT (NEW.kind = 'reversal') = (NEW.reverses_entry_id IS NOT NULL) THEN
        PERFORM payments._check_violation('entries', 'entries_reversal_names_entry');
    ELSIF NOT (NEW.kind = 'hold_post') = (NEW.hold_id IS NOT NULL) THEN
        PERFORM payments._check_violation('entries', 'entries_hold_post_names_hold');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_org_id_fkey',
                                            format('(org_id)=(%s)', NEW.org_id));
    END IF;
    IF NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.id) THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id) VALUES (NEW.id, NEW.org_id);
    END IF;
    RETURN NULL;
END
$$;

-- A new entry's two references, each its organization's: the entry it reverses
-- (entries_reverses_entry_id_fkey) and the hold it posts (entries_hold_id_fkey). The two
-- foreign keys are declared NOT ENFORCED (an enforced one queued and fired its check for
-- every entry, NULL or not): checked here instead, only when set (the trigger's WHEN), and
-- never skipped, payments.engine_checked or not: the fast doors write neither column, so
-- nothing of theirs reaches it, and an owner's session setting engine_checked cannot name
-- an entry or hold that is not there, or another organization's (review 2, M1).
CREATE FUNCTION payments.check_entry_references() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.reverses_entry_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM payments.entries e
                        WHERE e.id = NEW.reverses_entry_id AND e.org_id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_reverses_entry_id_fkey',
            format('(reverses_entry_id, org_id)=(%s, %s)', NEW.reverses_entry_id, NEW.org_id));
    END IF;
    IF NEW.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM payments.holds h
                        WHERE h.id = NEW.hold_id AND h.org_id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_hold_id_fkey',
            format('(hold_id, org_id)=(%s, %s)', NEW.hold_id, NEW.org_id));
    END IF;
    RETURN NULL;
END
$$;

-- A new idempotency key: not empty (idempotency_keys_key_check), of a known status
-- (idempotency_keys_status_check), naming an organization (idempotency_keys_org_id_fkey).
CREATE FUNCTION payments.check_new_key() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT NEW.key <> '' THEN
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_key_check');
    ELSIF NOT NEW.status IN ('succeeded', 'failed') THEN
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_status_check');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = NEW.org_id) THEN
        PERFORM payments._missing_reference('idempotency_keys', 'idempotency_keys_org_id_fkey',
                                            format('(org_id)=(%s)', NEW.org_id));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION payments.check_queued_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM payments.assert_entry_balanced(NEW.entry_id);
    IF NEW.posted_before THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('lines cannot be added to entry %s: it was posted by an earlier'
                             ' transaction, and the ledger is append-only', NEW.entry_id);
    END IF;
    DELETE FROM payments.entries_to_check WHERE entry_id = NEW.entry_id;
    RETURN NULL;
END
$$;

-- The two flags the hot triggers' WHENs test (payments.engine_checked: the fast doors' own
-- checks done; payments.writer: the engine's functions at work), each a function of no
-- argument declared IMMUTABLE so that its one call is folded into a constant where the WHEN is
-- compiled. PostgreSQL compiles a trigger's WHEN from its stored text (pg_trigger.tgqual) once
-- per statement, the first time a row asks (TriggerEnabled; ExecPrepareQual, whose planning
-- step evaluates an immutable function of constant arguments there and then); the WHEN
-- written out (current_setting('payments.engine_checked', true) IS DISTINCT FROM 'on') was
-- read back node by node, its two strings byte by byte, ~25K instructions per trigger and
-- statement, four on every posting (~100K of a two-line posting's ~1.44M, callgrind), then
-- judged row by row. Now the text read is one call, and the statement's rows are judged by a
-- constant: the flag as it is when the statement writes its first row. Not immutable in
-- truth (a flag changes between statements), so used nowhere else: a query naming them would
-- keep a folded value in its cached plan. A flag changed in the middle of a statement (only
-- by a function the statement itself calls, setting it without a function's SET) is seen as
-- at the statement's first row; the flags are raised for a whole door (a function's SET), and
-- an owner setting one skips the checks deliberately anyway (below). A PL/pgSQL function
-- (compiled once per session; an SQL one is parsed again at each call); every name qualified,
-- as the owner's search_path may be anything when a trigger fires.
CREATE FUNCTION payments._engine_unchecked() RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN NOT coalesce(pg_catalog.texteq(
        pg_catalog.current_setting('payments.engine_checked', true), 'on'), false);
END
$$;
CREATE FUNCTION payments._writer_off() RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN NOT coalesce(pg_catalog.texteq(
        pg_catalog.current_setting('payments.writer', true), 'on'), false);
END
$$;

-- Skipped only inside the engine's fast writers (payments.post_entry, the capture's
-- payments.post_capture_entry, post_batch_fast), whose own statements insert each entry with
-- all its lines after checking, in SQL, everything these triggers check (the organization,
-- each line's account, organization and currency, each entry's balance per currency and its
-- two or more lines; post_entry and post_capture_entry judge each kind of account row by the
-- same guard functions, payments._regular_row_takes and _high_volume_row_takes, and who acts
-- by payments._owner_role): they set payments.engine_checked for their own duration (a
-- function's SET), and every other door (ledger_write, post_batch) sets it off for its own,
-- so a caller setting it reaches no insert. The WHEN is judged per
-- row as it is inserted: skipped, a row costs the test of one setting and nothing else. The
-- application's roles cannot insert ledger rows at all (only the doors, SECURITY DEFINER,
-- do). The owner's own inserts are checked unless its session sets payments.engine_checked
-- itself: deliberately, as it could drop these triggers (README, the ledger).
CREATE TRIGGER lines_balanced AFTER INSERT ON payments.lines
    FOR EACH ROW
    WHEN (payments._engine_unchecked())
    EXECUTE FUNCTION payments.check_new_line();
CREATE TRIGGER entries_have_lines AFTER INSERT ON payments.entries
    FOR EACH ROW
    WHEN (payments._engine_unchecked())
    EXECUTE FUNCTION payments.check_new_entry();
-- The entry's references: whatever the setting (check_entry_references).
CREATE TRIGGER entries_references AFTER INSERT ON payments.entries
    FOR EACH ROW
    WHEN (NEW.reverses_entry_id IS NOT NULL OR NEW.hold_id IS NOT NULL)
    EXECUTE FUNCTION payments.check_entry_references();
-- The fast doors also check their organization exists before inserting its key: the keys'
-- check is skipped there too.
CREATE TRIGGER idempotency_keys_org AFTER INSERT ON payments.idempotency_keys
    FOR EACH ROW
    WHEN (payments._engine_unchecked())
    EXECUTE FUNCTION payments.check_new_key();
CREATE CONSTRAINT TRIGGER entries_balanced
    AFTER INSERT ON payments.entries_to_check DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments.check_queued_entry();

-- Append-only: posted facts are never changed or removed; corrections are new entries.
CREATE FUNCTION payments.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = format('%s on payments.%s is refused: the ledger is append-only',
                         TG_OP, TG_TABLE_NAME);
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entries', 'holds', 'hold_resolutions', 'idempotency_keys', 'lines']
    LOOP
        EXECUTE format('CREATE TRIGGER %I_no_delete BEFORE DELETE ON payments.%I
                        FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON payments.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change()', t, t);
        IF t <> 'lines' THEN
            EXECUTE format('CREATE TRIGGER %I_no_update BEFORE UPDATE ON payments.%I
                            FOR EACH ROW EXECUTE FUNCTION payments.refuse_change()', t, t);
        END IF;
    END LOOP;
END
$$;

-- The organizations and accounts the ledger's rows name (without foreign keys, see
-- payments.entries) are never removed, and an organization's id never changes (an account's
-- identity is guarded below, accounts_guard).
CREATE TRIGGER organizations_no_delete BEFORE DELETE ON payments.organizations
    FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();
CREATE TRIGGER organizations_no_truncate BEFORE TRUNCATE ON payments.organizations
    FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();
CREATE TRIGGER organizations_no_new_id BEFORE UPDATE ON payments.organizations
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
    EXECUTE FUNCTION payments.refuse_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON payments.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

-- A line may be updated once, and only to receive the position the roll-up computes for a
-- high-volume account, complete (lines_position_complete); every other change is refused.
CREATE FUNCTION payments.guard_line_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.account_version IS NULL) <> (NEW.account_posted_debits IS NULL)
       OR (NEW.account_version IS NULL) <> (NEW.account_posted_credits IS NULL) THEN
        PERFORM payments._check_violation('lines', 'lines_position_complete');
    END IF;
    IF OLD.account_version IS NULL AND NEW.account_version IS NOT NULL
       AND (NEW.id, NEW.entry_id, NEW.entry_org_id, NEW.org_id, NEW.account_id, NEW.side, NEW.amount,
            NEW.currency, NEW.effective_at, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.entry_id, OLD.entry_org_id, OLD.org_id, OLD.account_id, OLD.side, OLD.amount,
            OLD.currency, OLD.effective_at, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = 'UPDATE on payments.lines is refused: the ledger is append-only';
END
$$;
CREATE TRIGGER lines_no_update BEFORE UPDATE ON payments.lines
    FOR EACH ROW EXECUTE FUNCTION payments.guard_line_update();

-- An account's identity never changes, its balances change only through the engine's
-- functions (which raise the transaction-local flag payments.writer while they work), and
-- its `monitored` flag only through the balance monitors' create and delete functions (which
-- run with payments.monitors on). The application's roles cannot update accounts at all;
-- this guards the owner's own hands.
CREATE FUNCTION payments.guard_account_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.org_id, NEW.code, NEW.type, NEW.currency, NEW.high_volume, NEW.created_at,
        NEW.normal_side)
       IS DISTINCT FROM
       (OLD.id, OLD.org_id, OLD.code, OLD.type, OLD.currency, OLD.high_volume, OLD.created_at,
        OLD.normal_side)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'an account''s identity, type, normal side, currency and volume class cannot change';
    END IF;
    IF (NEW.posted_debits, NEW.posted_credits, NEW.pending_debits, NEW.pending_credits,
        NEW.version, NEW.closed)
       IS DISTINCT FROM
       (OLD.posted_debits, OLD.posted_credits, OLD.pending_debits, OLD.pending_credits,
        OLD.version, OLD.closed)
       AND current_setting('payments.writer', true) IS DISTINCT FROM 'on'
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'account balances change only by posting through the ledger';
    END IF;
    IF NEW.monitored IS DISTINCT FROM OLD.monitored
       AND current_setting('payments.monitors', true) IS DISTINCT FROM 'on'
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'an account''s monitored flag changes only with its balance monitors';
    END IF;
    RETURN NEW;
END
$$;
-- The function runs only when it may refuse. Three triggers, each for the columns an UPDATE
-- must name to change what it guards (`UPDATE OF`: an UPDATE that sets none of them fires
-- none, decided from the statement's target columns, no expression evaluated), each with the
-- smallest WHEN that lets the engine's own updates through. A trigger's WHEN is read from
-- its stored text and compiled again for every statement: the single WHEN that judged the
-- three row comparisons was ~0.1 ms of each UPDATE of an account, two per posting. Same
-- refusals: whatever fires calls the function, which judges every rule on the row.
--   identity (id, organization, code, type, currency, volume class, creation time): never,
--   whoever updates (the engine never sets these columns);
CREATE TRIGGER accounts_guard_identity
    BEFORE UPDATE OF id, org_id, code, type, currency, high_volume, created_at, normal_side
    ON payments.accounts
    FOR EACH ROW
    WHEN ((NEW.id, NEW.org_id, NEW.code, NEW.type, NEW.currency, NEW.high_volume, NEW.created_at,
           NEW.normal_side)
          IS DISTINCT FROM
          (OLD.id, OLD.org_id, OLD.code, OLD.type, OLD.currency, OLD.high_volume, OLD.created_at,
           OLD.normal_side))
    EXECUTE FUNCTION payments.guard_account_update();
--   balances, version, closed: outside the engine's functions (payments.writer off), the
--   function refuses a change (an UPDATE that sets them to what they were passes);
CREATE TRIGGER accounts_guard
    BEFORE UPDATE OF posted_debits, posted_credits, pending_debits, pending_credits, version,
        closed
    ON payments.accounts
    FOR EACH ROW
    WHEN (payments._writer_off())
    EXECUTE FUNCTION payments.guard_account_update();
--   the monitored flag: outside the balance monitors' functions (payments.monitors off).
CREATE TRIGGER accounts_guard_monitored
    BEFORE UPDATE OF monitored
    ON payments.accounts
    FOR EACH ROW
    WHEN (current_setting('payments.monitors', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION payments.guard_account_update();
-- An account's definition rules, judged where a row gets its definition (INSERT, or an UPDATE
-- naming one of the columns) and only there: as CHECK constraints they were compiled from
-- their stored text and judged on every UPDATE of an account, two per posting (~9 % of a
-- posting's server instructions, callgrind), for columns the engine never sets. Refused as
-- a CHECK refuses (check_violation, the rule's name as the constraint's; NULL passes, NOT
-- NULL refuses it): accounts_code_check (a code is not empty), accounts_type_check (one of
-- the five types), accounts_one_overdraft_flag, accounts_high_volume_without_flags.
CREATE FUNCTION payments.check_account_rules() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_rule text := CASE
        WHEN NEW.code = '' THEN 'accounts_code_check'
        WHEN NEW.type NOT IN ('asset', 'liability', 'equity', 'revenue', 'expense')
            THEN 'accounts_type_check'
        WHEN NEW.debits_must_not_exceed_credits AND NEW.credits_must_not_exceed_debits
            THEN 'accounts_one_overdraft_flag'
        WHEN NEW.high_volume
             AND (NEW.debits_must_not_exceed_credits OR NEW.credits_must_not_exceed_debits)
            THEN 'accounts_high_volume_without_flags'
    END;
BEGIN
    IF v_rule IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'payments',
            TABLE = 'accounts', CONSTRAINT = v_rule,
            MESSAGE = format('new row for relation "accounts" violates check constraint "%s"',
                             v_rule);
    END IF;
    -- The normal side follows the type (at INSERT; the type never changes after).
    IF TG_OP = 'INSERT' THEN
        NEW.normal_side := CASE WHEN NEW.type IN ('asset', 'expense') THEN 'debit'
                                ELSE 'credit' END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_rules
    BEFORE INSERT OR UPDATE OF code, type, debits_must_not_exceed_credits,
        credits_must_not_exceed_debits, high_volume
    ON payments.accounts
    FOR EACH ROW
    EXECUTE FUNCTION payments.check_account_rules();
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON payments.accounts
    FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

-- The sweep's list of open holds with an expiry (payments.hold_expiries): a hold is listed as
-- it is inserted with an expiry and unlisted as its resolution is inserted, whoever writes
-- them (the engine's doors, the sweep, the owner by hand).
CREATE FUNCTION payments.list_hold_expiry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'holds' THEN
        INSERT INTO payments.hold_expiries (hold_id, org_id, expires_at)
        VALUES (NEW.id, NEW.org_id, NEW.expires_at);
    ELSE
        DELETE FROM payments.hold_expiries WHERE hold_id = NEW.hold_id AND org_id = NEW.org_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER holds_list_expiry AFTER INSERT ON payments.holds
    FOR EACH ROW WHEN (NEW.expires_at IS NOT NULL)
    EXECUTE FUNCTION payments.list_hold_expiry();
CREATE TRIGGER hold_resolutions_unlist_expiry AFTER INSERT ON payments.hold_resolutions
    FOR EACH ROW EXECUTE FUNCTION payments.list_hold_expiry();
-- Only those triggers and the sweep (all SECURITY DEFINER, run as the owner) touch the
-- list. Revoked from the application's roles (below); row-level security enabled with no
-- policy besides, so a role granted it by mistake sees and writes no row (the owner, not
-- FORCEd, is unaffected); and TRUNCATE refused (it would silently unlist every open hold:
-- none would expire again). Its content is an invariant: exactly the open holds with an
-- expiry (tests/ledger_core/test_invariants.py).
ALTER TABLE payments.hold_expiries ENABLE ROW LEVEL SECURITY;
CREATE TRIGGER hold_expiries_no_truncate BEFORE TRUNCATE ON payments.hold_expiries
    FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

------------------------------------------------------------------------------------------
-- Row-level security: an organization's role sees and writes only its own rows
------------------------------------------------------------------------------------------

DO $$
DECLARE
    t text;
    c text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'accounts', 'holds', 'entries',
                             'hold_resolutions', 'idempotency_keys']
    LOOP
        c := CASE t WHEN 'organizations' THEN 'id' ELSE 'org_id' END;
        EXECUTE format('ALTER TABLE payments.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON payments.%I TO liventix_app
                        USING (%I = (SELECT payments.current_org_id()))
                        WITH CHECK (%I = (SELECT payments.current_org_id()))', t, c, c);
        EXECUTE format('CREATE POLICY platform ON payments.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))
                        WITH CHECK ((SELECT payments.acting_as_platform()))', t);
    END LOOP;
END
$$;

-- An organization sees the lines of its own accounts and every line of the entries booked
-- for it (the platform's side of its own sales, say); it books only for itself.
ALTER TABLE payments.lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.lines TO liventix_app
    USING (org_id = (SELECT payments.current_org_id())
           OR entry_org_id = (SELECT payments.current_org_id()))
    WITH CHECK (entry_org_id = (SELECT payments.current_org_id()));
CREATE POLICY platform ON payments.lines TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));

GRANT USAGE ON SCHEMA payments TO liventix_app, liventix_platform;
-- Reads go through row-level security; writes only through the engine's functions.
GRANT SELECT ON ALL TABLES IN SCHEMA payments TO liventix_app, liventix_platform;
-- ...but the tenancy secret, which only the owner reads, and the engine's queues (of checks,
-- of holds to expire).
REVOKE ALL ON payments.tenancy_secret, payments.entries_to_check, payments.hold_expiries
    FROM liventix_app, liventix_platform;
GRANT INSERT ON payments.organizations TO liventix_platform;
