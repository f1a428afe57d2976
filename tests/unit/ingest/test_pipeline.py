"""The pipeline's batch hand-off: what a batch of messages becomes, and when it is done."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
from collecting_sink import CollectingSink
from support.state import memory_state

from ingest import DeadLetterStore, IngestPipeline
from ingest.decoders import NativeDecoder
from ingest.readings import UNASSIGNED_BINDING, Reading
from ingest.sinks import PointBatcher

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def pipeline_with(
    sink: CollectingSink, judged: list[list[Reading]]
) -> tuple[IngestPipeline, PointBatcher]:
    def judge(readings: list[Reading]) -> list[tuple[Reading, Exception]]:
        judged.append(readings)
        return []

    batcher = PointBatcher(sink, max_delay_s=0.01)
    return IngestPipeline(
        decoders=[NativeDecoder()], batcher=batcher,
        dead_letters=DeadLetterStore(memory_state()),
        binding_of=lambda _: UNASSIGNED_BINDING, judge=judge,
    ), batcher


async def test_readings_without_a_time_in_one_batch_never_share_a_timestamp() -> None:
    """They take the receive time, which a batch of messages shares: two readings on the
    same time and tags would be one point in InfluxDB."""
    sink, judged = CollectingSink(), list[list[Reading]]()
    pipeline, batcher = pipeline_with(sink, judged)
    messages = [
        ("tags/t/telemetry", orjson.dumps({"readings": [{"temp_c": 1}, {"temp_c": 2}]})),
        ("tags/t/telemetry", b"{broken"),
        ("tags/t/telemetry", orjson.dumps({"temp_c": 3})),
        ("tags/t/telemetry", orjson.dumps({"temp_c": 4})),
    ]
    writer = asyncio.create_task(batcher.run())
    done = asyncio.Event()
    await pipeline.handle_batch(messages, NOW, done.set)
    await pipeline.handle_batch(messages[2:], NOW, lambda: None)  # the same clock reading
    await asyncio.wait_for(done.wait(), 5)
    await batcher.close()
    await writer
    stamps = [p.ts for p in sink.points]
    assert len(stamps) == 6 and len(set(stamps)) == 6
    assert stamps == sorted(stamps) and stamps[0] == NOW
    assert [len(batch) for batch in judged] == [4, 2]  # one judgement per batch
    assert pipeline.counts.dead_letters == 1


async def test_a_batch_of_nothing_but_bad_messages_is_done_at_once() -> None:
    sink, judged = CollectingSink(), list[list[Reading]]()
    pipeline, _ = pipeline_with(sink, judged)
    done: list[bool] = []
    await pipeline.handle_batch([("tags/t/telemetry", b"[]"), ("elsewhere", b"{}")], NOW,
                                lambda: done.append(True))
    assert done == [True] and judged == [] and pipeline.counts.dead_letters == 2


async def test_a_duplicate_is_done_only_once_its_first_copy_is_stored() -> None:
    """A redelivery that dedupe drops (its first copy came on a connection since lost, whose
    acknowledgement went nowhere) is acknowledged once the first copy's points are written,
    not at once: a crash in between would lose them."""
    sink, judged = CollectingSink(), list[list[Reading]]()
    pipeline, batcher = pipeline_with(sink, judged)
    message = ("tags/t/telemetry", orjson.dumps({"seq": 7, "temp_c": 3}))
    done: list[str] = []
    await pipeline.handle_batch([message], NOW, lambda: done.append("first"))
    await pipeline.handle_batch([message], NOW, lambda: done.append("again"))
    assert done == [] and pipeline.counts.duplicates == 1 and sink.points == []
    writer = asyncio.create_task(batcher.run())
    await asyncio.sleep(0.1)
    assert done == ["first", "again"] and len(sink.points) == 1
    await pipeline.handle_batch([message], NOW, lambda: done.append("nothing waits"))
    assert done[-1] == "nothing waits"
    await batcher.close()
    await writer
