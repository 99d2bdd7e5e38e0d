"""The escapes of issue 13 (item 2), tried as a compromised application connection would:
a real LOGIN role, neither superuser nor exempt from row-level security, in the roles the
API's login role is granted in production (`liventix_app, liventix_platform`), connected
straight to the database with no API in between.

Organization B has an account, entries, a hold, an on-sale event with a paid order and
issued tickets, an escrow, a webhook endpoint (its secret shown once, at registration) and
deliveries. Each escape tried here used to work; each must now give nothing:
- setting `liventix.org_id` to B (by hand, or over A's proven key) reads none of B's rows,
  updates none (endpoint URL, tickets) and cannot post into B's ledger;
- the inbox and the API keys table cannot be read;
- no webhook secret is readable in plain text, by the role or by the owner reading the table;
- the platform's powers (reading every tenant, the ledger's sweeper) need the platform's key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import ledger
from liventix.api.keys import parse_token
from tests.api.support import Served, new_org, ok, post
from tests.api.test_tenancy import World, world  # noqa: F401  (the module's B and A)

# Tables holding B's rows, with the column naming their organization.
TENANT_TABLES = {
    "payments.organizations": "id",
    "payments.accounts": "org_id",
    "payments.entries": "org_id",
    "payments.lines": "org_id",
    "payments.holds": "org_id",
    "payments.escrows": "org_id",
    "payments.card_payments": "org_id",
    "messaging.endpoints": "org_id",
    "messaging.endpoint_secrets": "org_id",
    "messaging.messages": "org_id",
    "messaging.deliveries": "org_id",
    "ticketing.events": "org_id",
    "ticketing.orders": "org_id",
    "ticketing.tickets": "org_id",
}


@pytest.fixture(scope="module")
def attacker(served: Served) -> Iterator[sa.Engine]:
    """An engine logged in as a fresh login role with the production API role's grants."""
    name = f"liventix_api_{uuid.uuid4().hex[:10]}"
    url = make_url(str(served.engine.url))
    with served.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN IN ROLE liventix_app, liventix_platform')
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{url.database}" TO "{name}"')
    engine = sa.create_engine(url.set(username=name), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            me = conn.execute(
                sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
        assert tuple(me) == (False, False)
        yield engine
    finally:
        engine.dispose()
        with served.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')


def _count_of(conn: sa.Connection, table: str, org: uuid.UUID) -> int:
    column = TENANT_TABLES[table]
    return int(
        conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :org"), {"org": org}
        ).scalar_one()
    )


def _present(conn: sa.Connection, token: str) -> None:
    parsed = parse_token(token)
    assert parsed is not None
    found = conn.execute(
        sa.text("SELECT count(*) FROM payments.authenticate(:p, :s, NULL)"),
        {"p": parsed[0], "s": parsed[1]},
    ).scalar_one()
    assert found == 1


def _forge(conn: sa.Connection, org: uuid.UUID, role: str | None) -> None:
    if role is not None:
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
    conn.execute(sa.text("SELECT set_config('liventix.org_id', :o, true)"), {"o": str(org)})


def test_b_has_rows_of_every_kind(served: Served, world: World) -> None:  # noqa: F811
    """The control: the owner sees B's rows in every table the escapes try."""
    with served.engine.connect() as conn:
        for table in TENANT_TABLES:
            assert _count_of(conn, table, world.b_org) > 0, table


@pytest.mark.parametrize("role", [None, "liventix_app", "liventix_platform"])
def test_setting_the_organization_by_hand_reads_nothing(
    attacker: sa.Engine,
    world: World,  # noqa: F811
    role: str | None,
) -> None:
    with attacker.begin() as conn:
        _forge(conn, world.b_org, role)
        for table in TENANT_TABLES:
            if table == "messaging.endpoint_secrets":
                seen = conn.execute(
                    sa.text(f"SELECT count(id) FROM {table} WHERE org_id = :o"),
                    {"o": world.b_org},
                ).scalar_one()
            else:
                seen = _count_of(conn, table, world.b_org)
            assert seen == 0, table


def test_a_key_then_bs_id_reads_and_writes_nothing_of_b(
    served: Served,
    attacker: sa.Engine,
    world: World,  # noqa: F811
) -> None:
    """A's key proves A; setting B's id over it proves nobody."""
    _a_org, a_key = new_org(served.engine, "A again")
    with attacker.begin() as conn:
        _present(conn, a_key)
        conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
        conn.execute(
            sa.text("SELECT set_config('liventix.org_id', :o, true)"), {"o": str(world.b_org)}
        )
        for table in ("payments.entries", "ticketing.tickets", "messaging.endpoints"):
            assert _count_of(conn, table, world.b_org) == 0, table


def test_setting_the_organization_by_hand_changes_nothing_of_b(
    served: Served,
    attacker: sa.Engine,
    world: World,  # noqa: F811
) -> None:
    with served.engine.connect() as conn:
        url_before = conn.execute(
            sa.text("SELECT url FROM messaging.endpoints WHERE id = :id"),
            {"id": world.ids["endpoint"]},
        ).scalar_one()
        tickets_before = conn.execute(
            sa.text("SELECT status FROM ticketing.tickets WHERE org_id = :o ORDER BY id"),
            {"o": world.b_org},
        ).all()
    with attacker.begin() as conn:
        _forge(conn, world.b_org, "liventix_app")
        moved = conn.execute(
            sa.text(
                "UPDATE messaging.endpoints SET url = 'http://169.254.169.254/' WHERE org_id = :o"
            ),
            {"o": world.b_org},
        ).rowcount
        voided = conn.execute(
            sa.text("UPDATE ticketing.tickets SET status = 'void' WHERE org_id = :o"),
            {"o": world.b_org},
        ).rowcount
        assert (moved, voided) == (0, 0)
    with attacker.begin() as conn, pytest.raises(ledger.OrganizationNotFound):
        _forge(conn, world.b_org, "liventix_app")
        ledger.post_entry(
            conn,
            world.b_org,
            ledger.PostEntry(
                idempotency_key="escape",
                lines=[
                    ledger.Line(uuid.UUID(world.ids["account"]), "debit", 1, "USD"),
                    ledger.Line(uuid.UUID(world.ids["sales"]), "credit", 1, "USD"),
                ],
            ),
        )
    with served.engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT url FROM messaging.endpoints WHERE id = :id"),
                {"id": world.ids["endpoint"]},
            ).scalar_one()
            == url_before
        )
        tickets_after = conn.execute(
            sa.text("SELECT status FROM ticketing.tickets WHERE org_id = :o ORDER BY id"),
            {"o": world.b_org},
        ).all()
        assert tickets_after == tickets_before
        escaped = conn.execute(
            sa.text("SELECT count(*) FROM payments.idempotency_keys WHERE key = 'escape'")
        ).scalar_one()
        assert escaped == 0


