-- The ticketing schema: events and their ticket types, orders and tickets with their state
-- machines' stored states, and the audit trail of every transition. Capacity is enforced by
-- the ticket type's counters under a CHECK, so two buyers can never get the last seat.

CREATE SCHEMA ticketing;

-- The organization the current transaction proved it acts for (NULL: the platform, or
-- nobody), as payments.current_org_id() answers it, written as one expression on
-- payments.current_actor() so the planner inlines it into every row-level security policy
-- below (payments.current_org_id, whose body reads FROM the actor, cannot be inlined: each
-- policy's evaluation was one more SQL function call, ~20 us, six or more per checkout).
CREATE FUNCTION ticketing.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL RESTRICTED AS
$$ SELECT nullif(payments.current_actor(), 'platform')::uuid $$;

-- Single-column rules as domains (session 33), not table CHECKs: PostgreSQL reads a table's
-- CHECK expressions from their stored text, plans and compiles them again for every statement
-- that writes the table (ExecRelCheck), and checks them all on every UPDATE, whatever it sets;
-- a domain's check is read and planned once per session (the type cache) and is checked only
-- on the columns a statement assigns. Same rules, same SQLSTATE (23514, check_violation).
-- A checkout's writes re-read ~29 KB of CHECK text per completed checkout before.
CREATE DOMAIN ticketing.name AS text CONSTRAINT name_not_empty CHECK (VALUE <> '');
CREATE DOMAIN ticketing.amount AS bigint CONSTRAINT amount_positive CHECK (VALUE > 0);
CREATE DOMAIN ticketing.capacity AS int CONSTRAINT capacity_positive CHECK (VALUE > 0);
CREATE DOMAIN ticketing.seats AS int CONSTRAINT seats_not_negative CHECK (VALUE >= 0);
CREATE DOMAIN ticketing.order_status AS text CONSTRAINT order_status_known CHECK (VALUE IN (
    'awaiting_payment', 'paid', 'partially_refunded', 'refunded', 'cancelled', 'disputed'));
CREATE DOMAIN ticketing.ticket_status AS text CONSTRAINT ticket_status_known CHECK (VALUE IN (
    'held', 'issued', 'checked_in', 'void', 'released', 'cancelled', 'refunded', 'invalidated'));
CREATE DOMAIN ticketing.transition_subject AS text
    CONSTRAINT transition_subject_known CHECK (VALUE IN ('order', 'ticket'));

CREATE TABLE ticketing.events (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    name ticketing.name NOT NULL,
    currency text NOT NULL REFERENCES payments.currencies (code),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_end_after_start CHECK (ends_at >= starts_at),
    CONSTRAINT events_pkey PRIMARY KEY (id, org_id)
);

CREATE TABLE ticketing.ticket_types (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    event_id uuid NOT NULL,
    org_id uuid NOT NULL,
    name ticketing.name NOT NULL,
    price ticketing.amount NOT NULL,
    currency text NOT NULL REFERENCES payments.currencies (code),
    capacity ticketing.capacity NOT NULL,
    sales_start timestamptz NOT NULL,
    sales_end timestamptz NOT NULL,
    held ticketing.seats NOT NULL DEFAULT 0,
    sold ticketing.seats NOT NULL DEFAULT 0,
    CONSTRAINT ticket_types_within_capacity CHECK (held + sold <= capacity),
    -- The sales window (sales_end after sales_start) is held by the trigger
    -- ticket_types_window (below), not a CHECK.
    CONSTRAINT ticket_types_pkey PRIMARY KEY (id, org_id),
    -- What a ticket's foreign key to its type names: the type with its event
    -- (tickets_ticket_type_id_fkey).
    CONSTRAINT ticket_types_event_key UNIQUE (id, event_id, org_id),
    CONSTRAINT ticket_types_event_id_fkey FOREIGN KEY (event_id, org_id)
        REFERENCES ticketing.events (id, org_id)
);
CREATE INDEX ticket_types_event ON ticketing.ticket_types (event_id);
-- The sales window's rule, refused as its CHECK refused it (SQLSTATE 23514, constraint
-- ticket_types_window), by a trigger on the two columns (session 35): a table's CHECK is read
-- from its stored text, planned and compiled by every statement that writes the table and
-- judged on every UPDATE, whatever it sets (ExecRelCheck), so the hold's and the payment's
-- seat counts paid for it (~50K backend instructions per checkout, cachegrind); an UPDATE
-- that sets neither column neither starts this trigger nor compiles its WHEN. The seats'
-- rule (ticket_types_within_capacity) stays a CHECK: every seat count moves it.
CREATE FUNCTION ticketing.refuse_window() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'ticketing',
        TABLE = 'ticket_types', CONSTRAINT = 'ticket_types_window',
        MESSAGE = 'new row for relation "ticket_types" violates check constraint'
                  ' "ticket_types_window"',
        DETAIL = format('sales_start %s is not before sales_end %s.', NEW.sales_start,
                        NEW.sales_end);
