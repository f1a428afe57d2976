"""What every decoder offers: the topics it reads and a pure decode of one message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway.domain import DeadLetter, Reading

MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_READINGS = 1000


@dataclass(slots=True)
class Decoded:
    """What one MQTT message turned into: the readings kept, and each rejected part."""

    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    unknown_fields: int = 0


class Decoder(Protocol):
    def topic_filters(self) -> list[str]:
        """The MQTT subscription filters whose messages this decoder reads."""
        ...

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        """Decode one message, or None when the topic is not this decoder's."""
        ...
