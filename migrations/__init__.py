"""The Alembic environment of the payments database (`env.py`, `script.py.mako`, `versions/`).

Revisions in `versions/` are hand-written SQL, run in order by `liventix.database.upgrade`
(or by hand with `alembic` and the `alembic.ini` at the repository root). This package only
marks where they live: `liventix.database` finds the environment through its location.
"""

from __future__ import annotations
