-- Escrow (schema payments): organizer policies, one escrow per organizer, event and currency,
-- its audit trail of transitions, and what Stripe told us about payments, refunds, disputes,
-- transfers and payouts (so events can arrive in any order, any number of times).

-- Single-column rules of the escrow's hot rows as domains (session 33), not table CHECKs: a
-- table's CHECK expressions are read from their stored text, planned and compiled again by
-- every statement that writes the table, and all of them checked on every UPDATE; a domain's
-- check is planned once per session and checked only on the columns a statement assigns
-- (ticketing.sql says more). Same rules, same SQLSTATE (23514).
CREATE DOMAIN payments.escrow_state AS text CONSTRAINT escrow_state_known CHECK (VALUE IN (
    'collecting', 'holding', 'releasable', 'release_requested', 'released', 'frozen',
    'cancelled'));
CREATE DOMAIN payments.escrow_count AS int CONSTRAINT escrow_count_not_negative CHECK (VALUE >= 0);
CREATE DOMAIN payments.escrow_sum AS bigint
    CONSTRAINT escrow_sum_not_negative CHECK (VALUE >= 0);
CREATE DOMAIN payments.escrow_gross AS bigint CONSTRAINT escrow_gross_positive CHECK (VALUE > 0);

CREATE TABLE payments.organizer_policies (
    org_id uuid PRIMARY KEY REFERENCES payments.organizations (id),
    platform_fee_bps int NOT NULL DEFAULT 500 CHECK (platform_fee_bps BETWEEN 0 AND 10000),
    platform_fee_fixed bigint NOT NULL DEFAULT 0 CHECK (platform_fee_fixed >= 0),
    bears_stripe_fees boolean NOT NULL DEFAULT false,
    refund_platform_fee boolean NOT NULL DEFAULT true,
    hold_period interval NOT NULL DEFAULT '3 days' CHECK (hold_period >= '0'::interval),
    connected_account text,
    payout_email text
);

CREATE TABLE payments.escrows (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    event_id text NOT NULL,
    currency text NOT NULL REFERENCES payments.currencies (code),
    state payments.escrow_state NOT NULL DEFAULT 'collecting',
    event_ends_at timestamptz NOT NULL,
    ended_at timestamptz,
    hold_until timestamptz,
    open_disputes payments.escrow_count NOT NULL DEFAULT 0,
    -- Gross amounts captured, refunded and charged back; the organizer's share held now (the
    -- escrow account's balance, negative when refunds took more than the event's share) and
    -- what was released to the payable.
    captured payments.escrow_sum NOT NULL DEFAULT 0,
    refunded payments.escrow_sum NOT NULL DEFAULT 0,
    charged_back payments.escrow_sum NOT NULL DEFAULT 0,
    held bigint NOT NULL DEFAULT 0,
    released payments.escrow_sum NOT NULL DEFAULT 0,
    version int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT escrows_one_per_event UNIQUE (org_id, event_id, currency),
    CONSTRAINT escrows_pkey PRIMARY KEY (id, org_id)
);
CREATE INDEX escrows_due ON payments.escrows (state, event_ends_at, hold_until);

CREATE TABLE payments.escrow_transitions (
    id bigint GENERATED ALWAYS AS IDENTITY,
    escrow_id uuid NOT NULL,
    org_id uuid NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    event text NOT NULL,
    cause text,
    entry_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT escrow_transitions_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT escrow_transitions_escrow_id_fkey FOREIGN KEY (escrow_id, org_id)
        REFERENCES payments.escrows (id, org_id),
    CONSTRAINT escrow_transitions_entry_id_fkey FOREIGN KEY (entry_id, org_id)
        REFERENCES payments.entries (id, org_id)
);
CREATE INDEX escrow_transitions_escrow ON payments.escrow_transitions (escrow_id, id);
CREATE TRIGGER escrow_transitions_no_update BEFORE UPDATE OR DELETE ON payments.escrow_transitions
    FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

