from enum import StrEnum


class MonitorResponseBalance(StrEnum):
    AVAILABLE = "available"
    PENDING = "pending"
    POSTED = "posted"

    def __str__(self) -> str:
        return str(self.value)
