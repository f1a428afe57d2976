"""One message in, readings out: decode, dead-letter what is bad, drop duplicates, hand off."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.domain import DeadLetter, Reading, TagBinding
from ingest import _metrics
from ingest.deadletters import DeadLetterStore
from ingest.decoders import Decoded, Decoder
from ingest.dedupe import SeqDeduplicator
from ingest.sinks import Done, Point, PointBatcher, telemetry_point, to_line

log = logging.getLogger(__name__)


@dataclass
class IngestCounts:
    """Running totals, for the demo's live line and for tests."""

    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    dead_letters: int = 0


class IngestPipeline:
    def __init__(
        self,
        decoders: Sequence[Decoder],
        batcher: PointBatcher,
        dead_letters: DeadLetterStore,
        binding_of: Callable[[str], TagBinding],
        on_readings: Callable[[list[Reading]], Awaitable[None]],
        dedupe: SeqDeduplicator | None = None,
    ) -> None:
        self._decoders = list(decoders)
        self._batcher = batcher
        self._dead_letters = dead_letters
        self._binding_of = binding_of
        self._on_readings = on_readings
        self._dedupe = dedupe or SeqDeduplicator()
        self.counts = IngestCounts()

    def topic_filters(self) -> list[str]:
        return [f for decoder in self._decoders for f in decoder.topic_filters()]

    async def handle(
        self, topic: str, payload: bytes, received_at: datetime, done: Done | None = None
    ) -> None:
        """Handle one message. `done` is called once everything it carried is durably handed
        off: its readings stored by the sink, its bad parts in the dead-letter store."""
        self.counts.messages += 1
        _metrics.MESSAGES.inc()
        decoded = self._decode(topic, payload, received_at)
        if decoded.dead_letters:
            self.dead_letter(decoded.dead_letters)
        if decoded.unknown_fields:
            _metrics.UNKNOWN_FIELDS.inc(decoded.unknown_fields)
        fresh = [r for r in decoded.readings if not self._is_duplicate(r)]
        if not fresh:
            if done is not None:
                done()
            return
        self.counts.readings += len(fresh)
        _metrics.READINGS.inc(len(fresh))
        points = [telemetry_point(r, self._binding_of(r.tag_id)) for r in fresh]
        await self._batcher.add(points, done)
        await self._on_readings(fresh)

    def _decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded:
        for decoder in self._decoders:
            decoded = decoder.decode(topic, payload, received_at)
            if decoded is not None:
                return decoded
        letter = DeadLetter(topic, payload, "no decoder reads this topic", received_at)
        return Decoded(dead_letters=[letter])

    def _is_duplicate(self, reading: Reading) -> bool:
        if reading.seq is None or not self._dedupe.seen_before(reading.tag_id, reading.seq):
            return False
        self.counts.duplicates += 1
        _metrics.DUPLICATES.inc()
        return True

    def dead_letter(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            log.info("dead letter on %s: %s", letter.topic, letter.reason)
        self.counts.dead_letters += len(letters)
        _metrics.DEAD_LETTERS.inc(len(letters))
        self._dead_letters.add(letters)

    def dead_letter_points(self, points: Sequence[Point], reason: str) -> None:
        """Points the sink refused for their content go to the dead-letter store too."""
        now = datetime.now(UTC)
        self.dead_letter(
            [
                DeadLetter(
                    topic=f"sink/{p.measurement}",
                    payload=to_line(p).encode(),
                    reason=f"refused by the telemetry sink: {reason}",
                    received_at=now,
                    tag_id=p.tags.get("tag_id"),
                )
                for p in points
            ]
        )
