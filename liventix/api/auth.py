"""Authentication of a request: the `Authorization: Bearer` key's form (checked on the event
loop, before anything touches the database), and the database's verdict on it.

The verdict comes from `keys.authenticate`, run first in each of a request's transactions
(`UnitOfWork.__enter__`): PostgreSQL checks the secret's hash and makes the transaction act
for the key's organization (`liventix_app`) or the platform (`liventix_platform`), so
row-level security bounds every statement after it. A transaction opened again after a
network call authenticates again: a key revoked meanwhile does nothing more.

A read-only key (`keys.Principal.read_only`) is refused every write (every request with an
Idempotency-Key: each write takes one) with 403 `read-only-key` before anything is looked up
under the key, and the transactions of its reads are READ ONLY, so PostgreSQL itself refuses
any write one of them might attempt.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from liventix.api import keys, problems
from liventix.api.problems import ApiProblem

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="liventix"'}

READ_ONLY_KEY = problems.ProblemType(403, "read-only-key", "A read-only API key may not write")
AUTH_PROBLEMS = (READ_ONLY_KEY,)
"""The problems of authentication that are not the API's own list (`problems.API_PROBLEMS`)."""


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthenticated(request: Request, detail: str) -> Response:
    """401 with the bearer challenge."""
    return problems.problem_response(
        problems.UNAUTHENTICATED, detail, instance=request.url.path, headers=CHALLENGE
    )


def no_bearer(request: Request) -> Response:
    """401 for a request without a bearer token."""
    return unauthenticated(request, "an `Authorization: Bearer <API key>` is required")


def act_as(
    conn: Connection,
    token: str,
    idempotency_key: str | None,
    *,
    then: keys.Then | None = None,
    answers: list[Any] | None = None,
    record_use: bool = True,
    commit: bool = False,
) -> tuple[keys.Principal | None, keys.StoredAnswer | None]:
    """Authenticate `token` as the first statement of the caller's transaction, which then
    acts as the key's principal; the principal (None: unknown or revoked) and the answer
    stored under `idempotency_key` in its scope. `then`: a statement sent in the same round
    trip, after it, and with `commit` the COMMIT (`keys.authenticate`; `record_use` too)."""
    principal, stored = keys.authenticate(
        conn,
        token,
        idempotency_key,
        then=then,
        answers=answers,
        record_use=record_use,
        commit=commit,
    )
    if principal is not None and principal.read_only:
        if idempotency_key is not None:
            raise ApiProblem(READ_ONLY_KEY, "this API key is read-only: it may not write")
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    return principal, stored


def platform_only(request: Request) -> Response:
    """403: the route is the platform key's."""
    return problems.problem_response(problems.PLATFORM_ONLY, instance=request.url.path)
