"""Escrow: money held for an order between payment and payout, refund or dispute.

Will own the escrow lifecycle (held, released, refunded, disputed) in the `payments` schema:
each transition posts its entries through the ledger's public API and writes its outbox
messages on the caller's transaction, so that held = released + refunded + still held.
"""

from __future__ import annotations
