"""Acknowledgements go out in arrival order, only once handed off, never after a reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.acks import AckQueue
from ingest.sinks import Point, PointBatcher


def test_acks_wait_for_every_earlier_message() -> None:
    sent: list[int] = []
    acks = AckQueue(lambda mid, qos: sent.append(mid))
    first, second, third = (acks.register_many([(mid, 1)]) for mid in (1, 2, 3))
    third()
    second()
    assert sent == []
    first()
    assert sent == [1, 2, 3]


def test_a_batch_is_acknowledged_whole_and_in_order() -> None:
    sent: list[int] = []
    acks = AckQueue(lambda mid, qos: sent.append(mid))
    first = acks.register_many([(1, 1), (2, 0), (3, 1)])
    second = acks.register_many([(4, 1), (5, 1)])
    second()
    assert sent == [] and len(acks) == 4
    first()
    assert sent == [1, 3, 4, 5] and len(acks) == 0


def test_qos0_needs_no_ack_and_a_closed_queue_sends_nothing() -> None:
    sent: list[int] = []
    acks = AckQueue(lambda mid, qos: sent.append(mid))
    acks.register_many([(7, 0)])()
    late = acks.register_many([(8, 1)])
    acks.close()
    late()
    assert sent == []


class SlowSink:
    name = "slow"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.written: list[int] = []

    async def write(self, points: Sequence[Point]) -> None:
        await self.release.wait()
        self.written.append(len(points))

    async def close(self) -> None:
        pass


def point(n: int) -> Point:
    return Point("telemetry", {"tag_id": "t"}, {"seq": n}, datetime.now(UTC))


async def test_the_batcher_calls_back_only_once_the_points_are_stored() -> None:
    sink = SlowSink()
    batcher = PointBatcher(sink, max_points=3, max_delay_s=0.01)
    done: list[str] = []
    task = asyncio.create_task(batcher.run())
    await batcher.add([point(1), point(2)], lambda: done.append("a"))
    await batcher.add([point(3), point(4)], lambda: done.append("b"))  # spans two batches
    await asyncio.sleep(0.05)
    assert done == []
    sink.release.set()
    await asyncio.sleep(0.05)
    assert sink.written == [3, 1] and done == ["a", "b"]
    await batcher.close()
    await task


async def test_points_added_while_the_state_is_saved_are_called_back_only_once_stored() -> None:
    """Points offered while the batcher saves the rule state before acknowledging a written
    batch are not part of it: their callback waits for their own write (it once compared
    their place in the shortened buffer with the written count, and acknowledged them
    unstored: a crash then lost them)."""
    sink = SlowSink()
    sink.release.set()
    batcher = PointBatcher(sink, max_points=10, max_delay_s=0.05)
    saving, saved = asyncio.Event(), asyncio.Event()

    async def save_state() -> None:
        saving.set()
        await saved.wait()

    batcher.before_acknowledging = save_state
    done: list[str] = []
    task = asyncio.create_task(batcher.run())
    await batcher.add([point(1), point(2), point(3)], lambda: done.append("a"))
    await saving.wait()  # "a" is written; the state is being saved
    sink.release.clear()  # the next write waits
    await batcher.add([point(4)], lambda: done.append("b"))
    saved.set()
    await asyncio.sleep(0.2)
    assert sink.written == [3] and done == ["a"]
    sink.release.set()
    await asyncio.sleep(0.2)
    assert sink.written == [3, 1] and done == ["a", "b"]
    await batcher.close()
    await task


async def test_stored_waits_for_every_point_added_before_it() -> None:
    sink = SlowSink()
    batcher = PointBatcher(sink, max_points=10, max_delay_s=0.01)
    task = asyncio.create_task(batcher.run())
    await asyncio.wait_for(batcher.stored(), 1)  # nothing added: at once
    batcher.offer([point(1), point(2)])
    stored = asyncio.create_task(batcher.stored())
    await asyncio.sleep(0.05)
    assert not stored.done()
    sink.release.set()
    await asyncio.wait_for(stored, 1)
    assert sink.written == [2]
    await batcher.close()
    await task
