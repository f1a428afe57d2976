"""One message in, readings out: decode, dead-letter what is bad, drop duplicates, hand off.

Poison isolation is this module's promise: whatever one message makes a stage raise
(decoding, the speaker check, building its points, the rules), the message ends as its own
dead letter with a cause, and the batch it came in goes on without it. What can still
raise out of `handle_batch` is a store failing (the state database, the dead-letter store):
then nothing of the batch is acknowledged and the consumer takes the session down, so the
broker delivers it all again."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from ingest import _metrics
from ingest.deadletters import DeadLetterStore
from ingest.decoders import Decoded, Decoder
from ingest.dedupe import SeqDeduplicator
from ingest.errors import error_text
from ingest.ratelimit import TagRateLimiter
from ingest.readings import DeadLetter, Reading, TagBinding
from ingest.sinks import Done, Point, PointBatcher, telemetry_point, to_line
from ingest.speakers import TagSpeakers
from ingest.statedb import Runner, inline

log = logging.getLogger(__name__)

Judge = Callable[[list[Reading]], list[tuple[Reading, Exception]]]
"""The rules: judge the readings, return those the rules raised on, with the error."""


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
        judge: Judge,
        dedupe: SeqDeduplicator | None = None,
        speakers: TagSpeakers | None = None,
        rate_limiter: TagRateLimiter | None = None,
        run: Runner = inline,
    ) -> None:
        """`run` calls what uses the state database (the rules, the speakers, the dead
        letters): StateDb.run in the gateway."""
        self._decoders = list(decoders)
        self._batcher = batcher
        self._dead_letters = dead_letters
        self._binding_of = binding_of
        self._judge = judge
        self._dedupe = dedupe or SeqDeduplicator()
        self._speakers = speakers
        self._rate_limiter = rate_limiter
        self._run = run
        self.counts = IngestCounts()
        self._next_stamp = datetime.min.replace(tzinfo=UTC)

    def topic_filters(self) -> list[str]:
        return [f for decoder in self._decoders for f in decoder.topic_filters()]

    def forget_tags(self, which: Callable[[str], bool]) -> None:
        """The duplicates seen of the tags `which` picks are forgotten (SeqDeduplicator)."""
        self._dedupe.forget_tags(which)

    def tag_id_of(self, topic: str) -> str | None:
        """The tag a message on `topic` is of, by the first decoder that reads the topic."""
        for decoder in self._decoders:
            tag_id = decoder.tag_id_of(topic)
            if tag_id is not None:
                return tag_id
        return None

    async def handle(
        self, topic: str, payload: bytes, received_at: datetime, done: Done | None = None
    ) -> None:
        """One message; see handle_batch."""
        await self.handle_batch([(topic, payload)], received_at, done)

    async def handle_batch(
        self, messages: Sequence[tuple[str, bytes]], received_at: datetime,
        done: Done | None = None, *, stamps: Sequence[datetime] | None = None,
    ) -> None:
        """Handle (topic, payload) messages as one batch: one rule-engine transaction and one
        hand-off to the batcher for all of them. `done` is called once everything they
        carried is durably handed off: their readings stored by the sink, their bad parts in
        the dead-letter store. `stamps`: each message's own receive time, given by whoever
        received it (a cluster's relay, ingest/jetstream.py), so that a reading without a
        `ts` gets the same time however often it is judged; otherwise `received_at`, the
        batch's, spread as below."""
        self.counts.messages += len(messages)
        _metrics.MESSAGES.inc(len(messages))
        fresh: list[Reading] = []
        dead: list[DeadLetter] = []
        unknown_fields = 0
        limiter, arrival, charged = self._rate_limiter, received_at.timestamp(), []
        for index, (topic, payload) in enumerate(messages):
            if stamps is not None:
                at = stamps[index]
                decoded = self._decode(topic, payload, at)
            else:
                # A reading without a `ts` takes its message's receive time (a batch's
                # readings one microsecond apart): a batch of messages shares one clock
                # reading, so each message starts after the times the one before it used,
                # or two readings would become one point.
                at = max(received_at, self._next_stamp)
                decoded = self._decode(topic, payload, at)
                used = max(1, len(decoded.readings) + len(decoded.dead_letters))
                self._next_stamp = at + timedelta(microseconds=used)
            dead += decoded.dead_letters
            unknown_fields += decoded.unknown_fields
            new = [r for r in decoded.readings if not self._is_duplicate(r)]
            if limiter is not None and new:
                tag_id = new[0].tag_id
                newest = new[0].ts if len(new) == 1 else max(r.ts for r in new)
                if not limiter.allows(tag_id, newest.timestamp(), arrival):
                    sample = limiter.drop(tag_id, topic, payload, at)
                    if sample is not None:
                        dead.append(sample)
                    continue
                charged.append(tag_id)
            fresh += new
        if unknown_fields:
            _metrics.UNKNOWN_FIELDS.inc(unknown_fields)
        try:
            points: list[Point] = await self._run(self._judge_and_record, fresh, dead)
        except BaseException:
            # Nothing of the batch is handed off: its redelivery must not be taken for
            # duplicates of readings that were never stored, nor be over its tags' rate.
            for reading in fresh:
                if reading.seq is not None:
                    self._dedupe.forget(reading.tag_id, reading.seq)
            if limiter is not None:
                for tag_id in charged:
                    limiter.refund(tag_id)
            raise
        if not points:
            # Duplicates, dead letters, readings over their tag's rate: nothing to store, but
            # a duplicate's first copy may still wait in the buffer (a redelivery after a
            # reconnect, whose first copy's acknowledgement went nowhere), and acknowledging
            # this one would leave it to a crash in the meantime.
            if done is not None:
                self._batcher.offer((), done)
            return
        self.counts.readings += len(points)
        _metrics.READINGS.inc(len(points))
        await self._batcher.add(points, done)

    def _judge_and_record(self, fresh: list[Reading], dead: list[DeadLetter]) -> list[Point]:
        """What of a batch touches the state database, in one call of `run`: the speakers'
        claims, the rules, the dead letters; the points of the readings the rules took."""
        if self._speakers is not None:
            self._speakers.save()
        points = self._judged_points(fresh, dead)
        if dead:
            self.dead_letter(dead)
        return points

    def _decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded:
        """The message's readings and dead letters; a decoder that raises, or a speaker the
        tag is not the message's to speak for, makes it one dead letter."""
        try:
            for decoder in self._decoders:
                decoded = decoder.decode(topic, payload, received_at)
                if decoded is not None:
                    break
            else:
                return Decoded(dead_letters=[DeadLetter(
                    topic, payload, "no decoder reads this topic", received_at,
                    cause="unknown_topic")])
            if decoded.readings and self._speakers is not None:
                tag_id = decoded.readings[0].tag_id
                refusal = self._speakers.refusal(tag_id, decoded.speaker)
                if refusal is not None:
                    return Decoded(dead_letters=[DeadLetter(
                        topic, payload, refusal, received_at, tag_id=tag_id, cause="not_owner")])
            return decoded
        except Exception as exc:
            _log_fault("decoder_error", f"decoding a message on {topic} failed")
            letter = DeadLetter(topic, payload, f"the decoder failed: {error_text(exc)}",
                                received_at, cause="decoder_error")
            return Decoded(dead_letters=[letter])

    def _judged_points(self, fresh: list[Reading], dead: list[DeadLetter]) -> list[Point]:
        """The points of the readings the rules judged; a reading that cannot become a point,
        or that the rules raised on, goes to `dead` instead. Judged before they are buffered,
        so that the rule state they change is saved (PointBatcher.before_acknowledging)
        before their messages are acknowledged."""
        binding_of = self._binding_of
        readings: list[Reading] = []
        points: list[Point] = []
        for reading in fresh:
            try:
                points.append(telemetry_point(reading, binding_of(reading.tag_id)))
            except Exception as exc:
                _log_fault("decoder_error",
                           f"the telemetry point of a reading of {reading.tag_id} failed")
                dead.append(_reading_letter(reading, "decoder_error",
                                            f"its telemetry point failed: {error_text(exc)}"))
                continue
            readings.append(reading)
        if not readings:
            return []
        failed = self._judge(readings)
        if not failed:
            return points
        for reading, error in failed:
            dead.append(_reading_letter(reading, "rule_error",
                                        f"the rules failed on it: {error_text(error)}"))
        refused = {id(reading) for reading, _ in failed}
        return [point for reading, point in zip(readings, points, strict=True)
                if id(reading) not in refused]

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

    async def dead_letter_points(self, points: Sequence[Point], reason: str) -> None:
        """Points the sink refused for their content go to the dead-letter store too, each
        as its line of line protocol."""
        now = datetime.now(UTC)
        await self._run(self.dead_letter,
            [
                DeadLetter(
                    topic=f"sink/{p.measurement}",
                    payload=_line(p),
                    reason=f"refused by the telemetry sink: {reason}",
                    received_at=now,
                    tag_id=p.tags.get("tag_id"),
                    cause="sink_refused",
                )
                for p in points
            ]
        )


def _line(point: Point) -> bytes:
    try:
        return to_line(point).encode()
    except Exception:  # the very content that made the sink refuse it may be the cause
        return repr(point).encode("utf-8", "backslashreplace")


def _reading_letter(reading: Reading, cause: str, reason: str) -> DeadLetter:
    """A dead letter of one reading that decoded well: the reading in canonical JSON, on a
    topic saying which stage refused it."""
    document: dict[str, object] = {"ts": reading.ts.isoformat(), **reading.values,
                                   **dict(reading.extra)}
    if reading.seq is not None:
        document["seq"] = reading.seq
    return DeadLetter(topic=f"{cause.removesuffix('_error')}/{reading.tag_id}",
                      payload=orjson.dumps(document), reason=reason,
                      received_at=datetime.now(UTC), tag_id=reading.tag_id, cause=cause)


FAULT_LOG_EVERY_S = 60.0
_fault_logged_at: dict[str, float] = {}


def _log_fault(cause: str, what: str) -> None:
    """A fault of ours, with its traceback, at most once a minute per cause: a flood of
    messages that trip the same bug must not become a flood of tracebacks (each is a dead
    letter, and counted, anyway)."""
    now = time.monotonic()
    if now - _fault_logged_at.get(cause, -FAULT_LOG_EVERY_S) >= FAULT_LOG_EVERY_S:
        _fault_logged_at[cause] = now
        log.exception("%s (dead-lettered, cause %s; more like it are counted, not logged, "
                      "for a minute)", what, cause)

