from enum import StrEnum


class HoldEventStatus(StrEnum):
    CREATED = "created"
    EXPIRED = "expired"
    POSTED = "posted"
    VOIDED = "voided"

    def __str__(self) -> str:
        return str(self.value)
