from enum import StrEnum


class BatchItemResponseStatus(StrEnum):
    POSTED = "posted"
    REFUSED = "refused"
    REPLAYED = "replayed"

    def __str__(self) -> str:
        return str(self.value)
