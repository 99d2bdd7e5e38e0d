from enum import StrEnum


class LedgerGetBalanceBy(StrEnum):
    EFFECTIVE = "effective"
    RECORDED = "recorded"

    def __str__(self) -> str:
        return str(self.value)
