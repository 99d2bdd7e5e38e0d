from enum import StrEnum


class CheckpointResponseScope(StrEnum):
    ORGANIZATION = "organization"
    PLATFORM = "platform"

    def __str__(self) -> str:
        return str(self.value)
