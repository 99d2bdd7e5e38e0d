"""Sending one claimed delivery: a signed webhook over HTTP, or an e-mail over SMTP.

Senders never raise: every result, transport errors included, becomes an `Outcome`.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from outbox.dispatch import Claimed, Outcome
from outbox.errors import OutboxError
from outbox.http_post import PostClient
from outbox.message_types import task_for
from outbox.retries import parse_retry_after, permanent, transient
from outbox.signing import headers as webhook_headers
from outbox.smtp_send import MailClient, Security, SmtpServer

USER_AGENT = "Liventix-Webhooks/1.0"


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification e-mails go, how the session is secured and logged in (see
    `outbox.smtp_send`), and the sender they are from."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "Liventix <no-reply@liventix.example>"
    timeout: float = 10.0
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def server(self) -> SmtpServer:
        """The server a mail client opens its sessions on."""
        return SmtpServer(
            host=self.host,
            port=self.port,
            timeout=self.timeout,
            security=self.security,
            username=self.username,
            password=self.password,
            ca_file=self.ca_file,
        )


def webhook_body(delivery: Claimed) -> bytes:
    """The JSON body: the Standard Webhooks envelope of type, timestamp and data."""
    envelope = {
        "type": delivery.type,
        "timestamp": delivery.message_created_at.astimezone(UTC).isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def send_webhook(client: PostClient, delivery: Claimed, max_body: int = 2048) -> Outcome:
    """POST the signed message to the endpoint; 2xx is success; redirects are not followed."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    body = webhook_body(delivery)
    headers = webhook_headers(
        list(delivery.secrets), str(delivery.message_id), int(time.time()), body
    )
    headers["content-type"] = "application/json"
    headers["user-agent"] = USER_AGENT
    assert delivery.url is not None
    try:
        response = client.post(delivery.url, body, headers)
    except (OSError, http.client.HTTPException, ValueError, OutboxError) as exc:
        return Outcome(
            delivery=delivery,
            started_at=started,
            duration_ms=int((time.monotonic() - t0) * 1000),
            succeeded=False,
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
    code = response.status
    retry_after = None
    if code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
    return Outcome(
        delivery=delivery,
        started_at=started,
        duration_ms=int((time.monotonic() - t0) * 1000),
        succeeded=200 <= code < 300,
        status_code=code,
        response_body=response.body[:max_body].decode("utf-8", "replace"),
        retry_after=retry_after,
        gone=code == 410,
    )


def send_email(client: MailClient, settings: SmtpSettings, delivery: Claimed) -> Outcome:
    """Send the e-mail over the client's session; its Message-ID derives from the delivery
    so repeats can be spotted."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = delivery.recipient or ""
    message["Subject"] = delivery.subject or ""
    message["Message-ID"] = f"<{delivery.message_id}.{delivery.id}@liventix.example>"
    message["X-Liventix-Message-Type"] = delivery.type
    message.set_content(delivery.body or "")
    try:
        client.send(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(
            delivery=delivery,
            started_at=started,
            duration_ms=int((time.monotonic() - t0) * 1000),
            succeeded=False,
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
    return Outcome(
        delivery=delivery,
        started_at=started,
        duration_ms=int((time.monotonic() - t0) * 1000),
        succeeded=True,
    )


def run_task(delivery: Claimed, again: Callable[[Exception], bool] | None = None) -> Outcome:
    """Run the task registered for the message's type; an exception is a failed attempt,
    unless `again`, told of it, answers True: the task is then run again (a task is
    idempotent by its message id), within the same attempt. The worker's `again` waits and
    answers True for a transient database failure (`outbox.worker`). A busy service's
    failure (`outbox.retries.TransientFailure`) is a failed attempt whose wait is at least
    its `retry_after`. A failure no retry can mend (`outbox.retries.PermanentFailure`, or
    raised from one: a payload that is not what was recorded) is marked `permanent`: the
    delivery is dead at once."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    task = task_for(delivery.type)
    error: str | None = None
    retry_after: float | None = None
    lasting = False
    if task is None:
        error = f"no task registered for {delivery.type!r}"
    else:
        while True:
            try:
                task(str(delivery.message_id), delivery.payload)
            except Exception as exc:
                if again is not None and again(exc):
                    continue
                error = f"{type(exc).__name__}: {exc}"[:500]
                # A busy service (Stripe's 429): the task's policy's next wait, at least
                # the wait the service asked for.
                busy = transient(exc)
                retry_after = None if busy is None else busy.retry_after
                lasting = permanent(exc)
            break
    return Outcome(
        delivery=delivery,
        started_at=started,
        duration_ms=int((time.monotonic() - t0) * 1000),
        succeeded=error is None,
        error=error,
        retry_after=retry_after,
        permanent=lasting,
    )
