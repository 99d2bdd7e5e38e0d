from enum import StrEnum


class StatementTieOutKind(StrEnum):
    ESCROW = "escrow"
    PAYABLE = "payable"
    RECEIVABLE = "receivable"

    def __str__(self) -> str:
        return str(self.value)