def test_the_inbox_is_unreadable(served: Served, attacker: sa.Engine) -> None:
    with served.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO messaging.inbox (source, event_id, type, payload)"
                " VALUES ('stripe', :id, 'charge.succeeded', '{}')"
            ),
            {"id": f"evt_{uuid.uuid4().hex}"},
        )
        assert conn.execute(sa.text("SELECT count(*) FROM messaging.inbox")).scalar_one() > 0
    for role in (None, "liventix_app", "liventix_platform"):
        with attacker.begin() as conn:
            if role is not None:
                conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
            assert conn.execute(sa.text("SELECT count(*) FROM messaging.inbox")).scalar_one() == 0


@pytest.mark.parametrize("role", [None, "liventix_app", "liventix_platform"])
def test_the_api_keys_are_unreadable(attacker: sa.Engine, role: str | None) -> None:
    with attacker.begin() as conn:
        if role is not None:
            conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied for table api_keys"):
            conn.execute(sa.text("SELECT secret_sha256 FROM payments.api_keys"))


def test_no_webhook_secret_is_readable_in_plain_text(
    served: Served,
    attacker: sa.Engine,
    world: World,  # noqa: F811
) -> None:
    """The role cannot select the column at all, even with B's own key; the owner reading the
    table finds only sealed values, none holding the secret B was shown."""
    created = ok(post(world.b, "/v1/webhook-endpoints", {"url": served.stripe.hook_url("b2")}), 201)
    shown = created["secret"]
    assert shown.startswith("whsec_")
    with attacker.begin() as conn:
        _forge(conn, world.b_org, "liventix_app")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text("SELECT secret FROM messaging.endpoint_secrets"))
    with served.engine.connect() as conn:
        stored = list(
            conn.execute(sa.text("SELECT secret FROM messaging.endpoint_secrets")).scalars()
        )
    assert stored
    assert all(s.startswith("lxs1:") for s in stored)
    key_part = shown.removeprefix("whsec_")
    assert not any(key_part in s or shown in s for s in stored)


def test_the_platforms_powers_need_the_platforms_key(
    served: Served,
    attacker: sa.Engine,
    world: World,  # noqa: F811
) -> None:
    with attacker.begin() as conn:
        conn.exec_driver_sql("SET LOCAL ROLE liventix_platform")
        assert conn.execute(sa.text("SELECT count(*) FROM payments.organizations")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM ticketing.orders")).scalar() == 0
    with attacker.begin() as conn, pytest.raises(ledger.PermissionDenied):
        ledger.expire_holds(conn)
    with attacker.begin() as conn, pytest.raises(ledger.PermissionDenied):
        ledger.act_for(conn, None)
    # The control: with the platform's key the same role sees every tenant.
    with attacker.begin() as conn:
        _present(conn, served.platform_key)
        conn.exec_driver_sql("SET LOCAL ROLE liventix_platform")
        assert _count_of(conn, "payments.organizations", world.b_org) == 1
        assert _count_of(conn, "ticketing.orders", world.b_org) > 0
        assert ledger.expire_holds(conn) >= 0
