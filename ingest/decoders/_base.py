"""What every decoder offers: the topics it reads and a pure decode of one message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from ingest.readings import DeadLetter, Reading

MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_READINGS = 1000
TAG_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True, slots=True)
class ReadingBounds:
    """The reading times a decoder accepts: from `ts_min` to `max_future` after receipt
    (BOOMERANG_READING_TS_MIN, BOOMERANG_READING_MAX_FUTURE_S). Outside them a time is a
    tag's clock gone wrong, and some sinks cannot even store it (InfluxDB ends at 1677
    and 2262, Python's datetime at years 1 and 9999)."""

    ts_min: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(minutes=5)


CONTRACT_BOUNDS = ReadingBounds()
"""The contract's default window."""


@dataclass(slots=True)
class Decoded:
    """What one MQTT message turned into: the readings kept, and each rejected part."""

    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    unknown_fields: int = 0
    speaker: str = "native"
    """The broker login that sent the message, as the topic and the ACL tell it
    (ingest.speakers): `native` for a tag's own, `owntracks:{user}`,
    `things_stack:{app}@{tenant}`."""


class Decoder(Protocol):
    def topic_filters(self) -> list[str]:
        """The MQTT subscription filters whose messages this decoder reads."""
        ...

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        """Decode one message, or None when the topic is not this decoder's."""
        ...

    def tag_id_of(self, topic: str) -> str | None:
        """The tag a message on this topic is of, from the topic alone (None when the topic
        is not this decoder's): what a cluster of gateways partitions readings by."""
        ...


def json_part(value: Any) -> bytes:
    """One part of a parsed message as JSON again, for its own dead letter. orjson reads
    1024 levels of nesting but writes 254: deeper than that, a placeholder says so."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return b'"(this part is nested too deeply to be written again)"'


@dataclass(slots=True)
class Message:
    """One message being decoded: where it came from, and what it has turned into so far."""

    topic: str
    payload: bytes
    received_at: datetime
    tag_id: str
    format_name: str = ""
    """Put before every reason, so a dead letter says which format refused it."""
    result: Decoded = field(default_factory=Decoded)

    def reject(self, reason: str, raw: bytes | None = None,
               cause: str = "invalid_reading") -> Decoded:
        """Dead-letter the message (or `raw`, one part of it) with a reason."""
        self.result.dead_letters.append(DeadLetter(
            topic=self.topic, payload=self.payload if raw is None else raw,
            reason=f"{self.format_name}{reason}", received_at=self.received_at,
            tag_id=self.tag_id if TAG_ID.fullmatch(self.tag_id) else None, cause=cause))
        return self.result

    def parse_json(self, id_name: str = "tag id") -> tuple[bool, Any]:
        """The checks every format starts with: a valid tag id, the size limit, JSON.
        Returns (False, None) once the message is dead-lettered for one of them."""
        if not TAG_ID.fullmatch(self.tag_id):
            self.reject(f"{id_name} {self.tag_id!r} does not match [A-Za-z0-9_.-]{{1,64}}",
                        cause="bad_tag_id")
            return False, None
        if len(self.payload) > MAX_MESSAGE_BYTES:
            self.reject(f"message is {len(self.payload)} bytes, more than the 256 KiB allowed",
                        cause="too_large")
            return False, None
        try:
            return True, orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            self.reject(f"not JSON: {exc}", cause="not_json")
            return False, None