END
$$;
CREATE TRIGGER ticket_types_window
    BEFORE INSERT OR UPDATE OF sales_start, sales_end ON ticketing.ticket_types
    FOR EACH ROW WHEN (NOT (NEW.sales_end > NEW.sales_start))
    EXECUTE FUNCTION ticketing.refuse_window();

CREATE TABLE ticketing.orders (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    -- The organization: declared, NOT ENFORCED, as it is implied by orders_event_id_fkey (the
    -- order's (event_id, org_id) is an event's, whose organization events_org_id_fkey holds;
    -- organizations are never deleted, nor their ids changed): an enforced key here ran one
    -- more check, with its row lock, for every order.
    org_id uuid NOT NULL
        CONSTRAINT orders_org_id_fkey REFERENCES payments.organizations (id) NOT ENFORCED,
    event_id uuid NOT NULL,
    buyer_email text NOT NULL,
    status ticketing.order_status NOT NULL DEFAULT 'awaiting_payment',
    currency text NOT NULL,
    amount ticketing.amount NOT NULL,
    payment_intent_id text,
    client_secret text,
    hold_expires_at timestamptz NOT NULL,
    cancel_reason text,
    -- When the hold sweeper asked Stripe to cancel the order's PaymentIntent (its hold
    -- expired unpaid): the order keeps its seats until Stripe confirms the cancellation (the
    -- task, or `payment_intent.canceled`) or a grace well beyond the hold has passed; a
    -- payment made within the hold still issues its tickets meanwhile (promise 9).
    cancel_requested_at timestamptz,
    -- What Stripe answered the latest cancel task when it refused (the intent's status:
    -- `succeeded`, `processing`, ...) and when; NULL while Stripe never answered one (a
    -- `canceled` answer releases the order instead). The grace releases only an order Stripe
    -- never answered; one it said `succeeded` waits for its payment's event, one in another
    -- state (`processing`: a bank debit under way) is asked again a grace after each ask.
    cancel_refused text,
    cancel_refused_at timestamptz,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    version int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_key UNIQUE (org_id, idempotency_key),
    CONSTRAINT orders_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT orders_event_id_fkey FOREIGN KEY (event_id, org_id)
        REFERENCES ticketing.events (id, org_id),
    CONSTRAINT orders_payment_intent_id_key UNIQUE (payment_intent_id, org_id)
);
-- The sweeper's reads (the holds expired, the asks the grace acts on) walk this index. Not
-- narrowed to the orders not yet asked about, nor joined by an index on the asks: a second
-- partial index costs every statement on orders (the checkout's hold, record and pay) its
-- opening and upkeep. What each sweep reads past and filters out: the orders asked about
-- and unanswered (the grace at most), and those Stripe refused to cancel: `succeeded` until
-- their payment's event (days, in the webhook outage that makes them in bulk), `processing`
-- for the bank debit's length (~2 ms per sweep at 10,000 such orders: session 38, CancelFix's
-- L4 and Review2's L2).
CREATE INDEX orders_expiry ON ticketing.orders (hold_expires_at) WHERE status = 'awaiting_payment';
CREATE INDEX orders_event ON ticketing.orders (event_id);

CREATE TABLE ticketing.tickets (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id uuid NOT NULL,
    org_id uuid NOT NULL,
    event_id uuid NOT NULL,
    ticket_type_id uuid NOT NULL,
    status ticketing.ticket_status NOT NULL DEFAULT 'held',
    code text NOT NULL,
    holder_email text NOT NULL,
    price ticketing.amount NOT NULL,
    replaces uuid,
    checked_in_at timestamptz,
    checked_in_by text,
    version int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tickets_pkey PRIMARY KEY (id, org_id),
    -- The ticket's order, its type with its event (a ticket's event is its type's, which
    -- the keys to the type and to the event apart, before session 32, did not hold) and the
    -- ticket it replaces, each of the ticket's organization: declared (the catalog and its
    -- readers see them) but NOT ENFORCED, checked once per INSERT statement by
    -- ticketing.tickets_references (below) with the same error (23503) and names.
    CONSTRAINT tickets_order_id_fkey FOREIGN KEY (order_id, org_id)
        REFERENCES ticketing.orders (id, org_id) NOT ENFORCED,
    CONSTRAINT tickets_ticket_type_id_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
        REFERENCES ticketing.ticket_types (id, event_id, org_id) NOT ENFORCED,
    -- Implied by tickets_ticket_type_id_fkey and the type's own key to its event
    -- (ticket_types_event_id_fkey).
    CONSTRAINT tickets_event_id_fkey FOREIGN KEY (event_id, org_id)
        REFERENCES ticketing.events (id, org_id) NOT ENFORCED,
    CONSTRAINT tickets_code_key UNIQUE (code, org_id),
    CONSTRAINT tickets_replaces_fkey FOREIGN KEY (replaces, org_id)
        REFERENCES ticketing.tickets (id, org_id) NOT ENFORCED
);
CREATE INDEX tickets_order ON ticketing.tickets (order_id);
-- By ticket type alone: no index names a ticket's status, so its moves (held to issued, to
-- checked in, refunded) are HOT updates, writing no index entry (with status in this index
-- every move wrote one in each of the table's four indexes; measured on 3,000 payments:
-- 0 % HOT before, 98 % after, ~1 % less WAL per completed checkout).
CREATE INDEX tickets_type ON ticketing.tickets (ticket_type_id);

