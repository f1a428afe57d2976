"""Readings through NATS JetStream, for a cluster of gateways (docs/architecture.md, "Many
gateways"): the relay puts each MQTT message into a stream, on the subject of its tag's
partition, and acknowledges it to the broker once JetStream has stored it; a partition's
reader hands the partition's messages, in stream order, to the ingest pipeline of the one
gateway that holds its lease, and acknowledges each to JetStream once the pipeline has
handed it off (stored, its rule state committed).

Who holds which lease is the cluster's business (gateway/cluster.py); this module only moves
messages, and knows the stream's names and layout."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from ingest import _metrics
from ingest.errors import error_text

log = logging.getLogger(__name__)

STREAM = "boomerang-readings"
SUBJECT_PREFIX = "boomerang.readings"
STAMP_HEADER = "Boomerang-Received-Us"
"""The relay's receive time of the message, microseconds since the epoch: what a reading
without `ts` is stamped with, the same however often it is judged."""
DUPLICATE_WINDOW_S = 120.0
"""JetStream drops a message whose Nats-Msg-Id it stored this recently: a message the
broker delivers again (its relay died between storing it and acknowledging it) is stored
once."""
RETENTION = timedelta(days=7)
"""How long the stream keeps readings: long past any takeover; a gateway cluster that is
down longer than this loses what the stream held (the broker still keeps what the relay
had not taken)."""
FETCH_MAX = 200
"""Messages handed on at once from one partition, as the MQTT consumer's MAX_BATCH."""
FETCH_WAIT_S = 1.0
TOP_UP_S = 0.005
"""After a message that ended a wait, how long to wait for whatever came with it: nats-py's
fetch of many, once one has come, waits for the rest until its timeout (up to FETCH_WAIT_S
of latency for a lone message)."""
ACK_WAIT = timedelta(minutes=10)
"""JetStream redelivers a message not acknowledged this long: a reader never relies on it
(a new holder starts from the acknowledged floor), so only a holder stuck that long sees
it."""
MAX_ACK_PENDING = 20_000
PUBLISH_TIMEOUT_S = 10.0

Handle = Callable[..., Awaitable[None]]
"""IngestPipeline.handle_batch: (messages, received_at, done, stamps=...)."""


def subject_of(partition: int) -> str:
    return f"{SUBJECT_PREFIX}.{partition}"


def framed(topic: str, payload: bytes) -> bytes:
    """A message's topic and payload as one stream message: the topic, NUL, the payload.
    Not the topic in a header: a header is a line of text, and a topic may hold what a
    header line cannot (a line break), which would fail the relay's batch, and every batch
    after it, on one message. MQTT topics never hold NUL."""
    return topic.encode() + b"\0" + payload


def unframed(data: bytes) -> tuple[str, bytes]:
    topic, _, payload = data.partition(b"\0")
    return topic.decode(errors="replace"), payload


def partition_of(key: str, partitions: int) -> int:
    """The partition of a tag id (CRC-32: the same in every gateway and every release)."""
    return zlib.crc32(key.encode()) % partitions


async def ensure_stream(js: JetStreamContext, partitions: int) -> None:
    """The readings' stream, made by the first gateway of a cluster. Its description
    records the partition count: gateways that disagree on it would judge one tag in two
    places, so a second count stops start-up (docs/operations.md says how to change it)."""
    description = f"partitions={partitions}"
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(StreamConfig(
            name=STREAM, subjects=[f"{SUBJECT_PREFIX}.*"], description=description,
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
            max_age=RETENTION.total_seconds(), duplicate_window=DUPLICATE_WINDOW_S))
        return
    if info.config.description != description:
        raise ClusterSettingMismatch(
            f"BOOMERANG_PARTITIONS is {partitions} but the cluster's stream {STREAM} was made "
            f"with {info.config.description or 'another count'}: every gateway of a cluster "
            "needs the same count (docs/operations.md, changing the partition count)")


class ClusterSettingMismatch(Exception):
    """A setting that every gateway of a cluster must share differs from the cluster's (the
    partition count, the lease TTL): start-up stops, naming it."""


