-- Escrow (schema payments): organizer policies, one escrow per organizer, event and currency,
-- its audit trail of transitions, and what Stripe told us about payments, refunds, disputes,
-- transfers and payouts (so events can arrive in any order, any number of times).

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
    state text NOT NULL DEFAULT 'collecting' CHECK (state IN (
        'collecting', 'holding', 'releasable', 'release_requested', 'released', 'frozen',
        'cancelled')),
    event_ends_at timestamptz NOT NULL,
    ended_at timestamptz,
    hold_until timestamptz,
    open_disputes int NOT NULL DEFAULT 0 CHECK (open_disputes >= 0),
    -- Gross amounts captured, refunded and charged back; the organizer's share held now (the
    -- escrow account's balance, negative when refunds took more than the event's share) and
    -- what was released to the payable.
    captured bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
    refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    charged_back bigint NOT NULL DEFAULT 0 CHECK (charged_back >= 0),
    held bigint NOT NULL DEFAULT 0,
    released bigint NOT NULL DEFAULT 0 CHECK (released >= 0),
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
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    escrow_id uuid NOT NULL,
    charge_id text,
    balance_transaction_id text,
    currency text NOT NULL,
    gross bigint NOT NULL CHECK (gross > 0),
    platform_fee bigint NOT NULL CHECK (platform_fee >= 0),
    stripe_fee bigint NOT NULL CHECK (stripe_fee >= 0),
    bears_stripe_fees boolean NOT NULL,
    refund_platform_fee boolean NOT NULL,
    refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
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
