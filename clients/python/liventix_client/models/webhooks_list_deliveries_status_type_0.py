from enum import StrEnum


class WebhooksListDeliveriesStatusType0(StrEnum):
    CANCELLED = "cancelled"
    DEAD = "dead"
    DELIVERING = "delivering"
    PENDING = "pending"
    SUCCEEDED = "succeeded"

    def __str__(self) -> str:
        return str(self.value)
