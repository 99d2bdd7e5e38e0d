from enum import StrEnum


class HoldResponseStatus(StrEnum):
    EXPIRED = "expired"
    OPEN = "open"
    POSTED = "posted"
    VOIDED = "voided"

    def __str__(self) -> str:
        return str(self.value)