CREATE TABLE payments.card_payments (
    id text NOT NULL,
    -- Declared, NOT ENFORCED: implied by card_payments_escrow_id_fkey (the payment's
    -- (escrow_id, org_id) is an escrow's, whose organization escrows_org_id_fkey holds;
    -- organizations are never deleted, nor their ids changed): an enforced key here ran one
    -- more check, with its row lock, for every payment.
    org_id uuid NOT NULL
        CONSTRAINT card_payments_org_id_fkey REFERENCES payments.organizations (id) NOT ENFORCED,
    escrow_id uuid NOT NULL,
    charge_id text,
    balance_transaction_id text,
    currency text NOT NULL,
    gross payments.escrow_gross NOT NULL,
    platform_fee payments.escrow_sum NOT NULL,
    stripe_fee payments.escrow_sum NOT NULL,
    bears_stripe_fees boolean NOT NULL,
    refund_platform_fee boolean NOT NULL,
    refunded payments.escrow_sum NOT NULL DEFAULT 0,
    entry_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT card_payments_refunds_within_gross CHECK (refunded <= gross),
    CONSTRAINT card_payments_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT card_payments_escrow_id_fkey FOREIGN KEY (escrow_id, org_id)
        REFERENCES payments.escrows (id, org_id),
    CONSTRAINT card_payments_entry_id_fkey FOREIGN KEY (entry_id, org_id)
        REFERENCES payments.entries (id, org_id)
);
CREATE INDEX card_payments_charge ON payments.card_payments (charge_id);

CREATE TABLE payments.card_refunds (
    id text NOT NULL,
    payment_id text NOT NULL,
    org_id uuid NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    fee_back bigint NOT NULL CHECK (fee_back >= 0),
    charged_to text NOT NULL CHECK (charged_to IN ('escrow', 'receivable')),
    failed boolean NOT NULL DEFAULT false,
    entry_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT card_refunds_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT card_refunds_payment_id_fkey FOREIGN KEY (payment_id, org_id)
        REFERENCES payments.card_payments (id, org_id),
    CONSTRAINT card_refunds_entry_id_fkey FOREIGN KEY (entry_id, org_id)
        REFERENCES payments.entries (id, org_id)
);

CREATE TABLE payments.card_disputes (
    id text NOT NULL,
    payment_id text NOT NULL,
    org_id uuid NOT NULL,
    escrow_id uuid NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    withdrawn boolean NOT NULL DEFAULT false,
    reinstated boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT card_disputes_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT card_disputes_payment_id_fkey FOREIGN KEY (payment_id, org_id)
        REFERENCES payments.card_payments (id, org_id),
    CONSTRAINT card_disputes_escrow_id_fkey FOREIGN KEY (escrow_id, org_id)
        REFERENCES payments.escrows (id, org_id)
);