class RelayLeaseLost(Exception):
    """The relay's lease lapsed: what it read stays unacknowledged with the broker, which
    gives it to the next relay."""


class JetStreamRelay:
    """The MQTT consumer's batch handler in a cluster: each message into the stream on its
    tag's partition; `done` (the broker's PUBACKs) once JetStream has stored all of them."""

    def __init__(self, js: JetStreamContext, tag_id_of: Callable[[str], str | None],
                 partitions: int, holds_lease: Callable[[], bool],
                 packet_ids: Callable[[], Sequence[int]]) -> None:
        """`holds_lease`: whether this gateway still holds the relay's lease (checked before
        each batch). `packet_ids`: the MQTT packet ids of the batch being handed on, with
        which a redelivered message gets the Nats-Msg-Id it had."""
        self._js = js
        self._tag_id_of = tag_id_of
        self._partitions = partitions
        self._holds_lease = holds_lease
        self._packet_ids = packet_ids
        self._next_us = 0

    def stamps(self, payloads: Sequence[bytes], now: datetime) -> list[int]:
        """Each message's receive time in microseconds, never two alike: each starts after
        the times the one before may give its readings (one microsecond each, and a
        message holds fewer readings than `{`)."""
        stamps = []
        at = max(int(now.timestamp() * 1_000_000), self._next_us)
        for payload in payloads:
            stamps.append(at)
            at += max(1, payload.count(b"{"))
        self._next_us = at
        return stamps

    async def handle_batch(self, messages: Sequence[tuple[str, bytes]], received_at: datetime,
                           done: Callable[[], None]) -> None:
        if not self._holds_lease():
            raise RelayLeaseLost("the relay's lease lapsed")
        ids = self._packet_ids()
        stamps = self.stamps([payload for _, payload in messages], received_at)
        acks = []
        for (topic, payload), stamp, packet_id in zip(messages, stamps, ids, strict=True):
            tag_id = self._tag_id_of(topic) or topic
            digest = hashlib.blake2b(b"%s\0%d\0%s" % (topic.encode(), packet_id, payload),
                                     digest_size=16).hexdigest()
            acks.append(await self._js.publish_async(
                subject_of(partition_of(tag_id, self._partitions)), framed(topic, payload),
                headers={STAMP_HEADER: str(stamp), "Nats-Msg-Id": digest}))
        # Every one stored before any is acknowledged to the broker: a failure leaves them
        # all with the broker, and those stored already are dropped as duplicates later.
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await asyncio.gather(*acks)
        _metrics.RELAYED.inc(len(messages))
        done()


async def open_reader(js: JetStreamContext, partition: int, name: str) -> int:
    """A consumer of `partition` called `name`, starting after what the partition's earlier
    consumers had acknowledged (made before they are deleted, so that a holder that dies
    between the two leaves the position behind). Returns the first stream sequence it
    delivers (1: from the start)."""
    prefix = f"judge-{partition}-"
    earlier = [info for info in await js.consumers_info(STREAM)
               if info.name.startswith(prefix) and info.name != name]
    floor = max((info.ack_floor.stream_seq for info in earlier if info.ack_floor is not None),
                default=0)
    config = ConsumerConfig(
        durable_name=name, filter_subject=subject_of(partition),
        ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT.total_seconds(),
        max_ack_pending=MAX_ACK_PENDING,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if floor else DeliverPolicy.ALL,
        opt_start_seq=floor + 1 if floor else None)
    await js.add_consumer(STREAM, config)
    for info in earlier:
        try:
            await js.delete_consumer(STREAM, info.name)
        except NotFoundError:
            pass  # another holder's cleanup got there first
    return floor + 1


