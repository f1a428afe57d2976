"""The one batching path in front of every sink: flush by size or by age, retry until stored.

A sink's failures are of two kinds (ingest.sinks._base). One it may recover from (it is
down, slow, full): the batch waits in the spool, or is retried with backoff, whole. One it
never will (a point it cannot store): the batch is split in halves, each written alone,
down to the single points it refuses, which are dead-lettered; every other point of the
batch is stored. Writes are idempotent (same series and time overwrite), so a half that
was partly written before a refusal costs nothing but the second write."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar, cast

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from ingest.errors import error_text
from ingest.sinks._base import SinkRejected, SinkUnavailable, TelemetrySink
from ingest.sinks._points import Point
from ingest.sinks._spool import Spool
from ingest.waiting import wait_event

log = logging.getLogger(__name__)

TRANSIENT = (SinkUnavailable, OSError, TimeoutError)
"""Failures that writing the same points again later can get past."""

Done = Callable[[], None]
T = TypeVar("T")


async def _nothing() -> None:
    pass


class PointBatcher:
    """Buffers points for one sink. `add` waits while the buffer is full, so a slow sink
    slows the consumer instead of growing memory without bound. Each `add` may carry a
    callback, called once all its points are stored (or refused for their content and
    dead-lettered): that is when the MQTT message they came in may be acknowledged."""

    def __init__(
        self,
        sink: TelemetrySink,
        *,
        max_points: int = 5000,
        max_delay_s: float = 0.5,
        max_buffered: int = 100_000,
        on_written: Callable[[Sequence[Point]], None] | None = None,
        on_rejected: Callable[[Sequence[Point], str], Awaitable[None] | None] | None = None,
        spool: Spool | None = None,
    ) -> None:
        """With a `spool`, a batch the sink cannot take goes to disk (and counts as handed
        off); without one, or with the spool full, it is retried until the sink takes it."""
        self.sink = sink
        self._max_points = max_points
        self._max_delay_s = max_delay_s
        self._max_buffered = max(max_buffered, max_points)
        self._buffer: list[Point] = []
        # (how many points had been added when the callback's points were, callback). Counted
        # from the batcher's start, not as places in the buffer: points added while a written
        # batch is being called back (its rule state saved first) would otherwise be taken
        # for part of it, and acknowledged unstored.
        self._waiting: deque[tuple[int, Done]] = deque()
        self._added = 0
        self._handed = 0
        self._full = asyncio.Event()
        self._space = asyncio.Condition()
        self._closing = False
        self.on_written = on_written
        self.on_rejected = on_rejected
        self.before_acknowledging: Callable[[], Awaitable[None] | None] = _nothing
        """Called before the callbacks of stored points: whatever else must be durable
        before their messages are acknowledged (the rule engine's state) is saved here."""
        self.healthy = True
        self.spool = spool
        self.spool_full = False
        self._drain_wake = asyncio.Event()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def add(self, points: Sequence[Point], done: Done | None = None) -> None:
        async with self._space:
            await self._space.wait_for(lambda: len(self._buffer) < self._max_buffered)
        self.offer(points, done)

    def offer(self, points: Sequence[Point], done: Done | None = None) -> None:
        """Add without waiting for space: for the rare points made outside the ingest path
        (alert transitions), which must not block the rule engine. No points with a `done`:
        called once everything added before is stored (at once if it is)."""
        self._buffer.extend(points)
        self._added += len(points)
        if done is not None:
            if self._added == self._handed and not self._waiting:
                done()
            else:
                self._waiting.append((self._added, done))
        if len(self._buffer) >= self._max_points:
            self._full.set()

    async def stored(self) -> None:
        """Until every point added so far is stored (or spooled): for a writer of many points
        that are no message's (a snapshot of the fleet) to keep only a part of them in
        memory at a time."""
        if self._added == self._handed and not self._waiting:
            return
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def stored() -> None:
            if not handed.done():  # cancelled
                handed.set_result(None)

        self.offer((), stored)
        self.flush_soon()  # rather than wait for a full batch or BOOMERANG_BATCH_MAX_DELAY_S
        await handed

    def flush_soon(self) -> None:
        """Write what is buffered now rather than when the batch is full or old."""
        if self._buffer:
            self._full.set()

    async def run(self) -> None:
        """Flush until closed; on close, flush what is left."""
        drain = asyncio.create_task(self._drain()) if self.spool is not None else None
        try:
            await self._flush_until_closed()
        finally:
            if drain is not None:
                drain.cancel()
                await asyncio.gather(drain, return_exceptions=True)

    async def _flush_until_closed(self) -> None:
        while not self._closing or self._buffer:
            if not self._closing:
                await wait_event(self._full, self._max_delay_s)
            self._full.clear()
            while self._buffer:
                batch = self._buffer[: self._max_points]
                await self._write(batch)
                del self._buffer[: len(batch)]
                await self._handed_off(len(batch))
                async with self._space:
                    self._space.notify_all()
                if len(self._buffer) < self._max_points:
                    break

    async def _handed_off(self, count: int) -> None:
        """The next `count` points are stored: call back whoever was waiting on them."""
        self._handed += count
        handed, waiting = self._handed, self._waiting
        if waiting and waiting[0][0] <= handed:
            await self._until_done("saving the rule state before acknowledging",
                                   self.before_acknowledging)
        while waiting and waiting[0][0] <= handed:
            done = waiting.popleft()[1]
            try:
                done()
            except Exception:  # the others' acknowledgements must still go out
                log.exception("a hand-off callback failed")

    async def _until_done(self, what: str, action: Callable[[], T | Awaitable[T]]) -> T:
        """`action`, a write to one of the gateway's own stores (the state database, the
        spool), retried with backoff until it succeeds: its failure is the store's (full,
        locked, gone), and giving up would lose points or acknowledge messages whose effects
        were not kept. Cancellation ends it."""
        delay = 0.5
        while True:
            try:
                result = action()
                if inspect.isawaitable(result):
                    return await cast(Awaitable[T], result)
                return result
            except Exception as exc:
                log.error("%s failed (%s); retrying in %.1f s", what, error_text(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _write(self, batch: list[Point]) -> None:
        if self.spool is None:
            await self._write_until_stored(batch)
            return
        if self.spool.batches:
            await self._to_spool(batch)  # behind what waits there, to keep the order
            return
        parts = [batch]
        try:
            await self._store(parts)
        except TRANSIENT as exc:
            self.healthy = False
            unwritten = [point for part in reversed(parts) for point in part]
            log.warning("%s write failed (%s); spooling %d points", self.sink.name,
                        error_text(exc), len(unwritten))
            await self._to_spool(unwritten)

    async def _store(self, parts: list[list[Point]]) -> None:
        """Write `parts` (a stack: the next part last) until none is left. A part the sink
        refuses is split in two, each half written alone, down to the single points it
        refuses, which are dead-lettered: a bad point costs about 2 log2(n) writes, never
        its batch. On a transient failure, raises with what is still unwritten in `parts`,
        so that the caller (retrying, or spooling) loses nothing and repeats nothing."""
        while parts:
            part = parts[-1]
            try:
                await self.sink.write(part)
            except TRANSIENT:
                raise
            except Exception as exc:
                parts.pop()
                if len(part) == 1:
                    await self._rejected(part, exc)
                else:
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]
                continue
            parts.pop()
            self._written(part)

    async def _to_spool(self, batch: list[Point]) -> None:
        """Wait while the spool is full: the buffer then fills, the consumer stops, and
        unacknowledged messages stay with the broker."""
        assert self.spool is not None
        while not self.spool.room_for(len(batch)):
            if not self.spool_full:
                log.error("the spool is full (%d points): no more messages are acknowledged "
                          "until %s takes writes again", self.spool.points, self.sink.name)
            self.spool_full = True
            self._drain_wake.set()
            await asyncio.sleep(0.5)
        self.spool_full = False
        spool = self.spool
        refused = await self._until_done("spooling", lambda: spool.append(batch))
        if refused:
            await self._rejected(refused, SinkRejected("the spool cannot hold these points"))
        self._drain_wake.set()

    async def _drain(self) -> None:
        """Write spooled batches, oldest first, whenever there are any."""
        spool = self.spool
        assert spool is not None
        while True:
            oldest = await self._until_done("reading the spool", spool.oldest)
            if oldest is None:
                self._drain_wake.clear()
                await self._drain_wake.wait()
                continue
            batch_id, points = oldest
            await self._write_until_stored(points)
            await self._until_done("emptying the spool",
                                   partial(spool.remove, batch_id, len(points)))
            if not spool.batches:
                log.info("spool drained into %s", self.sink.name)

    async def _rejected(self, points: Sequence[Point], exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, SinkRejected) else error_text(exc)
        log.error("%s refused %d point(s): %s", self.sink.name, len(points), reason)
        on_rejected = self.on_rejected
        if on_rejected is not None:
            await self._until_done("dead-lettering refused points",
                                   lambda: on_rejected(points, reason))

    def _written(self, batch: Sequence[Point]) -> None:
        self.healthy = True
        if self.on_written:
            self.on_written(batch)

    async def _write_until_stored(self, batch: list[Point]) -> None:
        """Only transient failures are retried; cancellation ends the retries at once."""
        parts = [batch]
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=15) + wait_random(0, 0.2),
            retry=retry_if_exception_type(TRANSIENT),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._store(parts)

    def _log_retry(self, state: RetryCallState) -> None:
        self.healthy = False
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("%s write failed, retrying: %s", self.sink.name,
                    error_text(error) if error is not None else "?")

    async def close(self) -> None:
        self._closing = True
        self._full.set()

