"""Poison isolation in the pipeline: whichever stage raises on a message (its decoder, the
rules) makes that message its own dead letter, with a cause, and the rest of the batch is
handed off; a store failing takes the batch back whole, its readings not taken for
duplicates when they come again; a tag cannot speak for another's; a flooding tag is cut to
its rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from collecting_sink import CollectingSink
from sqlalchemy.exc import OperationalError
from support.state import memory_state

from ingest import DeadLetterStore, IngestPipeline
from ingest.decoders import Decoded, NativeDecoder, OwnTracksDecoder, ThingsStackDecoder
from ingest.ratelimit import TagRateLimiter
from ingest.readings import UNASSIGNED_BINDING, Reading
from ingest.sinks import PointBatcher
from ingest.speakers import TagSpeakers

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class BrokenDecoder(NativeDecoder):
    """The native decoder with a bug: it raises on one payload."""

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        if payload == b'{"temp_c": 13}':
            raise KeyError("a decoder bug")
        return super().decode(topic, payload, received_at)


def pipeline_with(
    judge_fails_on: float | None = None, decoders: list[object] | None = None,
    speakers: TagSpeakers | None = None, limiter: TagRateLimiter | None = None,
) -> tuple[IngestPipeline, DeadLetterStore, list[Reading]]:
    judged: list[Reading] = []

    def judge(readings: list[Reading]) -> list[tuple[Reading, Exception]]:
        failing = [r for r in readings
                   if judge_fails_on is not None and r.values.get("temp_c") == judge_fails_on]
        judged.extend(r for r in readings if r not in failing)
        return [(r, ValueError("a rule failed")) for r in failing]

    store = DeadLetterStore(memory_state())
    pipeline = IngestPipeline(
        decoders=decoders or [NativeDecoder()],  # type: ignore[arg-type]
        batcher=PointBatcher(CollectingSink()), dead_letters=store,
        binding_of=lambda _: UNASSIGNED_BINDING, judge=judge, speakers=speakers,
        rate_limiter=limiter)
    return pipeline, store, judged


def message(tag: str, **reading: object) -> tuple[str, bytes]:
    return f"tags/{tag}/telemetry", orjson.dumps(reading)


async def test_a_decoder_that_raises_dead_letters_that_message_only() -> None:
    pipeline, store, judged = pipeline_with(decoders=[BrokenDecoder()])
    await pipeline.handle_batch([message("a", temp_c=1), ("tags/b/telemetry", b'{"temp_c": 13}'),
                                 message("c", temp_c=2)], NOW)
    assert [r.tag_id for r in judged] == ["a", "c"]
    (letter,) = store.list()
    assert letter.letter.cause == "decoder_error" and letter.letter.topic == "tags/b/telemetry"
    assert "KeyError" in letter.letter.reason and letter.letter.payload == b'{"temp_c": 13}'


async def test_a_reading_the_rules_raise_on_is_dead_lettered_and_not_stored() -> None:
    pipeline, store, _ = pipeline_with(judge_fails_on=13.0)
    done: list[bool] = []
    await pipeline.handle_batch([message("a", temp_c=1, seq=1), message("b", temp_c=13, seq=7)],
                                NOW, lambda: done.append(True))
    (letter,) = store.list()
    assert (letter.letter.cause, letter.letter.tag_id) == ("rule_error", "b")
    # Its message came second in the batch: the receive time, a microsecond on.
    stamped = (NOW + timedelta(microseconds=1)).isoformat()
    assert orjson.loads(letter.letter.payload) == {"ts": stamped, "temp_c": 13.0, "seq": 7}
    assert "ValueError: a rule failed" in letter.letter.reason
    assert pipeline.counts.readings == 1


async def test_a_store_failing_takes_the_batch_back_and_its_readings_come_again() -> None:
    """Nothing of the batch is acknowledged, so the broker delivers it again: its readings
    must then not be dropped as duplicates of what was never stored."""
    pipeline, store, judged = pipeline_with()
    store._db.close()  # the state database gone: the dead letter cannot be written
    batch = [message("a", temp_c=1, seq=1), ("tags/a/telemetry", b"{bad")]
    with pytest.raises(OperationalError):
        await pipeline.handle_batch(batch, NOW)
    pipeline._dead_letters = DeadLetterStore(memory_state())
    judged.clear()
    await pipeline.handle_batch(batch, NOW)
    assert [r.seq for r in judged] == [1] and pipeline.counts.duplicates == 0


async def test_a_login_cannot_speak_for_a_tag_another_holds() -> None:
    speakers = TagSpeakers(memory_state(), owntracks_devices_per_user=2)
    pipeline, store, judged = pipeline_with(
        decoders=[NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder()], speakers=speakers)
    location = {"_type": "location", "lat": 52.5, "lon": 13.4, "tst": int(NOW.timestamp())}
    uplink = {"uplink_message": {"decoded_payload": {"temp_c": 4},
                                 "received_at": NOW.isoformat()}}
    await pipeline.handle_batch([
        message("anna-phone", temp_c=1),  # a native tag of that id reports first
        ("owntracks/anna/phone", orjson.dumps(location)),  # anna may not speak for it
        ("owntracks/anna/watch", orjson.dumps(location)),  # anna's own device: hers now
        ("v3/shop@acme/devices/anna-watch/up", orjson.dumps(uplink)),  # not the app's
        ("v3/shop@acme/devices/sensor-1/up", orjson.dumps(uplink)),
        ("v3/depot@acme/devices/sensor-1/up", orjson.dumps(uplink)),  # another app's device
        ("owntracks/anna/tablet", orjson.dumps(location)),
        ("owntracks/anna/laptop", orjson.dumps(location)),  # a third device: over her 2
        ("owntracks/anna/a-b", orjson.dumps(location)),  # "anna-a-b" would be user anna-a's
    ], NOW)
    assert [r.tag_id for r in judged] == ["anna-phone", "anna-watch", "sensor-1", "anna-tablet"]
    letters = {(s.letter.topic, s.letter.cause) for s in store.list()}
    assert letters == {("owntracks/anna/phone", "not_owner"),
                       ("v3/shop@acme/devices/anna-watch/up", "not_owner"),
                       ("v3/depot@acme/devices/sensor-1/up", "not_owner"),
                       ("owntracks/anna/laptop", "not_owner"),
                       ("owntracks/anna/a-b", "bad_tag_id")}
    # Claims survive a restart (the state database), and a tag's own login outranks them.
    speakers.save()
    again = TagSpeakers(speakers._db, owntracks_devices_per_user=2)
    assert again.speaker_of("sensor-1") == "things_stack:shop@acme"
    assert again.refusal("sensor-1", "native") is None
    assert again.speaker_of("sensor-1") == "native"


async def test_a_tag_over_its_rate_is_cut_to_it_and_sampled() -> None:
    pipeline, store, judged = pipeline_with(limiter=TagRateLimiter(rate_per_s=1, burst=5))
    start = NOW - timedelta(hours=1)
    flood = [message("flood", temp_c=1, seq=n, ts=start.isoformat()) for n in range(50)]
    # A backlog a second apart, arriving at once, is within the rate however fast it comes.
    backlog = [message("calm", temp_c=1, seq=n, ts=(start + timedelta(seconds=n)).isoformat())
               for n in range(50)]
    await pipeline.handle_batch(flood + backlog, NOW)
    assert sum(r.tag_id == "flood" for r in judged) == 5
    assert sum(r.tag_id == "calm" for r in judged) == 50
    (sample,) = store.list()  # one sample of the 45 dropped
    assert sample.letter.cause == "rate_limited" and sample.letter.tag_id == "flood"


def test_a_message_older_than_the_tag_s_newest_counts_at_the_newest() -> None:
    """An offline buffer uploaded after live readings is within the burst; a flood of old
    times cannot buy room the newest time would not give."""
    limiter = TagRateLimiter(rate_per_s=1, burst=3)
    newest = NOW.timestamp()
    assert limiter.allows("t", newest, newest)
    assert [limiter.allows("t", newest - 3600 + n, newest) for n in range(4)] == [
        True, True, False, False]
    assert limiter.allows("t", newest + 2, newest + 2)  # its own time moving on makes room


def test_times_made_up_from_far_in_the_past_count_as_a_backlog_at_most() -> None:
    """A tag that never sent a current time, its times a rate apart from the year 2000 on,
    would otherwise never run out of room."""
    limiter = TagRateLimiter(rate_per_s=1, burst=3, backlog_s=3600)
    arrival, ancient = NOW.timestamp(), datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    allowed = [limiter.allows("t", ancient + n, arrival) for n in range(10)]
    assert allowed == [True] * 3 + [False] * 7


async def test_a_failed_batch_gives_its_room_back_for_its_redelivery() -> None:
    pipeline, store, judged = pipeline_with(limiter=TagRateLimiter(rate_per_s=1, burst=3))
    batch = [message("a", temp_c=1, seq=n, ts=NOW.isoformat()) for n in range(3)]
    store._db.close()
    with pytest.raises(OperationalError):
        await pipeline.handle_batch([*batch, ("tags/a/telemetry", b"{bad")], NOW)
    pipeline._dead_letters = DeadLetterStore(memory_state())
    judged.clear()
    await pipeline.handle_batch(batch, NOW)
    assert [r.seq for r in judged] == [0, 1, 2]
