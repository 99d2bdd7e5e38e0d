from enum import StrEnum


class CreateMonitorRequestBalance(StrEnum):
    AVAILABLE = "available"
    PENDING = "pending"
    POSTED = "posted"

    def __str__(self) -> str:
        return str(self.value)
