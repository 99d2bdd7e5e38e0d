from enum import StrEnum


class DeliveryResponseChannel(StrEnum):
    EMAIL = "email"
    TASK = "task"
    WEBHOOK = "webhook"

    def __str__(self) -> str:
        return str(self.value)
