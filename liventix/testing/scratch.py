"""A database reused by the examples of a property-based test, emptied before each one: the
price of a fresh clone per example (CREATE and DROP DATABASE, then new connections whose
server processes start with cold caches, ~0.5-1 s on the test server) for ~25 ms.

The examples that need it commit (each step is a transaction of its own, as the unit of work at
the edge commits) and need `now()` to move on between transactions, so they cannot run on the
rolled-back tier. `Scratch.empty()` deletes every row of every table that the database's
template had empty, with triggers off for the deletion (`session_replication_role = replica`,
which needs a superuser: the append-only guards and the foreign keys' checks do not fire), and
keeps what the template holds (the currencies, the tenancy secret, Alembic's version). Sequences
go on counting: no test may read meaning into an id's value.

In your own tests (pytest)::

    @pytest.fixture(scope="session")
    def scratch(...) -> Iterator[Scratch]:
        engine = make_engine(<a database cloned from the migrated template>)
        yield Scratch(engine)
        engine.dispose()

    def example(scratch: Scratch) -> None:
        engine = scratch.empty()
        ...
"""

from __future__ import annotations

import sqlalchemy as sa

_TABLES = sa.text("""
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY 1""")


class Scratch:
    """A database made from the template, emptied back to it by `empty()` (see the module's
    docstring)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with engine.connect() as conn:
            tables = list(conn.execute(_TABLES).scalars())
            self.kept = [t for t in tables if _has_rows(conn, t)]
            self.emptied = [t for t in tables if t not in self.kept]
            self._count_kept = sa.text(
                " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in self.kept)
                or "SELECT '', 0 WHERE false"
            )
            self._template_rows = _counts(conn, self._count_kept)
        self._delete = "; ".join(f"DELETE FROM {t}" for t in self.emptied)

    def empty(self) -> sa.Engine:
        """Delete every row the template did not have; the engine, for the example. Raises
        if a table the template filled gained or lost rows (emptying could not undo that)."""
        with self.engine.begin() as conn:
            counts = _counts(conn, self._count_kept)
            if counts != self._template_rows:
                raise AssertionError(
                    f"rows the template had changed: {self._template_rows} -> {counts}"
                )
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql(self._delete)
        return self.engine


def _counts(conn: sa.Connection, query: sa.TextClause) -> dict[str, int]:
    return {str(name): int(count) for name, count in conn.execute(query).all()}


def _has_rows(conn: sa.Connection, table: str) -> bool:
    return bool(conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {table})")).scalar_one())
