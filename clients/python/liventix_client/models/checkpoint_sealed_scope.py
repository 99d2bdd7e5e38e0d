from enum import StrEnum


class CheckpointSealedScope(StrEnum):
    ORGANIZATION = "organization"
    PLATFORM = "platform"

    def __str__(self) -> str:
        return str(self.value)
