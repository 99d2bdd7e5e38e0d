from enum import StrEnum


class EntryResponseKind(StrEnum):
    HOLD_POST = "hold_post"
    REVERSAL = "reversal"
    STANDARD = "standard"

    def __str__(self) -> str:
        return str(self.value)
