"""The one-round-trip calls on a connection of an engine's pool, taken without a SQLAlchemy
`Connection` around it (`store.checkout.open_and_hold_alone`, `pgdriver.call_alone`), fail
as `engine.begin()` fails: a refused connect is `sqlalchemy.exc.OperationalError` (which
`liventix.retrying.is_lost_connection` and the API's failure translation understand), not
the driver's own error. And they leave an engine carrying connection characteristics (an
isolation level) to the usual unit of work, which applies them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import pgdriver
import ticketing_fsm as tk
from liventix.retrying import is_lost_connection
from tests.ticketing_core.support import Gateway, open_world, request
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


def test_an_engine_with_an_isolation_level_holds_in_the_usual_unit_of_work(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`engine.execution_options(isolation_level=...)` applies to a `Connection`, not to a
    raw connection of the pool: the one-round-trip hold declines (None, nothing sent), and
    the checkout's hold runs in the usual unit of work, at the engine's isolation level;
    `pgdriver.call_alone` declines (TypeError: the caller's usual way)."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    seen: list[str] = []
    opening = store.begin_with_opening

    def begin_with_opening(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
        sent = opening(conn, *args, **kwargs)
        seen.append(conn.exec_driver_sql("SHOW transaction_isolation").scalar_one())
        return sent

    monkeypatch.setattr(store, "begin_with_opening", begin_with_opening)
    checkout = tk.start_checkout(serializable, Gateway(), request(world, "isolated", (2,)))
    assert seen == ["serializable"]
    with engine.begin() as conn:
        assert store.recorded(conn, checkout.order_id).status == "awaiting_payment"
    with pytest.raises(TypeError):
        pgdriver.call_alone(serializable, "nothing", "SELECT 1", [])
    # The plain engine still holds in one round trip, the usual unit of work not opened.
    tk.start_checkout(engine, Gateway(), request(world, "plain", (1,)))
    assert seen == ["serializable"]