-- The references' lookups are probes by a key whose leading column is the row's id (the
-- orders', tickets' and types' keys), whatever the statistics say (issue 11, session 37). A
-- session keeps the plans it builds, and one built while the tables held a few rows (a new
-- deployment, an on-sale's first minute before autovacuum's ANALYZE, a benchmark's fresh
-- database: ANALYZE is what replans) read every order of the organization at every hold:
-- the organization's equality made orders_key (org_id, idempotency_key) as cheap as
-- orders_pkey by the estimates (both one row), and the planner took it; under the usual
-- case's OR it hashed the lookup instead (a hashed SubPlan: the organization's orders read
-- whole, at every hold), and the types by a table scan. The organization is compared with
-- ticketing.filter_only(v_org), a VOLATILE identity: an expression the planner may neither
-- use as an index key (so no index on org_id competes with the id's) nor hoist out of the
-- lookup (a correlated EXISTS with a volatile condition is never hashed); the trigger runs
-- with enable_seqscan off (a table scan stays possible only where no index serves, as in the
-- ledger's doors). Every lookup still filters on the organization (docs/scaling.md: pinned
-- to one; tests/test_sharding_reads reads it so). Not SQL-language: the planner would inline
-- it and see v_org again. Measured: tests/ticketing_core/test_references_by_key.
CREATE FUNCTION ticketing.filter_only(p_value uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION ticketing.filter_only(uuid) FROM PUBLIC;

-- A ticket's references (session 32): its order, its type with its event, the ticket it
-- replaces, each of the ticket's organization. Enforced keys checked each ticket apart: a
-- checkout's two tickets ran six checks (four queries, each locking its order or type FOR
-- KEY SHARE). The keys are declared NOT ENFORCED (above) and checked here once per INSERT
-- statement, over the rows it inserted (the transition table), with the keys' error
-- (23503) and names:
-- - the order and the ticket replaced, locked FOR KEY SHARE as the keys' checks locked them
--   (the owner may delete orders and tickets: a ticket inserted while its order is being
--   deleted waits for that deletion and is refused if it committed; an order or a ticket
--   deleted while tickets name it is refused, tickets_named and orders_named below);
-- - the type with its event, read without a lock: ticket types are never deleted nor their
--   keys changed (refused below), so none can go away under it.
-- A ticket's references and key never change once written (refused). With the owner's
-- rights: the lookups read past row-level security, as a key's check does.
CREATE FUNCTION ticketing.tickets_references() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off AS $$
DECLARE
    v_org uuid;
    v_name text;
    v_key text;
    -- This transaction's id: an order (or a ticket) it wrote itself needs no lock (below).
    -- xmin is 32 bits and a frozen row keeps its raw xmin, so a row ~2**32 transactions old
    -- can show this id: the row must also be of this transaction's moment (created_at is
    -- now() by default and no writer sets it), which no older row is.
    v_xid xid := pg_catalog.xid(pg_catalog.pg_current_xact_id());
