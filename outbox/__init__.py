"""The transactional outbox (schema `messaging`): messages written on the caller's
transaction, delivered at least once to organizations' webhook endpoints (signed per Standard
Webhooks) and as e-mails; and the inbox of events from outside, stored and handled once, with
its cursors into a source's own list of events (`cursors`: Stripe's events caught up).

This is the package's public face; other packages import only from here. Publishing and
endpoint management take the caller's SQLAlchemy `Connection` and never commit.
"""

from __future__ import annotations

from outbox.addresses import AllowList, Resolver, parse_allow
from outbox.backlog import Backlog, backlog, waiting
from outbox.cursors import InboxCursor
from outbox.cursors import Walk as InboxCursorWalk
from outbox.cursors import claim_cursor as claim_inbox_cursor
from outbox.cursors import finish_cursor as finish_inbox_cursor
from outbox.cursors import walk_cursor as walk_inbox_cursor
from outbox.dispatch import Claimed, Outcome, disable_endpoint, prune, requeue
from outbox.endpoints import (
    Endpoint,
    active_secrets,
    get_endpoint,
    list_endpoints,
    register_endpoint,
    rotate_secret,
    set_enabled,
)
from outbox.errors import (
    DeliveryNotFound,
    EndpointNotFound,
    InboxNotConfigured,
    InvalidEndpoint,
    InvalidPayload,
    InvalidSignature,
    OutboxError,
    TargetRefused,
    UnknownMessageType,
)
from outbox.inbox import AnyHandler as AnyInboxHandler
from outbox.inbox import Handler as InboxHandler
from outbox.inbox import Handlers as InboxHandlers
from outbox.inbox import (
    InboxEvent,
    Received,
    handle_next,
    receive_signed_event,
    register_handler,
    set_inbox_secret,
    store_event,
    stored_event_ids,
)
from outbox.inbox import TwoStepHandler as InboxTwoStepHandler
from outbox.message_types import (
    Email,
    EndpointDisabled,
    Task,
    message_type,
    register_message_type,
    register_task,
    task_retry,
)
from outbox.publishing import Message, message_org, publish, publish_many, publish_sql
from outbox.retries import (
    DEFAULT_SCHEDULE,
    PermanentFailure,
    RetryPolicy,
    TransientFailure,
    parse_retry_after,
    permanent,
    transient,
)
from outbox.sealing import use_key as use_sealing_key
from outbox.senders import SmtpSettings
from outbox.signing import new_secret, sign, signature_header
from outbox.worker import Worker, WorkerSettings

__all__ = [
    "DEFAULT_SCHEDULE",
    "AllowList",
    "AnyInboxHandler",
    "Backlog",
    "Claimed",
    "DeliveryNotFound",
    "Email",
    "Endpoint",
    "EndpointDisabled",
    "EndpointNotFound",
    "InboxCursor",
    "InboxCursorWalk",
    "InboxEvent",
    "InboxHandler",
    "InboxHandlers",
    "InboxNotConfigured",
    "InboxTwoStepHandler",
    "InvalidEndpoint",
    "InvalidPayload",
    "InvalidSignature",
    "Message",
    "OutboxError",
    "Outcome",
    "PermanentFailure",
    "Received",
    "Resolver",
    "RetryPolicy",
    "SmtpSettings",
    "TargetRefused",
    "Task",
    "TransientFailure",
    "UnknownMessageType",
    "Worker",
    "WorkerSettings",
    "active_secrets",
    "backlog",
    "claim_inbox_cursor",
    "disable_endpoint",
    "finish_inbox_cursor",
    "get_endpoint",
    "handle_next",
    "list_endpoints",
    "message_org",
    "message_type",
    "new_secret",
    "parse_allow",
    "parse_retry_after",
    "permanent",
    "prune",
    "publish",
    "publish_many",
    "publish_sql",
    "receive_signed_event",
    "register_endpoint",
    "register_handler",
    "register_message_type",
    "register_task",
    "requeue",
    "rotate_secret",
    "set_enabled",
    "set_inbox_secret",
    "sign",
    "signature_header",
    "store_event",
    "stored_event_ids",
    "task_retry",
    "transient",
    "use_sealing_key",
    "waiting",
    "walk_inbox_cursor",
]
