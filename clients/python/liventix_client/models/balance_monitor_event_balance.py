from enum import StrEnum


class BalanceMonitorEventBalance(StrEnum):
    AVAILABLE = "available"
    PENDING = "pending"
    POSTED = "posted"

    def __str__(self) -> str:
        return str(self.value)