CREATE TABLE payments.organizer_transfers (
    id text NOT NULL,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    escrow_id uuid,
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    reversed bigint NOT NULL DEFAULT 0 CHECK (reversed >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The ledger settlement that closed what the transfer paid (payments_settlements.sql,
    -- loaded before this file): set once, with the transfer request it answers.
    settlement_id uuid,
    CONSTRAINT organizer_transfers_reversal_within_amount CHECK (reversed <= amount),
    CONSTRAINT organizer_transfers_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT organizer_transfers_escrow_id_fkey FOREIGN KEY (escrow_id, org_id)
        REFERENCES payments.escrows (id, org_id),
    CONSTRAINT organizer_transfers_settlement_id_fkey FOREIGN KEY (settlement_id, org_id)
        REFERENCES payments.settlements (id, org_id)
);

CREATE TABLE payments.platform_payouts (
    id text PRIMARY KEY,
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    paid boolean NOT NULL DEFAULT false,
    failed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizer_policies', 'escrows', 'escrow_transitions',
                             'card_payments', 'card_refunds', 'card_disputes',
                             'organizer_transfers']
    LOOP
        EXECUTE format('ALTER TABLE payments.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON payments.%I TO liventix_app
                        USING (org_id = (SELECT payments.current_org_id()))
                        WITH CHECK (org_id = (SELECT payments.current_org_id()))', t);
        EXECUTE format('CREATE POLICY platform ON payments.%I TO liventix_platform
                        USING ((SELECT payments.acting_as_platform()))
                        WITH CHECK ((SELECT payments.acting_as_platform()))', t);
        EXECUTE format('GRANT SELECT ON payments.%I TO liventix_app', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON payments.%I TO liventix_platform', t);
    END LOOP;
END
$$;
ALTER TABLE payments.platform_payouts ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform ON payments.platform_payouts TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));
GRANT SELECT, INSERT, UPDATE ON payments.platform_payouts TO liventix_platform;

-- transfer_requests: each transfer escrow asks Stripe for (the outbox task
--    `stripe.transfer.requested`: the request's id is the task's message id, the idempotency
--    key Stripe gets), with what it pays, fixed when it is asked: the release's transfer pays
--    the escrow account's entries (entry_id: the release, which it does not cover); any other
--    pays one entry on the organizer's payable (a payment captured after the release, funded
--    by its charge: source_transaction; a failed refund's return). transfer_id links Stripe's
--    transfer once it is known (from the task's answer, or from Stripe's event naming the
--    request, its charge, or unambiguously its escrow), once: what a transfer settles is read
--    from here, never guessed from its amount.

CREATE TABLE payments.transfer_requests (
    id uuid NOT NULL,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    escrow_id uuid NOT NULL,
    key text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('release', 'capture', 'refund_failed')),
    entry_id uuid NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    source_transaction text,
    transfer_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    linked_at timestamptz,
    CONSTRAINT transfer_requests_escrow_key UNIQUE (escrow_id, key, org_id),
    CONSTRAINT transfer_requests_linked CHECK ((transfer_id IS NULL) = (linked_at IS NULL)),
    CONSTRAINT transfer_requests_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT transfer_requests_escrow_id_fkey FOREIGN KEY (escrow_id, org_id)
        REFERENCES payments.escrows (id, org_id),
    CONSTRAINT transfer_requests_entry_id_fkey FOREIGN KEY (entry_id, org_id)
        REFERENCES payments.entries (id, org_id),
    CONSTRAINT transfer_requests_transfer_id_key UNIQUE (transfer_id, org_id),
    CONSTRAINT transfer_requests_transfer_id_fkey FOREIGN KEY (transfer_id, org_id)
        REFERENCES payments.organizer_transfers (id, org_id)
);
-- One charge funds at most one transfer (a payment is captured once; a charge is one
-- organization's).
CREATE UNIQUE INDEX transfer_requests_charge
    ON payments.transfer_requests (source_transaction, org_id) WHERE source_transaction IS NOT NULL;
CREATE INDEX transfer_requests_open ON payments.transfer_requests (escrow_id)
    WHERE transfer_id IS NULL;

ALTER TABLE payments.transfer_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.transfer_requests TO liventix_app
    USING (org_id = (SELECT payments.current_org_id()))
    WITH CHECK (org_id = (SELECT payments.current_org_id()));
CREATE POLICY platform ON payments.transfer_requests TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));
GRANT SELECT ON payments.transfer_requests TO liventix_app;
GRANT SELECT, INSERT, UPDATE ON payments.transfer_requests TO liventix_platform;

