"""The pytest fixtures the ticketing test files share: `gateway` (the application's gateway on a
Stripe stand-in of its own) and `world` (an organizer's event with one ticket type of 6 seats
at 25.00). A file wanting another event or gateway defines its own `world` or `gateway`, which
pytest takes over these. The helpers that need no pytest live in `support.py` and
`cancels.py`, importable from spawned worker processes.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import Gateway, World, open_world


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def world(engine: sa.Engine) -> World:
    """An organizer's event with one ticket type of 6 seats at 25.00."""
    with engine.begin() as conn:
        return open_world(conn, capacities=(6,), prices=(2_500,))
