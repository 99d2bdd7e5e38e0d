-- Transfers and reversals as Stripe Connect expects (0007).
--
-- transfer_reversal_requests: what escrow asked Stripe to reverse of a transfer to recover
--    what an organizer owes after release, one row per (cause, transfer), until Stripe's
--    reversal is booked (reversal_id). What is asked and not yet booked is not netted again.

CREATE TABLE payments.transfer_reversal_requests (
    id text PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES payments.organizations (id),
    transfer_id text NOT NULL REFERENCES payments.organizer_transfers (id),
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    reversal_id text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    booked_at timestamptz,
    CONSTRAINT transfer_reversal_requests_booked CHECK ((reversal_id IS NULL) = (booked_at IS NULL))
);
CREATE INDEX transfer_reversal_requests_open
    ON payments.transfer_reversal_requests (org_id, currency) WHERE reversal_id IS NULL;

ALTER TABLE payments.transfer_reversal_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON payments.transfer_reversal_requests TO liventix_app
    USING (org_id = payments.current_org_id()) WITH CHECK (org_id = payments.current_org_id());
CREATE POLICY platform ON payments.transfer_reversal_requests TO liventix_platform
    USING (true) WITH CHECK (true);
GRANT SELECT ON payments.transfer_reversal_requests TO liventix_app;
GRANT SELECT, INSERT, UPDATE ON payments.transfer_reversal_requests TO liventix_platform;
