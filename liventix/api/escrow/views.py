"""From escrow's values to the escrow slice's response models."""

from __future__ import annotations

import escrow
from liventix.api.escrow import schemas as m
from liventix.api.schemas import amount


def escrow_(x: escrow.Escrow) -> m.EscrowResponse:
    """An escrow response."""
    c = x.currency
    return m.EscrowResponse(
        id=x.id,
        org_id=x.org_id,
        event_id=x.event_id,
        currency=c,
        state=x.state,
        event_ends_at=x.event_ends_at,
        ended_at=x.ended_at,
        hold_until=x.hold_until,
        open_disputes=x.open_disputes,
        captured=amount(x.captured, c),
        refunded=amount(x.refunded, c),
        charged_back=amount(x.charged_back, c),
        held=amount(x.held, c),
        released=amount(x.released, c),
        version=x.version,
    )