class PartitionReader:
    """One partition's messages, in stream order, into the pipeline; each acknowledged to
    JetStream once the pipeline has handed it off."""

    def __init__(self, js: JetStreamContext, partition: int, name: str, handle: Handle,
                 unacked_high: Callable[[], None] = lambda: None,
                 may_acknowledge: Callable[[int], bool] = lambda _count: True,
                 newest_judged: Callable[[], datetime | None] = lambda: None) -> None:
        """`may_acknowledge(n)`: asked before n handed-off messages are acknowledged; no
        when the partition is no longer this gateway's (its new holder judges them).
        `newest_judged`: the newest reading time the gateway has judged, of any partition
        (`caught_up_to`)."""
        self._js = js
        self.partition = partition
        self.name = name
        self._handle = handle
        self._unacked_high = unacked_high
        self._may_acknowledge = may_acknowledge
        self.unacked = 0
        self._newest_judged = newest_judged
        self.caught_up_to: datetime | None = None
        """The gateway's newest judged reading time when the last fetch that left nothing
        waiting (JetStream's `num_pending`) began: every message of this partition stored
        before the readings that made that time has been judged here since."""
        self._acking: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Read until cancelled. A failure of the pipeline (the state database, or the
        partition fenced off: `ingest.statedb.Fenced`) ends it, unacknowledged; the cluster
        decides what next."""
        subscription = await self._js.pull_subscribe_bind(self.name, stream=STREAM)
        try:
            full = False
            while True:
                newest = self._newest_judged()
                try:
                    if full:  # more is waiting: a whole batch at once
                        messages = await subscription.fetch(FETCH_MAX, timeout=FETCH_WAIT_S)
                    else:  # the next message as soon as it comes, with what came with it
                        messages = await subscription.fetch(1, timeout=FETCH_WAIT_S)
                        with contextlib.suppress(TimeoutError):
                            messages += await subscription.fetch(FETCH_MAX - 1,
                                                                 timeout=TOP_UP_S)
                except TimeoutError:
                    self.caught_up_to, full = newest, False
                    continue
                await self._hand_on(messages)
                # Caught up by what JetStream says is left, not by a short fetch: the top-up's
                # few milliseconds may end before a backlog's batch has all come.
                full = messages[-1].metadata.num_pending > 0
                if not full:
                    self.caught_up_to = newest
        finally:
            await asyncio.gather(*self._acking, return_exceptions=True)
            try:
                await subscription.unsubscribe()
            except Exception as exc:  # the connection may be gone: nothing to unsubscribe
                log.debug("unsubscribing partition %d: %s", self.partition, error_text(exc))

    async def _hand_on(self, messages: list[Msg]) -> None:
        batch: list[tuple[str, bytes]] = []
        stamps: list[datetime] = []
        for message in messages:
            headers = message.headers or {}
            batch.append(unframed(message.data))
            try:
                stamp = int(headers.get(STAMP_HEADER, ""))
            except ValueError:
                stamp = 0
            stamps.append(datetime.fromtimestamp(stamp / 1_000_000, UTC)
                          if stamp else datetime.now(UTC))
        count = len(messages)
        self.unacked += count
        waiting = [True]  # until acknowledged, or given up with the batch

        def settle() -> None:
            if waiting[0]:
                waiting[0] = False
                self.unacked -= count

        loop = asyncio.get_running_loop()

        def done() -> None:
            task = loop.create_task(self._ack(messages, settle))
            self._acking.add(task)
            task.add_done_callback(self._acking.discard)

        try:
            await self._handle(batch, datetime.now(UTC), done, stamps=stamps)
        except BaseException:
            settle()  # not handed off: never acknowledged here
            raise
        _metrics.PARTITION_MESSAGES.labels(str(self.partition)).inc(len(messages))
        if self.unacked >= MAX_ACK_PENDING // 2:
            self._unacked_high()

    async def _ack(self, messages: list[Msg], settle: Callable[[], None]) -> None:
        try:
            if not self._may_acknowledge(len(messages)):
                return
            for message in messages:
                await message.ack()
        except Exception as exc:
            # Unacknowledged, they come again to whoever reads the partition next: judged
            # again, they change nothing (docs/architecture.md).
            log.warning("acknowledging %d messages of partition %d failed: %s",
                        len(messages), self.partition, error_text(exc))
        finally:
            settle()
