"""One message in, readings out: decode, dead-letter what is bad, drop duplicates, hand off."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
        self._next_stamp = datetime.min.replace(tzinfo=UTC)

    def topic_filters(self) -> list[str]:
        return [f for decoder in self._decoders for f in decoder.topic_filters()]

    async def handle(
        self, topic: str, payload: bytes, received_at: datetime, done: Done | None = None
    ) -> None:
        """One message; see handle_batch."""
        await self.handle_batch([(topic, payload)], received_at, done)

    async def handle_batch(
        self, messages: Sequence[tuple[str, bytes]], received_at: datetime,
        done: Done | None = None,
    ) -> None:
        """Handle (topic, payload) messages as one batch: one rule-engine transaction and one
        hand-off to the batcher for all of them. `done` is called once everything they
        carried is durably handed off: their readings stored by the sink, their bad parts in
        the dead-letter store."""
        self.counts.messages += len(messages)
        _metrics.MESSAGES.inc(len(messages))
        fresh: list[Reading] = []
        dead: list[DeadLetter] = []
        unknown_fields = 0
        for topic, payload in messages:
            # A reading without a `ts` takes its message's receive time (a batch's readings
            # one microsecond apart): a batch of messages shares one clock reading, so
            # each message starts after the times the one before it used, or two readings
            # would become one point.
            at = max(received_at, self._next_stamp)
            decoded = self._decode(topic, payload, at)
            used = max(1, len(decoded.readings) + len(decoded.dead_letters))
            self._next_stamp = at + timedelta(microseconds=used)
            dead += decoded.dead_letters
            unknown_fields += decoded.unknown_fields
            fresh += [r for r in decoded.readings if not self._is_duplicate(r)]
        if dead:
            self.dead_letter(dead)
        if unknown_fields:
            _metrics.UNKNOWN_FIELDS.inc(unknown_fields)
        if not fresh:
            if done is not None:
                done()
            return
        self.counts.readings += len(fresh)
        _metrics.READINGS.inc(len(fresh))
        binding_of = self._binding_of
        points = [telemetry_point(r, binding_of(r.tag_id)) for r in fresh]
        # Judged before they are buffered, so that the rule state they change is saved
        # (PointBatcher.before_acknowledging) before their messages are acknowledged.
        await self._on_readings(fresh)
        await self._batcher.add(points, done)

    def _decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded:
        for decoder in self._decoders:
            decoded = decoder.decode(topic, payload, received_at)
            if decoded is not None:
                return decoded
        letter = DeadLetter(topic, payload, "no decoder reads this topic", received_at,
                            cause="unknown_topic")
        return Decoded(dead_letters=[letter])

    def _is_duplicate(self, reading: Reading) -> bool:
        if reading.seq is None or not self._dedupe.seen_before(reading.tag_id, reading.seq):
            return False
        self.counts.duplicates += 1
        _metrics.DUPLICATES.inc()
        return True

    def dead_letter(self, letters: list[DeadLetter]) -> None:
        # One line per batch: a flood of garbage must not become a flood of log lines.
        first = letters[0]
        log.info("%d dead letter(s), the first on %s: %s", len(letters), first.topic,
                 first.reason)
        self.counts.dead_letters += len(letters)
        for cause, count in Counter(letter.cause for letter in letters).items():
            _metrics.DEAD_LETTERS.labels(cause).inc(count)
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
                    cause="sink_refused",
                )
                for p in points
            ]
        )
