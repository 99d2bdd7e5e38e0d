"""The owner's test of the fast doors: a caller with no proof posts only with the rights of the
role the door runs as (`payments._owner_role(current_user)` inside `payments.post_entry` and
`payments.post_capture_entry`, SECURITY DEFINER), which is the schema's owner.

- Every SECURITY DEFINER function of the database's own schemas is owned by its schema's
  owner: the doors judge the owner by their own owner (no catalog query, session 45) and
  `_trusted_caller` by the schema's, so the two must be one role.
- A role that is a member of that owner, with no proof, posts through either door as the
  owner does; an application role with no proof is refused (`test_entry_now_failures`), and
  so is a member of the owner who has SET ROLE to an application role (the role in force
  counts), and a login role of `liventix_platform` (as the API's is) calling the capture's
  writer: its own role is not the owner's, whatever `session_user` is.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import ledger
from tests.escrow_core.test_capture_writer import _WRITER, _nothing_written, _warm, _writer_args
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, role_engine, transfer


def _owner(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        name: str = conn.execute(
            sa.text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'payments'")
        ).scalar_one()
    return name


def test_every_door_is_owned_by_its_schemas_owner(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        doors = conn.execute(
            sa.text(
                "SELECT n.nspname || '.' || p.proname AS name, p.proowner = n.nspowner AS same"
                " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE p.prosecdef AND n.nspname NOT LIKE 'pg\\_%'"
                " AND n.nspname <> 'information_schema'"
            )
        ).all()
    names = {row.name for row in doors}
    assert {"payments.post_entry", "payments.post_capture_entry"} <= names
    assert [row.name for row in doors if not row.same] == []


def test_a_member_of_the_doors_owner_posts_with_no_proof(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with role_engine(engine, db_url, _owner(engine)) as member:
        posted = ledger.post_entry_now(member, ORG_A, transfer("member-1", cash, sales, 5))
        with member.connect() as conn:
            again = ledger.post_entry_now(conn, ORG_A, transfer("member-1", cash, sales, 5))
    assert (again.id, again.replayed, posted.replayed) == (posted.id, True, False)
    with engine.connect() as conn:
        balance = ledger.balance(conn, cash)
    assert balance.posted == 5


def test_a_member_of_the_owner_acting_as_an_application_role_is_refused(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with role_engine(engine, db_url, _owner(engine)) as member:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'GRANT liventix_app TO "{member.url.username}"')
        with member.connect() as conn:
            conn.exec_driver_sql("SET ROLE liventix_app")  # for the session: committed
            conn.commit()
            with pytest.raises(ledger.PermissionDenied):
                ledger.post_entry_now(conn, ORG_A, transfer("member-app-1", cash, sales, 5))
    with engine.connect() as conn:
        assert ledger.balance(conn, cash).posted == 0


def test_the_capture_s_writer_takes_the_owner_s_member_not_a_platform_login(
    engine: sa.Engine, db_url: str
) -> None:
    _, payment = _warm(engine)
    with engine.begin() as conn:
        args = _writer_args(conn, payment)
        before = _nothing_written(conn, args)
    with role_engine(engine, db_url, "liventix_platform") as platform, platform.begin() as conn:
        assert conn.execute(sa.text(_WRITER), args).scalar_one() is None
    with engine.connect() as conn:
        assert _nothing_written(conn, args) == before
    with role_engine(engine, db_url, _owner(engine)) as member, member.begin() as conn:
        assert conn.execute(sa.text(_WRITER), args).scalar_one() is not None
    with engine.connect() as conn:
        assert _nothing_written(conn, args) != before