-- transfer_reversal_requests: what escrow asked Stripe to reverse of a transfer to recover
--    what an organizer owes after release, one row per (cause, transfer), until Stripe's
--    reversal is booked (reversal_id). What is asked and not yet booked is not netted again.
--    Just before its task calls Stripe the request is confirmed (sent_at): shrunk to what is
--    still owed, or canceled (canceled_at) when the debt was settled meanwhile (a reversal
--    made in Stripe's Dashboard, say); once sent, its amount never changes.

CREATE TABLE payments.transfer_reversal_requests (
    id text NOT NULL,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    transfer_id text NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    reversal_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    booked_at timestamptz,
    sent_at timestamptz,
    canceled_at timestamptz,
    CONSTRAINT transfer_reversal_requests_booked CHECK ((reversal_id IS NULL) = (booked_at IS NULL)),
    CONSTRAINT transfer_reversal_requests_canceled CHECK (
        canceled_at IS NULL OR (reversal_id IS NULL AND sent_at IS NULL)),
    CONSTRAINT transfer_reversal_requests_pkey PRIMARY KEY (id, org_id),
    CONSTRAINT transfer_reversal_requests_transfer_id_fkey FOREIGN KEY (transfer_id, org_id)
        REFERENCES payments.organizer_transfers (id, org_id),
    CONSTRAINT transfer_reversal_requests_reversal_id_key UNIQUE (reversal_id, org_id)
);
CREATE INDEX transfer_reversal_requests_open
    ON payments.transfer_reversal_requests (org_id, currency)
    WHERE reversal_id IS NULL AND canceled_at IS NULL;

ALTER TABLE payments.transfer_reversal_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.transfer_reversal_requests TO liventix_app
    USING (org_id = (SELECT payments.current_org_id()))
    WITH CHECK (org_id = (SELECT payments.current_org_id()));
CREATE POLICY platform ON payments.transfer_reversal_requests TO liventix_platform
    USING ((SELECT payments.acting_as_platform())) WITH CHECK ((SELECT payments.acting_as_platform()));
GRANT SELECT ON payments.transfer_reversal_requests TO liventix_app;
GRANT SELECT, INSERT, UPDATE ON payments.transfer_reversal_requests TO liventix_platform;

-- A card payment's usual capture in one call (escrow.payments.capture_call builds it; the
-- payment's statement, ticketing_fsm.store.paying, sends it with the order's payment and
-- its tickets' issue in one round trip). Python decided everything before: the fee, the
-- share and the entry's lines under the organizer's terms as it last read them
-- (p_bps..p_policy_stored: a stored row with these values, or none and the defaults), the
-- states in which the machine's capture leaves the escrow where it is (p_states), and the
-- ledger door's arguments (the key, the request's hash, the lines). Here the escrow is
-- locked (first, as every escrow use case locks it before the ledger locks accounts) and
-- those facts are checked on the locked row; any other case writes nothing and answers why,
-- for the caller to decide the long way: 'long' (no escrow yet, or the escrow in a state
-- the machine's capture moves or refuses), 'booked' (the payment was captured before: a
-- duplicate), 'stale' (the organizer's terms changed since they were read, or an account's
-- id is not the organization's any more). Then the entry
-- is posted through the ledger's door (payments.post_entry: a refusal answers 'failed' with
-- its code and details and writes nothing else; a replay, booked by a transaction that
-- committed while this one waited for the escrow, answers 'replayed'), and the escrow's
-- counters, its audit row and the payment's record are written: 'captured'. Every
-- statement names the organization (p_org); the platform's accounts are the door's to read.
-- Run with the caller's rights (row-level security as for the statements it replaces).
CREATE FUNCTION payments.capture_card_payment(
    p_org uuid, p_event text, p_currency text, p_states text[],
    p_bps int, p_fixed bigint, p_bears boolean, p_refund_fee boolean, p_policy_stored boolean,
    p_payment text, p_charge text, p_txn text, p_gross bigint, p_fee bigint,
    p_stripe_fee bigint, p_share bigint, p_cause text,
    p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[],
    p_currencies text[], p_description text, p_external_ref text,
    p_organizer_accounts uuid[], p_platform_accounts uuid[])
RETURNS TABLE (capture_outcome text, capture_entry uuid, refusal_code text,
               refusal_details jsonb)
-- One row, always (ROWS 1): the planner's default guess for a set-returning function, 1,000
-- rows, made the generic plan of ticketing's payment statement (which holds this call) look
-- dearer than a custom one, so PostgreSQL planned that statement again at every payment
-- (~650 us of the backend's CPU per payment, 12 % of a checkout's; pg_stat_statements:
-- plans = calls). With one row the generic plan is cheaper and kept.
LANGUAGE plpgsql VOLATILE ROWS 1 AS $$
DECLARE
    v_escrow uuid;
    v_state text;
    v_status text;
    v_entry uuid;
    v_replayed boolean;
    v_code text;
    v_details jsonb;
