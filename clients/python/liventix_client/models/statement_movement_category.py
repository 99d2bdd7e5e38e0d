from enum import StrEnum


class StatementMovementCategory(StrEnum):
    CANCELLATIONS = "cancellations"
    DISPUTES = "disputes"
    OTHER = "other"
    REFUNDS = "refunds"
    RELEASES = "releases"
    SALES = "sales"
    TRANSFERS = "transfers"
    TRANSFER_REVERSALS = "transfer_reversals"

    def __str__(self) -> str:
        return str(self.value)
