"""The demo's errors: one base, a leaf per way a season can fail to be played."""

from __future__ import annotations


class DemoError(Exception):
    """The demo could not play its season."""


class WebhookRefused(DemoError):
    """The API refused one of Stripe's events (or never acknowledged it)."""

    def __init__(self, event_id: str, status: int | None, body: str) -> None:
        super().__init__(f"the webhook refused {event_id}: {status} {body[:500]}")
        self.event_id = event_id
        self.status = status


class NotSettled(DemoError):
    """The workers did not finish the inbox and the deliveries in time."""

    def __init__(self, what: str, waiting: int, timeout: float) -> None:
        super().__init__(f"{what}: still {waiting} item(s) after {timeout} s")
        self.what = what
        self.waiting = waiting


class ProcessFailed(DemoError):
    """One of the application's processes (the API, a worker) died or never came up."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


class NotADemoDatabase(DemoError):
    """The database named for the demo exists and is not one an earlier demo made."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"database {name} exists and was not made by liventix demo: pick another "
            "--database (the demo drops and recreates its database)"
        )
        self.name = name