BEGIN
    -- The escrow locked, and the facts checked on it, in one statement (session 32: each
    -- answer was a RETURN QUERY, one more executor start each): the payment not booked, the
    -- escrow in a state the capture leaves as it is, the organizer's terms as read; any other
    -- case answered at once ('booked', 'long', 'stale').
    SELECT e.id, e.state,
           CASE WHEN EXISTS (SELECT 1 FROM payments.card_payments c
                              WHERE c.id = p_payment AND c.org_id = p_org) THEN 'booked'
                WHEN NOT (e.state = ANY (p_states)) THEN 'long'
                WHEN NOT CASE WHEN p_policy_stored
                              THEN EXISTS (SELECT 1 FROM payments.organizer_policies pol
                                            WHERE pol.org_id = p_org
                                              AND pol.platform_fee_bps = p_bps
                                              AND pol.platform_fee_fixed = p_fixed
                                              AND pol.bears_stripe_fees = p_bears
                                              AND pol.refund_platform_fee = p_refund_fee)
                              ELSE NOT EXISTS (SELECT 1 FROM payments.organizer_policies pol
                                                WHERE pol.org_id = p_org) END
                THEN 'stale' END
      INTO v_escrow, v_state, v_status
      FROM payments.escrows e
     WHERE e.org_id = p_org AND e.event_id = p_event AND e.currency = p_currency
       FOR UPDATE OF e;
    IF v_status IS NOT NULL OR v_escrow IS NULL THEN
        capture_outcome := coalesce(v_status, 'long');
        RETURN NEXT;
        RETURN;
    END IF;
    -- The usual entry (the escrow, the organizer's one account, beside the platform's
    -- high-volume ones) by the ledger's writer for it: its id, or NULL having written nothing
    -- (payments_engine.sql). It posts only when each account is found as its organization's
    -- (the organizer's, the platform's), so the accounts' ids are the ones read.
    v_entry := payments.post_capture_entry(p_org, p_key, p_hash, p_accounts, p_sides,
                                           p_amounts, p_currencies, p_description,
                                           p_external_ref, p_organizer_accounts[1],
                                           p_platform_accounts);
    IF v_entry IS NULL THEN
        -- Anything else, through the ledger's door, once the accounts' ids are the ones read
        -- (an account's id never changes for its organization and code; rows deleted and
        -- made again, as a test's emptied database does, would change them): the
        -- organizer's, then the platform's, each read with its own organization. A request
        -- whose ids are the ones the long way would read is the very request it would post,
        -- so a refusal the door records under the key is the one the long way finds there.
        IF NOT ((SELECT count(*) FROM payments.accounts a
                  WHERE a.org_id = p_org AND a.id = ANY (p_organizer_accounts))
                = cardinality(p_organizer_accounts)
                AND (SELECT count(*) FROM payments.accounts a
                      WHERE a.org_id = (SELECT o.id FROM payments.organizations o
                                         WHERE o.is_platform)
                        AND a.id = ANY (p_platform_accounts))
                    = cardinality(p_platform_accounts)) THEN
            capture_outcome := 'stale';
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT d.status, d.id, d.replayed, d.code, d.details
          INTO v_status, v_entry, v_replayed, v_code, v_details
          FROM payments.post_entry(p_org, p_key, p_hash, p_accounts, p_sides, p_amounts,
                                   p_currencies, p_description, NULL, NULL, p_external_ref) d;
        IF v_status = 'failed' THEN
            capture_outcome := 'failed';
            refusal_code := v_code;
            refusal_details := v_details;
            RETURN NEXT;
            RETURN;
        END IF;
        IF v_replayed THEN
            capture_outcome := 'replayed';
            capture_entry := v_entry;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    -- The counters, the audit row and the payment's record in one statement.
    WITH moved AS (
        UPDATE payments.escrows e
           SET captured = e.captured + p_gross, held = e.held + p_share,
               version = e.version + 1, updated_at = now()
         WHERE e.id = v_escrow AND e.org_id = p_org
        RETURNING e.id
    ), audit AS (
        INSERT INTO payments.escrow_transitions
            (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
        SELECT moved.id, p_org, v_state, v_state, 'capture', p_cause, v_entry FROM moved
    )
    INSERT INTO payments.card_payments
        (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
         platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
    SELECT p_payment, p_org, moved.id, p_charge, p_txn, p_currency, p_gross, p_fee,
           p_stripe_fee, p_bears, p_refund_fee, v_entry
      FROM moved;
    capture_outcome := 'captured';
    capture_entry := v_entry;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION payments.capture_card_payment(uuid, text, text, text[], int, bigint,
    boolean, boolean, boolean, text, text, text, bigint, bigint, bigint, bigint, text, text,
    text, uuid[], text[], bigint[], text[], text, text, uuid[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.capture_card_payment(uuid, text, text, text[], int, bigint,
    boolean, boolean, boolean, text, text, text, bigint, bigint, bigint, bigint, text, text,
    text, uuid[], text[], bigint[], text[], text, text, uuid[], uuid[])
    TO liventix_platform;
