from enum import StrEnum


class LedgerGetCategoryBy(StrEnum):
    EFFECTIVE = "effective"
    RECORDED = "recorded"

    def __str__(self) -> str:
        return str(self.value)
