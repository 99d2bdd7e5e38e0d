"""The one-round-trip calls on a connection of an engine's pool, taken without a SQLAlchemy
`Connection` around it (`store.checkout.open_and_hold_alone`, `pgdriver.call_alone`), fail
as `engine.begin()` fails: a refused connect is `sqlalchemy.exc.OperationalError` (which
`liventix.retrying.is_lost_connection` and the API's failure translation understand), not
the driver's own error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import pgdriver
from liventix.retrying import is_lost_connection
from ticketing_fsm.store import checkout as store


@pytest.fixture
def refused() -> Iterator[sa.Engine]:
    """An engine whose connects are refused (nothing listens on port 1)."""
    engine = sa.create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/nothing", connect_args={"connect_timeout": 5}
    )
    yield engine
    engine.dispose()


def _as_engine_begin_fails(engine: sa.Engine) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.OperationalError) as usual, engine.begin():
        pass
    return usual.value


def test_the_holds_refused_connect_is_sqlalchemys_operational_error(refused: sa.Engine) -> None:
    usual = _as_engine_begin_fails(refused)
    with pytest.raises(sa.exc.OperationalError) as error:
        store.open_and_hold_alone(refused, {})
    assert type(error.value) is type(usual)
    assert is_lost_connection(error.value) and is_lost_connection(usual)


def test_call_alones_refused_connect_is_sqlalchemys_operational_error(refused: sa.Engine) -> None:
    usual = _as_engine_begin_fails(refused)
    with pytest.raises(sa.exc.OperationalError) as error:
        pgdriver.call_alone(refused, "nothing", "SELECT 1", [])
    assert type(error.value) is type(usual)
    assert is_lost_connection(error.value)
