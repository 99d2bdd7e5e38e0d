from enum import StrEnum


class BalanceResponseByType0(StrEnum):
    EFFECTIVE = "effective"
    RECORDED = "recorded"

    def __str__(self) -> str:
        return str(self.value)
