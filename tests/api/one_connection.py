"""The API served (uvicorn in a thread) on a database of its own whose engine has ONE pooled
connection, so that a test can look at what the requests left on their session (prepared
statements) from that engine: for the tests of prepared statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

import ledger
import outbox
from liventix.api import create_app
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StripeStandIn
from liventix.wiring import wire
from tests.api.support import PLATFORM, WEBHOOK_SECRET, new_org, uvicorn_thread


@dataclass(frozen=True)
class OneConnectionApi:
    """The API's URL, an organization's key, the API's engine (one connection)."""

    url: str
    key: str
    engine: sa.Engine


@contextmanager
def api_on_one_connection(pg_server_url: str, template_db: str) -> Iterator[OneConnectionApi]:
    """The API on a database cloned from the template, Stripe the stand-in."""
    name = f"one_connection_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    url = database_url(pg_server_url, name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    stand_in = StripeStandIn().start()
    gateway = StripeGateway(StripeSettings(api_base=stand_in.url, max_network_retries=0))
    wire(engine, gateway, outbox.InboxHandlers())
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    _org, key = new_org(engine, "Arena")
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with uvicorn_thread(app) as api:
            yield OneConnectionApi(api, key, engine)
    finally:
        stand_in.close()
        engine.dispose()
        drop_database(pg_server_url, name)


def prepared_statements(engine: sa.Engine) -> dict[str, tuple[str, int]]:
    """The session's prepared statements on the engine's (one) connection: name -> (text,
    times run)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements"
        ).all()
        conn.commit()  # a rollback would make psycopg deallocate its own statements
    return {r[0]: (r[1], int(r[2])) for r in rows}
