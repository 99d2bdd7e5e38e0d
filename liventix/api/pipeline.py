"""A request's way to its handler, before and around its unit of work.

1. On the event loop, with no database: the body is read and parsed once; the bearer's form,
   text PostgreSQL cannot store (NUL, unpaired surrogates) and a write's Idempotency-Key are
   checked (`Runner.facts`).
2. The parameters are validated: by the route itself when they are simple (UUID path
   parameters, one JSON body model), else by FastAPI.
3. One hop to a worker thread (`Runner.serve`, on the standard library's thread pool),
   where the handler runs with its unit of work (`with uow:` opens it:
   `liventix.api.unit_of_work`); what it raises is answered there (`liventix.api.failures`),
   and a lost race runs it again (at most MAX_ATTEMPTS times).

A request refused at step 2 is still authenticated and checked against its key's stored
answer first, as before validation (`Runner.refuse`).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from liventix.api import auth, failures, idempotency, problems
from liventix.api.idempotency import NOT_JSON
from liventix.api.unit_of_work import Answered, ApiRuntime, Facts, UnitOfWork

MAX_ATTEMPTS = 4
THREADS = 256
"""Worker threads for the handlers: a handler waiting on Stripe holds one (but no
connection and no slot), so an on-sale needs many more than anyio's default 40."""
HANDLER_THREAD = "liventix-handler"
CHECK_IN_LOOP = 64 * 1024
"""Bodies up to this size are parsed and checked on the event loop; larger ones in a thread."""

Handler = Callable[[UnitOfWork], Response]
"""A route's endpoint bound to its parameters: its answer, given the unit of work."""

# What PostgreSQL's text cannot hold: NUL, and (not being UTF-8) unpaired surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _bad_text(value: str) -> bool:
    return _UNSTORABLE.search(value) is not None


def _first_bad_text(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _bad_text(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = path if _bad_text(k) else _first_bad_text(v, f"{path}.{k}")
            if found is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_bad_text(v, f"{path}.{i}")
            if found is not None:
                return found
    return None


def _invalid_text(request: Request, parsed: Any) -> str | None:
    """The first field (query or JSON body) holding text PostgreSQL cannot store."""
    query = request.scope.get("query_string") or b""
    for name, value in request.query_params.multi_items() if query else ():
        if _bad_text(name) or _bad_text(value):
            return f"query.{name}"
    if parsed is NOT_JSON:
        return None  # FastAPI answers a body that is not JSON
    return _first_bad_text(parsed, "body")


class Runner:
    """Runs requests to their handlers (see the module)."""

    def __init__(self, runtime: ApiRuntime) -> None:
        self.runtime = runtime
        # The handlers' threads: the standard library's pool hands a job over on a C queue;
        # anyio's (a Python Queue and Condition per hop, its capacity limiter besides) cost
        # a tenth of a checkout's API CPU in py-spy's GIL samples (Condition.notify).
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix=HANDLER_THREAD)
        self._widened: asyncio.AbstractEventLoop | None = None
        """The event loop whose anyio thread limiter was widened to THREADS."""

    async def facts(
        self, request: Request, *, idempotent: bool, platform_only: bool, read_only: bool
    ) -> Facts | Response:
        """Step 1: what the event loop checks before validation; a refusal as a Response."""
        loop = asyncio.get_running_loop()
        if self._widened is not loop:  # once per event loop: anyio's lookup is not free
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, THREADS)
            self._widened = loop
        body = await request.body()
        if len(body) > CHECK_IN_LOOP:
            return await anyio.to_thread.run_sync(
                self._facts, request, body, idempotent, platform_only, read_only
            )
        return self._facts(request, body, idempotent, platform_only, read_only)

    @staticmethod
    def _facts(
        request: Request,
        body: bytes,
        idempotent: bool,
        platform_only: bool,
        read_only: bool,
    ) -> Facts | Response:
        token = auth.bearer(request)
        if token is None:
            return auth.no_bearer(request)
        parsed = idempotency.parse(body)
        bad = _invalid_text(request, parsed)
        if bad is not None:
            return problems.problem_response(
                problems.VALIDATION,
                f"{bad}: text may not hold NUL characters or unpaired surrogates",
                instance=request.url.path,
                field=bad,
            )
        key: str | None = None
        if idempotent:
            key = idempotency.key_of(request)
            # A dry run may come without a key; a key sent must be a valid one (an invalid
            # key on a dry run was taken as none: 200 where the schema says 400).
            if key is None and (
                idempotency.IDEMPOTENCY_HEADER in request.headers
                or not idempotency.keyless_dry_run(request)
            ):
                return idempotency.missing_key(request)
        return Facts(
            request=request,
            token=token,
            key=key,
            body=body,
            parsed=parsed,
            platform_only=platform_only,
            read_only=read_only,
        )

    async def run(
        self, facts: Facts, handler: Handler, respond: Callable[[Any], Response]
    ) -> Response:
        """Step 3: one hop to a worker thread, where the handler runs in the request's
        context (its request id). A request whose client went away still runs to its end
        (its unit of work commits or rolls back whole); its answer is dropped."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, context.run, self.serve, facts, handler, respond
        )

    def serve(self, facts: Facts, handler: Handler, respond: Callable[[Any], Response]) -> Response:
        """The handler with a new unit of work, run again after a lost race; its answer."""
        for _attempt in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self.runtime, facts, respond)
            try:
                return handler(uow)
            except Answered as answered:
                return answered.response
            except Exception as exc:
                outcome = failures.answer(self.runtime, uow, exc)
            if outcome is not None:
                return outcome
        return problems.problem_response(problems.CONFLICT_RETRY, instance=facts.request.url.path)

    def refuse(self, facts: Facts, exc: Exception) -> Response:
        """The answer to a request refused before its handler ran: what opening its unit of
        work answers first (an unknown key, its stored answer), else the refusal."""
        try:
            with UnitOfWork(self.runtime, facts, _never):
                pass  # authenticated, and nothing stored under the key: the refusal stands
        except Answered as answered:
            return answered.response
        except Exception as failure:
            return failures.translate(failure, facts.request.url.path)
        return failures.translate(exc, facts.request.url.path)


def _never(answer: Any) -> Response:
    raise RuntimeError("a refused request answers nothing of its own")