BEGIN
    -- Organization by organization (a statement's rows are one organization's: a checkout's,
    -- a transfer's), so that every lookup is pinned to one (docs/scaling.md).
    FOR v_org IN SELECT DISTINCT t.org_id FROM added t LOOP
        -- The usual case first (session 35): every ticket's order this transaction's own (the
        -- checkout's hold writes the order, then its tickets), its type with its event there,
        -- no ticket replaced. One plain lookup per reference, no lock, and the full check
        -- below (its plan of three branches, the locks' subplans, the error's text), which
        -- would find nothing and lock nothing either, is not started.
        IF NOT EXISTS (SELECT FROM added t
                        WHERE t.org_id = v_org
                          AND (t.replaces IS NOT NULL
                               OR NOT EXISTS (SELECT FROM ticketing.orders o
                                               WHERE o.id = t.order_id
                                                 AND o.org_id = ticketing.filter_only(v_org)
                                                 AND o.xmin = v_xid AND o.created_at = now())
                               OR NOT EXISTS (SELECT FROM ticketing.ticket_types y
                                               WHERE y.id = t.ticket_type_id
                                                 AND y.event_id = t.event_id
                                                 AND y.org_id = ticketing.filter_only(v_org)))) THEN
            CONTINUE;
        END IF;
        SELECT k.name, k.key INTO v_name, v_key
          FROM (SELECT 'tickets_order_id_fkey' AS name,
                       format('(order_id, org_id)=(%s, %s)', t.order_id, t.org_id) AS key
                  FROM added t
                 WHERE t.org_id = v_org
                   -- An order this transaction wrote (at its top level: xmin is its id; the
                   -- checkout's hold writes the order, then its tickets) cannot be deleted by
                   -- another before this one commits (none sees it), so it is only looked
                   -- up; any other is locked FOR KEY SHARE as a key's check locks it. CASE:
                   -- the lookup first, the lock only if it found none.
                   AND CASE WHEN EXISTS (SELECT FROM ticketing.orders o
                                          WHERE o.id = t.order_id
                                            AND o.org_id = ticketing.filter_only(v_org)
                                            AND o.xmin = v_xid AND o.created_at = now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM ticketing.orders o
                                              WHERE o.id = t.order_id
                                                AND o.org_id = ticketing.filter_only(v_org)
                                                FOR KEY SHARE) END
                UNION ALL
                SELECT 'tickets_ticket_type_id_fkey',
                       format('(ticket_type_id, event_id, org_id)=(%s, %s, %s)',
                              t.ticket_type_id, t.event_id, t.org_id)
                  FROM added t
                 WHERE t.org_id = v_org
                   AND NOT EXISTS (SELECT FROM ticketing.ticket_types y
                                    WHERE y.id = t.ticket_type_id AND y.event_id = t.event_id
                                      AND y.org_id = ticketing.filter_only(v_org))
                UNION ALL
                SELECT 'tickets_replaces_fkey',
                       format('(replaces, org_id)=(%s, %s)', t.replaces, t.org_id)
                  FROM added t
                 WHERE t.org_id = v_org AND t.replaces IS NOT NULL
                   AND CASE WHEN EXISTS (SELECT FROM ticketing.tickets r
                                          WHERE r.id = t.replaces
                                            AND r.org_id = ticketing.filter_only(v_org)
                                            AND r.xmin = v_xid AND r.created_at = now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM ticketing.tickets r
                                              WHERE r.id = t.replaces
                                                AND r.org_id = ticketing.filter_only(v_org)
                                                FOR KEY SHARE) END) k
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'ticketing',
                TABLE = 'tickets', CONSTRAINT = v_name,
                MESSAGE = format('insert on table "tickets" violates foreign key constraint'
                                 ' "%s"', v_name),
                DETAIL = format('Key %s is not present.', v_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ticketing.tickets_references() FROM PUBLIC;
CREATE TRIGGER tickets_references AFTER INSERT ON ticketing.tickets
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION ticketing.tickets_references();

-- An order or a ticket deleted while a ticket still names it: refused at the statement's
-- end, as the keys' NO ACTION refused it (the owner's deletions only: the application's
-- roles delete nothing in ticketing). The lookup sees what its statement's snapshot sees:
-- at READ COMMITTED a fresh one, which (after the deletion's row locks, which a ticket's
-- insert waits on by its FOR KEY SHARE) sees every ticket committed before. At REPEATABLE
-- READ or SERIALIZABLE it is the transaction's first snapshot, blind to a ticket committed
-- since (a key's own check looks again with a fresh one; a trigger cannot): a deletion of
-- one row or more there is refused, SQLSTATE LXT02 (delete_needs_read_committed), so no
-- isolation level orphans a ticket. A deletion that removes nothing is not refused.
CREATE FUNCTION ticketing.refuse_named_removal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_key text;
    v_name text;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       AND EXISTS (SELECT FROM removed) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXT02', MESSAGE = 'delete_needs_read_committed',
            DETAIL = format('DELETE on ticketing.%s must run at READ COMMITTED (this'
                            ' transaction is %s): the check for tickets naming the deleted'
                            ' rows needs a fresh snapshot', TG_TABLE_NAME,
                            upper(pg_catalog.current_setting('transaction_isolation')));
    END IF;
    IF TG_TABLE_NAME = 'orders' THEN
        SELECT format('(order_id, org_id)=(%s, %s)', t.order_id, t.org_id) INTO v_key
          FROM removed r JOIN ticketing.tickets t ON t.order_id = r.id AND t.org_id = r.org_id
         LIMIT 1;
    ELSE
        SELECT format('(replaces, org_id)=(%s, %s)', t.replaces, t.org_id) INTO v_key
          FROM removed r JOIN ticketing.tickets t ON t.replaces = r.id AND t.org_id = r.org_id
         LIMIT 1;
    END IF;
    IF v_key IS NOT NULL THEN
        v_name := CASE TG_TABLE_NAME WHEN 'orders' THEN 'tickets_order_id_fkey'
                                     ELSE 'tickets_replaces_fkey' END;
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'ticketing',
            TABLE = 'tickets', CONSTRAINT = v_name,
            MESSAGE = format('delete on table "%s" violates foreign key constraint "%s" on'
                             ' table "tickets"', TG_TABLE_NAME, v_name),
            DETAIL = format('Key %s is still referenced from table "tickets".', v_key);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ticketing.refuse_named_removal() FROM PUBLIC;
CREATE TRIGGER orders_named AFTER DELETE ON ticketing.orders
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_named_removal();
CREATE TRIGGER tickets_named AFTER DELETE ON ticketing.tickets
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_named_removal();

-- What the checks rely on, refused (SQLSTATE LXT01): a ticket's references or key changed;
-- an order's key changed, orders truncated; a ticket type deleted, truncated or its key
-- (with its event) changed.
CREATE FUNCTION ticketing.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LXT01', MESSAGE = 'reference_change_refused',
        DETAIL = format('%s on ticketing.%s is refused: tickets name their order, type and'
                        ' event by these keys', TG_OP, TG_TABLE_NAME);
END
$$;
CREATE TRIGGER tickets_references_fixed
    BEFORE UPDATE OF id, order_id, org_id, event_id, ticket_type_id, replaces
    ON ticketing.tickets FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.order_id IS DISTINCT FROM OLD.order_id
          OR NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.event_id IS DISTINCT FROM OLD.event_id
          OR NEW.ticket_type_id IS DISTINCT FROM OLD.ticket_type_id
          OR NEW.replaces IS DISTINCT FROM OLD.replaces)
    EXECUTE FUNCTION ticketing.refuse_change();
CREATE TRIGGER orders_no_new_key BEFORE UPDATE OF id, org_id ON ticketing.orders
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.org_id IS DISTINCT FROM OLD.org_id)
    EXECUTE FUNCTION ticketing.refuse_change();
CREATE TRIGGER orders_no_truncate BEFORE TRUNCATE ON ticketing.orders
    FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_change();
CREATE TRIGGER ticket_types_no_delete BEFORE DELETE ON ticketing.ticket_types
    FOR EACH ROW EXECUTE FUNCTION ticketing.refuse_change();
CREATE TRIGGER ticket_types_no_truncate BEFORE TRUNCATE ON ticketing.ticket_types
    FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_change();
CREATE TRIGGER ticket_types_no_new_key BEFORE UPDATE OF id, event_id, org_id
    ON ticketing.ticket_types FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.event_id IS DISTINCT FROM OLD.event_id
          OR NEW.org_id IS DISTINCT FROM OLD.org_id)
    EXECUTE FUNCTION ticketing.refuse_change();

CREATE TABLE ticketing.transitions (
    id bigint GENERATED ALWAYS AS IDENTITY,
    org_id uuid NOT NULL,
    subject ticketing.transition_subject NOT NULL,
    subject_id uuid NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    event text NOT NULL,
    cause text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transitions_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX transitions_subject ON ticketing.transitions (subject_id, id);
CREATE TRIGGER transitions_append_only BEFORE UPDATE OR DELETE ON ticketing.transitions
    FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

CREATE TABLE ticketing.refunds (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    order_id uuid NOT NULL,
    amount ticketing.amount NOT NULL,
    reason text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_key UNIQUE (org_id, idempotency_key),
    CONSTRAINT refunds_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT refunds_order_id_fkey FOREIGN KEY (order_id, org_id)
        REFERENCES ticketing.orders (id, org_id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'ticket_types', 'orders', 'tickets', 'transitions', 'refunds']
    LOOP
        EXECUTE format('ALTER TABLE ticketing.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON ticketing.%I TO liventix_app
                        USING (org_id = (SELECT ticketing.current_org_id()))
                        WITH CHECK (org_id = (SELECT ticketing.current_org_id()))', t);
        EXECUTE format('CREATE POLICY platform ON ticketing.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))
                        WITH CHECK ((SELECT payments.acting_as_platform()))', t);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA ticketing TO liventix_app, liventix_platform;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ticketing TO liventix_app, liventix_platform;
REVOKE UPDATE ON ticketing.transitions FROM liventix_app, liventix_platform;

-- A checkout's opening read (ticketing_fsm.store.checkout.OPENING as a function: the order
-- stored under the key, the event FOR SHARE, the ticket types' prices in id order) for the
-- organization p_org, every table filtered on it. A function so that its plan is kept by the
-- session (sent as a simple query with literals, the statement itself was planned again
-- every time); run with the caller's rights (row-level security as for the statement). One
-- row, always (acting_org: whom it read for; NULL reads nothing and locks nothing).
-- start_checkout sends it with the transaction's BEGIN in one round trip
-- (`store.checkout.begin_with_opening`).
CREATE FUNCTION ticketing.open_checkout_for(p_org uuid, p_event uuid, p_key text, p_ids uuid[])
RETURNS TABLE (
    acting_org uuid, order_id uuid, order_amount bigint, order_currency text,
    payment_intent_id text, client_secret text, hold_expires_at timestamptz,
    request_hash text, status text, order_event_id uuid, order_ends_at timestamptz,
    event_id uuid, currency text, ends_at timestamptz, cancelled_at timestamptz,
    type_ids uuid[], prices bigint[])
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT ev.id, ev.currency, ev.ends_at, ev.cancelled_at FROM ticketing.events ev
         WHERE ev.id = p_event AND ev.org_id = p_org FOR SHARE
    ), o AS (
        SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
               o.hold_expires_at, o.request_hash, o.status, o.event_id, oe.ends_at
          FROM ticketing.orders o
          JOIN ticketing.events oe ON oe.id = o.event_id AND oe.org_id = p_org
         WHERE o.org_id = p_org AND o.idempotency_key = p_key
    )
    -- The domains' values as their base types: RETURN QUERY wants the declared types.
    SELECT p_org, o.id, o.amount::bigint, o.currency, o.payment_intent_id, o.client_secret,
           o.hold_expires_at, o.request_hash, o.status::text, o.event_id, o.ends_at,
           e.id, e.currency, e.ends_at, e.cancelled_at, p.type_ids, p.prices
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN o ON true
      LEFT JOIN e ON true
      LEFT JOIN LATERAL (
          SELECT array_agg(t.id ORDER BY t.id) AS type_ids,
                 array_agg(t.price::bigint ORDER BY t.id) AS prices
            FROM ticketing.ticket_types t
           WHERE t.id = ANY(p_ids) AND t.event_id = p_event AND t.org_id = p_org
      ) p ON true;
END
$$;

-- The same read over the API, for the actor the transaction proved
-- (ticketing_fsm.store.checkout.opening_after_authentication), sent in the round trip that
-- begins the transaction and authenticates it; with no actor proved it reads nothing and
-- locks nothing.
CREATE FUNCTION ticketing.open_checkout(p_event uuid, p_key text, p_ids uuid[])
RETURNS TABLE (
    acting_org uuid, order_id uuid, order_amount bigint, order_currency text,
    payment_intent_id text, client_secret text, hold_expires_at timestamptz,
    request_hash text, status text, order_event_id uuid, order_ends_at timestamptz,
    event_id uuid, currency text, ends_at timestamptz, cancelled_at timestamptz,
    type_ids uuid[], prices bigint[])
LANGUAGE sql VOLATILE AS $$
    SELECT * FROM ticketing.open_checkout_for(ticketing.current_org_id(), p_event, p_key, p_ids)
$$;

-- A checkout's hold of one ticket type (nearly every checkout), with its order and tickets:
-- the API sends it with the transaction's COMMIT in one round trip, so the hot ticket type's
-- row is locked from this UPDATE to the commit on the server alone. Run with the caller's
-- rights (row-level security as for the statements it replaces); its plans are kept by the
-- session (a client's DEALLOCATE ALL, which psycopg sends after a rollback, leaves them).
-- One row: the hold's expiry, or (refused) the ticket type's seats left and whether it is on
-- sale, read by their own statement, so as of now (a hold that waited for the row and found
-- it sold out is told so); no row when the type is not the event's.
--
-- The transaction commits without waiting for its WAL to reach the disk (synchronous_commit
-- off, for this transaction only), so the hot row's lock is let go as soon as the commit is
-- written, not after a flush every other buyer of the type would wait behind (with the
-- flushes of everyone else's commits, and the holder's own turn for a CPU after it). Nothing
-- is acknowledged before it is durable: the buyer's client secret is answered only by the
-- checkout's record step, whose commit is synchronous and flushes the WAL up to itself, the
-- hold's commit included (and a refusal is stored under the key by a synchronous commit
-- too). A crash or a failover in between can lose the hold: nobody was answered for it, and
-- the record step, finding no order, raises CheckoutInterrupted (503 with Retry-After over
-- the API); a retry under the same key holds again (the same order id, derived from the key)
-- and Stripe answers the same key with the same PaymentIntent; without a retry that
-- PaymentIntent stays unconfirmable (its client secret was never given out).
-- The hold of one ticket type with its order and tickets: the one definition of the rule
-- (session 33: open_and_hold_checkout_for had its own copy of these statements). The seats
-- are held if the type is the event's, at this price, on sale now, and within its capacity;
-- then the order and its tickets are inserted. One row, always (not SETOF, so a plpgsql
-- caller assigns it as an expression, with no executor or tuplestore of its own around the
-- call): the hold's expiry; or, refused, the type's seats left and whether it is on sale, read
-- by their own statement, so as of now (a hold that waited for the row and found it sold out
-- is told so); all NULL when the type is not the event's. The transaction's durability is the
-- caller's (hold_checkout and open_and_hold_checkout_for commit without waiting for the
-- flush, as said above).
CREATE FUNCTION ticketing.hold_order(
    p_n int, p_type uuid, p_event uuid, p_price bigint, p_order uuid, p_org uuid,
    p_buyer text, p_currency text, p_amount bigint, p_hold interval, p_key text,
    p_hash text, p_codes text[],
    OUT hold_expires_at timestamptz, OUT seats_left int, OUT on_sale boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    UPDATE ticketing.ticket_types tt SET held = tt.held + p_n
     WHERE tt.id = p_type AND tt.org_id = p_org AND tt.event_id = p_event
       AND tt.price = p_price AND now() >= tt.sales_start AND now() < tt.sales_end
       AND tt.held + tt.sold + p_n <= tt.capacity;
    IF FOUND THEN
        INSERT INTO ticketing.orders AS o
            (id, org_id, event_id, buyer_email, currency, amount, hold_expires_at,
             idempotency_key, request_hash)
        VALUES (p_order, p_org, p_event, p_buyer, p_currency, p_amount, now() + p_hold,
                p_key, p_hash)
        RETURNING o.hold_expires_at INTO hold_expires_at;
        INSERT INTO ticketing.tickets
            (order_id, org_id, event_id, ticket_type_id, code, holder_email, price)
        SELECT p_order, p_org, p_event, p_type, c.code, p_buyer, p_price
          FROM unnest(p_codes) AS c(code);
        RETURN;
    END IF;
    SELECT tt.capacity - tt.held - tt.sold, now() >= tt.sales_start AND now() < tt.sales_end
      INTO seats_left, on_sale
      FROM ticketing.ticket_types tt
     WHERE tt.id = p_type AND tt.org_id = p_org AND tt.event_id = p_event;
END
$$;

-- ticketing.hold_order committing without waiting for the flush (above), as a set of rows:
-- one (the expiry, or the refusal's diagnosis), none when the type is not the event's. The
-- long way's hold with its commit (store.checkout.HOLD_AND_COMMIT).
CREATE FUNCTION ticketing.hold_checkout(
    p_n int, p_type uuid, p_event uuid, p_price bigint, p_order uuid, p_org uuid,
    p_buyer text, p_currency text, p_amount bigint, p_hold interval, p_key text,
    p_hash text, p_codes text[])
RETURNS TABLE (hold_expires_at timestamptz, seats_left int, on_sale boolean)
LANGUAGE sql VOLATILE AS $$
    SELECT set_config('synchronous_commit', 'off', true);
    SELECT h.hold_expires_at, h.seats_left, h.on_sale
      FROM ticketing.hold_order(p_n, p_type, p_event, p_price, p_order, p_org, p_buyer,
                                p_currency, p_amount, p_hold, p_key, p_hash, p_codes) h
     WHERE h.hold_expires_at IS NOT NULL OR h.on_sale IS NOT NULL
$$;

-- A checkout of one ticket type (nearly every one) in one statement, for the organization
-- p_org: the opening read (as open_checkout_for reads it: the order stored under the key,
-- the event FOR SHARE, the type's price) and, for a new order of an event on sale, the hold
-- with the order and its tickets (as hold_checkout holds: synchronous_commit off for this
-- transaction only, as described above); the amount and the currency are the price and the
-- event's, read here. One row: open_checkout_for's, with the hold's answer as
-- hold_checkout's (held_until: the new order's hold expiry; or, refused, seats_left and
-- on_sale); no hold when the key already has an order, the event is not found or
-- cancelled, or the type is not the event's (the caller tells which from the opening's
-- columns). Run with the caller's rights (row-level security as for the statements it
-- replaces). The Python API's checkout (ticketing_fsm.start_checkout) sends it between its
-- transaction's BEGIN and COMMIT in one round trip
-- (ticketing_fsm.store.checkout.open_and_hold_now).
-- The opening read is written out here (session 32: a call of a set-returning plpgsql
-- function from a statement is one more executor start, a function's start and a tuplestore
-- for its RETURN QUERY, ~90 us of backend time). The hold is ticketing.hold_order's, its one
-- definition (session 33), called as an assignment: a simple expression, with no executor
-- or tuplestore around it (cachegrind on the backend, 40 checkouts each way, twice: 7.31M and
-- 7.35M instructions per completed checkout against 7.34M and 7.53M with the statements
-- written out). tests/ticketing_core (test_hold_commit, test_checkout_text, test_flows) hold
-- it to their answers.
CREATE FUNCTION ticketing.open_and_hold_checkout_for(
    p_org uuid, p_event uuid, p_type uuid, p_n int, p_order uuid, p_buyer text,
    p_hold interval, p_key text, p_hash text, p_codes text[])
RETURNS TABLE (
    acting_org uuid, order_id uuid, order_amount bigint, order_currency text,
    payment_intent_id text, client_secret text, hold_expires_at timestamptz,
    request_hash text, status text, order_event_id uuid, order_ends_at timestamptz,
    event_id uuid, currency text, ends_at timestamptz, cancelled_at timestamptz,
    type_ids uuid[], prices bigint[], held_until timestamptz, seats_left int,
    on_sale boolean)
LANGUAGE plpgsql VOLATILE ROWS 1 AS $$
#variable_conflict use_column
DECLARE
    v_hold record;
    v_sync text;
BEGIN
    -- The opening read in the statements the usual checkout needs (session 36), not one
    -- statement of three joined reads: the order stored under the key alone (its event's end
    -- read only when there is one: a replay), then the event FOR SHARE with the type's price,
    -- one join. The joined form planned, started and projected every branch for every hold,
    -- the order's event included, which a new order never reads (cachegrind on the backend
    -- of the hold and the record, the payment on another connection, 80 checkouts per
    -- session pair, one database, variants interleaved: 1,066K and 1,080K -> 1,025K and
    -- 1,015K instructions per checkout). Same rows (tests/ticketing_core/test_opening_rows):
    -- the order found by its key, with its event's end (an order's event is never deleted:
    -- orders_event_id_fkey);
    -- the event and the type read as of the lock's statement (a cancellation committed while
    -- the lock waited is seen, as before); a new order of the same key committed meanwhile
    -- fails the order's insert on orders_key, as when it committed before the hold.
    acting_org := p_org;
    SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
           o.hold_expires_at, o.request_hash, o.status, o.event_id
      INTO order_id, order_amount, order_currency, payment_intent_id, client_secret,
           hold_expires_at, request_hash, status, order_event_id
      FROM ticketing.orders o
     WHERE o.org_id = p_org AND o.idempotency_key = p_key;
    IF FOUND THEN
        SELECT oe.ends_at INTO order_ends_at FROM ticketing.events oe
         WHERE oe.id = order_event_id AND oe.org_id = p_org;
    END IF;
    SELECT ev.id, ev.currency, ev.ends_at, ev.cancelled_at,
           CASE WHEN tt.id IS NOT NULL THEN ARRAY[tt.id] END,
           CASE WHEN tt.id IS NOT NULL THEN ARRAY[tt.price::bigint] END
      INTO event_id, currency, ends_at, cancelled_at, type_ids, prices
      FROM ticketing.events ev
      LEFT JOIN ticketing.ticket_types tt
        ON tt.id = p_type AND tt.event_id = p_event AND tt.org_id = p_org
     WHERE ev.id = p_event AND ev.org_id = p_org
       FOR SHARE OF ev;
    IF order_id IS NULL AND event_id IS NOT NULL AND cancelled_at IS NULL
       AND prices IS NOT NULL THEN
        -- An assignment (a simple expression), not PERFORM: PERFORM runs its expression as
        -- a query, with an executor started and ended around it (session 35: ~40-70K backend
        -- instructions per hold).
        v_sync := set_config('synchronous_commit', 'off', true);
        -- An assignment, evaluated as a simple expression: no executor of its own.
        v_hold := ticketing.hold_order(p_n, p_type, p_event, prices[1], p_order, p_org,
                                       p_buyer, currency, prices[1] * p_n, p_hold, p_key,
                                       p_hash, p_codes);
        held_until := v_hold.hold_expires_at;
        seats_left := v_hold.seats_left;
        on_sale := v_hold.on_sale;
    END IF;
    RETURN NEXT;
