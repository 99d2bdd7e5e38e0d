"""Message types and what a message is (pure): the registry of payload models, e-mails, and
of tasks with their own retry policies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from outbox.errors import InvalidPayload, UnknownMessageType
from outbox.retries import RetryPolicy

_MODELS: dict[str, type[BaseModel]] = {}


def message_type(name: str) -> type[BaseModel] | None:
    """The payload model registered for a message type, if any."""
    return _MODELS.get(name)


def register_message_type(name: str, model: type[BaseModel]) -> None:
    """Declare the pydantic model whose instances are the payloads of `name` messages."""
    existing = _MODELS.get(name)
    if existing is not None and existing is not model:
        raise ValueError(f"message type {name!r} is already registered to {existing.__name__}")
    _MODELS[name] = model


def validated_payload(name: str, payload: BaseModel) -> dict[str, object]:
    """The payload as JSON-ready data, after checking it is of the type's registered model."""
    model = _MODELS.get(name)
    if model is None:
        raise UnknownMessageType(message_type=name)
    if not isinstance(payload, model):
        raise InvalidPayload(message_type=name)
    return model.model_validate(payload.model_dump()).model_dump(mode="json")


@dataclass(frozen=True)
class Email:
    """A notification e-mail sent as a delivery of the message that causes it."""

    to: str
    subject: str
    body: str

    def __post_init__(self) -> None:
        for name in ("to", "subject"):
            value = getattr(self, name)
            if "\r" in value or "\n" in value:
                raise InvalidPayload(f"an e-mail's {name} is one line", message_type="email")
        if "@" not in self.to:
            raise InvalidPayload("an e-mail needs an address", message_type="email")


class EndpointDisabled(BaseModel):
    """Payload of `endpoint.disabled`: which endpoint stopped receiving, and why."""

    endpoint_id: str
    url: str
    reason: str


register_message_type("endpoint.disabled", EndpointDisabled)


Task = Callable[[str, dict[str, Any]], None]
"""A task: called with the message id (use it as the idempotency key of any outbound call)
and the message's payload; raising means failure, retried like any delivery."""

_TASKS: dict[str, Task] = {}
_TASK_RETRIES: dict[str, RetryPolicy] = {}


def register_task(
    name: str, task: Task, *, replace: bool = False, retry: RetryPolicy | None = None
) -> None:
    """Run `task` for every task delivery of messages of type `name`. `retry`: the task's own
    policy (its waits and its attempts before dead) for a delivery of it that fails; None:
    the worker's (`WorkerSettings.retry`, the webhooks' schedule). A registration replaces
    the task and its policy together."""
    existing = _TASKS.get(name)
    if existing is not None and existing is not task and not replace:
        raise ValueError(f"a task for {name!r} is already registered")
    _TASKS[name] = task
    if retry is None:
        _TASK_RETRIES.pop(name, None)
    else:
        _TASK_RETRIES[name] = retry


def task_for(name: str) -> Task | None:
    """The task registered for a message type, if any."""
    return _TASKS.get(name)


def task_retry(name: str) -> RetryPolicy | None:
    """The retry policy registered with the task of a message type, if any (None: the
    worker's applies)."""
    return _TASK_RETRIES.get(name)
