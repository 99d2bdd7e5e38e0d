"""The escrow's own rows in escrow's store: `payments.escrows` (locked, read, opened, moved
by compare-and-set), their audit trail `payments.escrow_transitions`, and the organizers'
terms `payments.organizer_policies`; the capture's two statements on the driver cursor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

import ledger
from escrow import recipes
from escrow.decisions import policy_of
from escrow.errors import EscrowNotFound
from escrow.models import ESCROW_FIELDS, CapturedPayment, Escrow, Policy, escrow_of
from pgdriver import fetch

_COLUMNS = ", ".join(ESCROW_FIELDS)

_LOCK = text(f"SELECT {_COLUMNS} FROM payments.escrows WHERE id = :id FOR UPDATE")
_GET = text(f"SELECT {_COLUMNS} FROM payments.escrows WHERE id = :id")
_TRANSITIONS = text("""
    SELECT from_state, to_state, event, cause, entry_id, created_at
      FROM payments.escrow_transitions WHERE escrow_id = :id ORDER BY id""")
_OPEN = text("""
    INSERT INTO payments.escrows (org_id, event_id, currency, event_ends_at)
    VALUES (:org, :event, :currency, :ends)
    ON CONFLICT ON CONSTRAINT escrows_one_per_event DO NOTHING""")
_ID_FOR_EVENT = text("""
    SELECT id FROM payments.escrows
     WHERE org_id = :org AND event_id = :event AND currency = :currency""")
_AUDIT = text("""
    INSERT INTO payments.escrow_transitions
        (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
    VALUES (:id, :org, :from, :to, :event, :cause, :entry)""")
_DUE = text("""
    SELECT id FROM payments.escrows
     WHERE (state = 'collecting' AND event_ends_at <= now())
        OR (state = 'holding' AND hold_until <= now() AND open_disputes = 0)
        OR state = 'releasable'
     ORDER BY event_ends_at, id
     LIMIT :limit
       FOR UPDATE SKIP LOCKED""")
_NOW = text("SELECT now()")

_SET_POLICY = text("""
    INSERT INTO payments.organizer_policies
        (org_id, platform_fee_bps, platform_fee_fixed, bears_stripe_fees,
         refund_platform_fee, hold_period, connected_account, payout_email)
    VALUES (:org, :bps, :fixed, :bears, :refund_fee, :hold, :account, :email)
    ON CONFLICT (org_id) DO UPDATE SET
        platform_fee_bps = EXCLUDED.platform_fee_bps,
        platform_fee_fixed = EXCLUDED.platform_fee_fixed,
        bears_stripe_fees = EXCLUDED.bears_stripe_fees,
        refund_platform_fee = EXCLUDED.refund_platform_fee,
        hold_period = EXCLUDED.hold_period,
        connected_account = EXCLUDED.connected_account,
        payout_email = EXCLUDED.payout_email""")
_GET_POLICY = text("""
    SELECT platform_fee_bps, platform_fee_fixed, bears_stripe_fees,
           refund_platform_fee, hold_period, connected_account, payout_email
      FROM payments.organizer_policies WHERE org_id = :org""")


# What a capture decides on, in one round trip (on the driver cursor): the escrow (locked
# first, as every escrow use case locks it before the ledger locks accounts, so none waits
# for another in a cycle), the organizer's policy, whether the payment was booked, and the
# ids of the organizer's chart accounts the capture may post to (NULL if not open; a
# platform account's slot is NULL here). One (order, owner, code) row per chart account:
# scalar parameters, cheaper for the driver to send than arrays of text. Every table is read
# for the one organization (issue 19 part 4): the platform's accounts are read by a statement
# of their own (`_PLATFORM_ACCOUNTS`), with the platform's id, once per connection.
# The ids come from the ledger's public face as SQL expressions (ledger.account_id_sql,
# ledger.platform_org_sql), so reading them stays in the same round trip.
_SLOTS = ", ".join(
    f"({n}, %(owner_{n})s, %(code_{n})s)"
    for n in range(len(recipes.capture_accounts("event", "USD")))
)
_ORGANIZER_ACCOUNT = ledger.account_id_sql("e.org_id", "u.code")
_CAPTURE_FACTS = f"""
    SELECT {", ".join(f"e.{name}" for name in ESCROW_FIELDS)},
           pol.org_id IS NOT NULL AS policy_stored,
           pol.platform_fee_bps, pol.platform_fee_fixed, pol.bears_stripe_fees,
           pol.refund_platform_fee,
           EXISTS (SELECT 1 FROM payments.card_payments c
                    WHERE c.id = %(payment)s AND c.org_id = %(org)s) AS booked,
           ARRAY(SELECT CASE u.owner WHEN 'organizer' THEN {_ORGANIZER_ACCOUNT} END
                   FROM (VALUES {_SLOTS}) AS u(n, owner, code)
                  ORDER BY u.n) AS accounts
      FROM payments.escrows e
      LEFT JOIN payments.organizer_policies pol ON pol.org_id = %(org)s
     WHERE e.org_id = %(org)s AND e.event_id = %(event)s AND e.currency = %(currency)s
       FOR UPDATE OF e"""
_PLATFORM_ACCOUNTS = f"""
    SELECT ARRAY(SELECT {ledger.account_id_sql(ledger.platform_org_sql(), "u.code")}
                   FROM unnest(%(codes)s::text[]) WITH ORDINALITY AS u(code, n)
                  ORDER BY u.n) AS accounts"""

# A capture decided in Python as one call of `payments.capture_card_payment` (escrow.sql),
# for another package's statement to hold in the same round trip (its parameters named
# `capture_*`, psycopg's placeholders): one row, (capture_outcome, capture_entry,
# refusal_code, refusal_details).
_CAPTURE_ARGS = (
    ("org", "uuid"),
    ("event", "text"),
    ("currency", "text"),
    ("states", "text[]"),
    ("bps", "int"),
    ("fixed", "bigint"),
    ("bears", "boolean"),
    ("refund_fee", "boolean"),
    ("policy_stored", "boolean"),
    ("payment", "text"),
    ("charge", "text"),
    ("txn", "text"),
    ("gross", "bigint"),
    ("fee", "bigint"),
    ("stripe_fee", "bigint"),
    ("share", "bigint"),
    ("cause", "text"),
    ("key", "text"),
    ("hash", "text"),
    ("accounts", "uuid[]"),
    ("sides", "text[]"),
    ("amounts", "bigint[]"),
    ("currencies", "text[]"),
    ("description", "text"),
    ("external_ref", "text"),
    ("organizer_accounts", "uuid[]"),
    ("platform_accounts", "uuid[]"),
)
CAPTURE_CALL = (
    "payments.capture_card_payment("
    + ", ".join(f"%(capture_{name})s::{kind}" for name, kind in _CAPTURE_ARGS)
    + ")"
)
CAPTURE_ARGUMENTS = frozenset(name for name, _kind in _CAPTURE_ARGS)

# The capture's transition (compare-and-set on state and version, with the counters), its
# audit row and the payment's record, in one statement, once the entry is posted; the escrow
# named with its organization (issue 19 part 4).
_CAPTURED = """
    WITH moved AS (
        UPDATE payments.escrows
           SET captured = captured + %(gross)s, held = held + %(share)s, version = version + 1,
               updated_at = now()
         WHERE id = %(escrow)s AND org_id = %(org)s AND state = %(from)s AND version = %(version)s
        RETURNING id, org_id
    ), audit AS (
        INSERT INTO payments.escrow_transitions
            (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
        SELECT id, org_id, %(from)s, %(to)s, 'capture', %(cause)s, %(entry)s FROM moved
    ), recorded AS (
        INSERT INTO payments.card_payments
            (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
             platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
        SELECT %(payment)s, org_id, id, %(charge)s, %(txn)s, %(currency)s, %(gross)s,
               %(fee)s, %(stripe_fee)s, %(bears)s, %(refund_fee)s, %(entry)s
          FROM moved
    )
    SELECT count(*) AS moved FROM moved"""


# -- escrows -------------------------------------------------------------------------------


def lock_escrow(conn: Connection, escrow_id: uuid.UUID) -> Escrow:
    """The escrow, locked for the rest of the caller's transaction."""
    row = conn.execute(_LOCK, {"id": escrow_id}).first()
    if row is None:
        raise EscrowNotFound(escrow_id=str(escrow_id))
    return escrow_of(row)


def get_escrow(conn: Connection, escrow_id: uuid.UUID) -> Escrow:
    """The escrow as it is now."""
    row = conn.execute(_GET, {"id": escrow_id}).first()
    if row is None:
        raise EscrowNotFound(escrow_id=str(escrow_id))
    return escrow_of(row)


def transitions(conn: Connection, escrow_id: uuid.UUID) -> list[dict[str, Any]]:
    """The escrow's audit trail, oldest first."""
    return [r._asdict() for r in conn.execute(_TRANSITIONS, {"id": escrow_id}).all()]


def open_escrow_row(
    conn: Connection, org_id: uuid.UUID, event_id: str, currency: str, event_ends_at: datetime
) -> uuid.UUID:
    """The id of the escrow of this organizer, event and currency, inserted if missing."""
    keys = {"org": org_id, "event": event_id, "currency": currency}
    conn.execute(_OPEN, {**keys, "ends": event_ends_at})
    escrow_id: uuid.UUID = conn.execute(_ID_FOR_EVENT, keys).scalar_one()
    return escrow_id


def move_escrow(
    conn: Connection, escrow: Escrow, target: str, changes: Mapping[str, Any]
) -> Escrow | None:
    """Compare-and-set the escrow to `target` with `changes` (column values); None if its
    state or version is no longer `escrow`'s."""
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    row = conn.execute(
        text(f"""UPDATE payments.escrows
                    SET state = :to, version = version + 1, updated_at = now()
                        {"," if assignments else ""} {assignments}
                  WHERE id = :id AND state = :from AND version = :version
              RETURNING {_COLUMNS}"""),
        {**changes, "to": target, "id": escrow.id, "from": escrow.state, "version": escrow.version},
    ).first()
    return None if row is None else escrow_of(row)


def add_to_escrow(conn: Connection, escrow_id: uuid.UUID, deltas: Mapping[str, int]) -> None:
    """Add `deltas` to the escrow's counters (no compare-and-set: the caller holds its lock)."""
    sets = ", ".join(f"{k} = {k} + :{k}" for k in deltas)
    conn.execute(
        text(f"UPDATE payments.escrows SET {sets}, updated_at = now() WHERE id = :id"),
        {**deltas, "id": escrow_id},
    )


def audit(
    conn: Connection,
    escrow: Escrow,
    to_state: str,
    event: str,
    *,
    cause: str | None,
    entry_id: uuid.UUID | None = None,
) -> None:
    """The audit row of an event on the escrow (from its state to `to_state`)."""
    conn.execute(
        _AUDIT,
        {
            "id": escrow.id,
            "org": escrow.org_id,
            "from": escrow.state,
            "to": to_state,
            "event": event,
            "cause": cause,
            "entry": entry_id,
        },
    )


def due_escrows(conn: Connection, limit: int) -> Sequence[uuid.UUID]:
    """Escrows that have become due a step (locked; those others lock are skipped)."""
    return conn.execute(_DUE, {"limit": limit}).scalars().all()


def now(conn: Connection) -> datetime:
    """The database's time (the transaction's start)."""
    moment: datetime = conn.execute(_NOW).scalar_one()
    return moment


# -- organizers' terms ---------------------------------------------------------------------


def set_policy(conn: Connection, org_id: uuid.UUID, policy: Policy) -> None:
    """Set (or replace) an organizer's terms."""
    conn.execute(
        _SET_POLICY,
        {
            "org": org_id,
            "bps": policy.platform_fee_bps,
            "fixed": policy.platform_fee_fixed,
            "bears": policy.bears_stripe_fees,
            "refund_fee": policy.refund_platform_fee,
            "hold": policy.hold_period,
            "account": policy.connected_account,
            "email": policy.payout_email,
        },
    )


def get_policy(conn: Connection, org_id: uuid.UUID) -> Policy:
    """The organizer's terms (the defaults when none were set)."""
    row = conn.execute(_GET_POLICY, {"org": org_id}).first()
    return Policy(**row._asdict()) if row is not None else Policy()


# -- the capture's two statements ----------------------------------------------------------


@dataclass(frozen=True)
class CaptureFacts:
    """What a capture decides on: the escrow (locked), the organizer's terms (and whether
    they are stored, or the defaults), whether the payment was booked, and the ids of the
    chart accounts that are open, by (owner, code)."""

    escrow: Escrow
    policy: Policy
    booked: bool
    accounts: dict[tuple[recipes.Owner, str], uuid.UUID]
    policy_stored: bool = False


_KNOWN = "escrow.capture_facts"
"""The key, in the pooled connection's `info` (kept for the life of the driver connection,
so for one database), of what the captures on it last read: per (organization, event,
currency), the organizer's terms and the chart accounts' ids (the organizer's and the
platform's). The capture's call checks both on the locked rows
(`payments.capture_card_payment`: 'stale' when the terms changed or an id is not its
organization's any more)."""

KnownFacts = tuple[Policy, bool, dict[tuple[recipes.Owner, str], uuid.UUID]]


def _known(conn: Connection) -> dict[Any, Any]:
    info: dict[Any, Any] = conn.connection.info
    found: dict[Any, Any] | None = info.get(_KNOWN)
    if found is None:
        found = info[_KNOWN] = {}
    return found


def known_capture_facts(conn: Connection, payment: CapturedPayment) -> KnownFacts | None:
    """The organizer's terms (and whether stored) and the chart accounts' ids a capture of
    this organization, event and currency read last on this connection; None if none did."""
    found: KnownFacts | None = _known(conn).get(
        (payment.org_id, payment.event_id, payment.currency)
    )
    return found


def forget_capture_facts(conn: Connection, payment: CapturedPayment) -> None:
    """Forget what `known_capture_facts` gives for the payment's escrow (its terms changed)."""
    _known(conn).pop((payment.org_id, payment.event_id, payment.currency), None)


def _platform_accounts(conn: Connection, codes: Sequence[str]) -> dict[str, uuid.UUID | None]:
    """The platform's accounts of these codes (None: not open), read with the platform's
    organization by a statement of their own."""
    (row,) = fetch(conn, _PLATFORM_ACCOUNTS, {"codes": list(codes)})
    return dict(zip(codes, row.accounts, strict=True))


def capture_facts(
    conn: Connection, payment: CapturedPayment, specs: Sequence[recipes.AccountSpec]
) -> CaptureFacts | None:
    """The facts of a capture into the event's escrow, locked; None if it has none yet.
    What they say of the terms and accounts is remembered on the connection
    (`known_capture_facts`)."""
    found = fetch(
        conn,
        _CAPTURE_FACTS,
        {
            "org": payment.org_id,
            "event": payment.event_id,
            "currency": payment.currency,
            "payment": payment.payment_id,
            **{f"owner_{n}": spec.owner for n, spec in enumerate(specs)},
            **{f"code_{n}": spec.code for n, spec in enumerate(specs)},
        },
    )
    if not found:
        return None
    row = found[0]
    policy = policy_of(
        row.platform_fee_bps,
        row.platform_fee_fixed,
        row.bears_stripe_fees,
        row.refund_platform_fee,
    )
    if row.booked:  # a duplicate: nothing is posted, no account is needed
        return CaptureFacts(escrow_of(row), policy, True, {}, bool(row.policy_stored))
    platform_codes = [spec.code for spec in specs if spec.owner == "platform"]
    platform = _platform_accounts(conn, platform_codes)
    accounts: dict[tuple[recipes.Owner, str], uuid.UUID] = {}
    for spec, account_id in zip(specs, row.accounts, strict=True):
        found_id = platform.get(spec.code) if spec.owner == "platform" else account_id
        if found_id is not None:
            accounts[(spec.owner, spec.code)] = found_id
    stored = bool(row.policy_stored)
    _known(conn)[(payment.org_id, payment.event_id, payment.currency)] = (
        policy,
        stored,
        accounts,
    )
    return CaptureFacts(escrow_of(row), policy, bool(row.booked), accounts, stored)


def record_capture(conn: Connection, params: Mapping[str, Any]) -> bool:
    """The capture's compare-and-set with its counters, audit row and the payment's record
    (`params`: `_CAPTURED`'s); False if the escrow had moved."""
    (done,) = fetch(conn, _CAPTURED, params)
    return bool(done.moved == 1)