END
$$;


-- The same over the API in one round trip to the database: sent after the authentication,
-- in the round trip that begins the transaction, and followed by its COMMIT
-- (ticketing_fsm.store.checkout.hold_after_authentication). It does nothing, and answers
-- one row of NULLs (acting_org NULL), unless the caller gives the go-ahead (p_go: over the
-- API, that the key may write and nothing is stored under the request's Idempotency-Key, so
-- that a replay or a read-only key never holds) and the transaction proved it acts for
-- p_org (the order's id and the request's fingerprint, derived from the organization, were
-- computed for it): the caller then takes the long way. Otherwise open_and_hold_checkout_for's
-- row. Run with the caller's rights.
CREATE FUNCTION ticketing.open_and_hold_checkout(
    p_go boolean, p_org uuid, p_event uuid, p_type uuid, p_n int, p_order uuid,
    p_buyer text, p_hold interval, p_key text, p_hash text, p_codes text[])
RETURNS TABLE (
    acting_org uuid, order_id uuid, order_amount bigint, order_currency text,
    payment_intent_id text, client_secret text, hold_expires_at timestamptz,
    request_hash text, status text, order_event_id uuid, order_ends_at timestamptz,
    event_id uuid, currency text, ends_at timestamptz, cancelled_at timestamptz,
    type_ids uuid[], prices bigint[], held_until timestamptz, seats_left int,
    on_sale boolean)
LANGUAGE plpgsql VOLATILE ROWS 1 AS $$
BEGIN
    IF coalesce(p_go, false) AND p_org = ticketing.current_org_id() THEN
        RETURN QUERY SELECT * FROM ticketing.open_and_hold_checkout_for(
            p_org, p_event, p_type, p_n, p_order, p_buyer, p_hold, p_key, p_hash, p_codes);
        RETURN;
    END IF;
    RETURN NEXT;
END
$$;
