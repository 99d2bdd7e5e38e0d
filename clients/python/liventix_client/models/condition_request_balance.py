from enum import StrEnum


class ConditionRequestBalance(StrEnum):
    AVAILABLE = "available"
    PENDING = "pending"
    POSTED = "posted"

    def __str__(self) -> str:
        return str(self.value)
