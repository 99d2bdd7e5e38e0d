from enum import StrEnum


class CategoryBalanceResponseByType0(StrEnum):
    EFFECTIVE = "effective"
    RECORDED = "recorded"

    def __str__(self) -> str:
        return str(self.value)
