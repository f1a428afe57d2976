"""Many gateways, one fleet (BOOMERANG_NATS_URL; docs/architecture.md, "Many gateways").

Every gateway of a cluster serves the API, stores telemetry and delivers webhooks from the
shared PostgreSQL state; the judging is split. The readings' stream is partitioned by tag
(ingest/jetstream.py) and each partition is judged by the one gateway holding its lease.
Leases are JetStream KV entries in a bucket whose entries live `BOOMERANG_LEASE_TTL_S`
unless renewed: taken with `create` (refused while another holds it), renewed with
`update` on the revision last seen (refused once another has taken it), given back with
`delete` on it. A gateway renews its leases and its membership entry every third of the TTL,
and takes the free partitions that are its share: partition p is the share of the live
members, sorted by name, at p modulo their number, so partitions spread evenly and move
when a gateway joins or leaves. One more lease, the relay's, says which gateway moves the
broker's messages into the stream: it alone connects to the broker, with the session every
gateway of the cluster shares.

A lease is liveness, not safety: a gateway paused past its TTL still believes it holds what
it held. Safety is the state database's epoch per partition (gateway/registry/partitions.py):
taking a partition raises it, and every transaction in which the engine writes rule state
or alerts first checks the epochs of what it holds (`fence`), so the paused gateway's late
writes are refused (and counted), and it lets go of the partitions it lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import nats
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext
from nats.js.errors import (
    BucketNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from nats.js.kv import KeyValue
from prometheus_client import Counter, Gauge

from alerts import RuleEngine
from alerts.domain import Asset
from gateway.registry import AssetRegistry
from gateway.registry.partitions import PartitionOwners
from gateway.services import RegistryWriter
from gateway.settings import Settings
from ingest import IngestPipeline, MqttConsumer
from ingest.consumer import ConnectionLost
from ingest.errors import error_text
from ingest.jetstream import (
    STREAM,
    ClusterSettingMismatch,
    Handle,
    JetStreamRelay,
    PartitionReader,
    ensure_stream,
    open_reader,
    partition_of,
)
from ingest.sinks import PointBatcher
from ingest.statedb import Fenced, StateDb

log = logging.getLogger(__name__)

LEASES = "boomerang-leases"
RELAY = "relay"
RELEASE_WAIT_S = 10.0
"""How long a gateway giving a partition back waits for what it judged to be stored and
acknowledged; after that the next holder judges the rest again."""

OWNED = Gauge("boomerang_cluster_partitions_owned", "Partitions this gateway judges")
RELAY_HELD = Gauge("boomerang_cluster_relay", "1 while this gateway relays the broker's messages")
RENEWALS = Counter("boomerang_cluster_lease_renewals", "Leases renewed", ["outcome"])
TAKEOVERS = Counter("boomerang_cluster_takeovers", "Partitions taken (at start, from a gateway "
                    "that left, or in a rebalance)")
LOST = Counter("boomerang_cluster_partitions_lost",
               "Partitions this gateway lost without giving them back (its lease lapsed)")
FENCED = Counter("boomerang_cluster_fenced_writes",
                 "Writes of a partition another gateway took over, refused: a batch of its "
                 "readings, rule states dropped unsaved, acknowledgements withheld", ["what"])
UNACKED = Gauge("boomerang_cluster_unacknowledged_messages",
                "Messages of its partitions this gateway judged and has yet to acknowledge "
                "(waiting to be stored)")
LAG = Gauge("boomerang_cluster_partition_lag",
            "Messages of a partition this gateway holds not yet delivered to it", ["partition"])


def _in_partition(p: int, partitions: int, asset: Asset) -> bool:
    return partition_of(partition_key(asset), partitions) == p


def partition_key(asset: Asset) -> str:
    """What an asset's partition is of: its tag (whose readings decide it), or for an asset
    without one, its own id (its clock-driven rules still need one judge)."""
    return asset.tag_id or asset.id


@dataclass
class Held:
    """A partition this gateway holds."""

    lease_revision: int
    epoch: int
    renewed_at: float
    reader: PartitionReader | None = None
    task: asyncio.Task[None] | None = None
    given_back: bool = False
    """Its lease is being deleted: no longer renewed."""
    clock: datetime | None = None
    """The newest reading time judged of the partition: its now for the clock-driven rules
    on event time (BOOMERANG_CLOCK=event) while it catches up (`Cluster.event_clocks`). A
    partition taken over catches up on its backlog while the others go on: judged by their
    clock, ahead of its readings, its assets would all seem silent."""


@dataclass
class Cluster:
    settings: Settings
    nc: Nats
    js: JetStreamContext
    kv: KeyValue
    db: StateDb
    engine: RuleEngine
    registry: AssetRegistry
    registry_writer: RegistryWriter
    pipeline: IngestPipeline
    batcher: PointBatcher
    relay_consumer: MqttConsumer
    owners: PartitionOwners
    held: dict[int, Held] = field(default_factory=dict)
    """Partitions whose epoch this gateway's writes are fenced with."""
    owned: set[int] = field(default_factory=set)
    """Of those, the ones it judges now (a partition being given back is held, not owned)."""
    relay_revision: int | None = None
    relay_renewed_at: float = 0.0
    relay_task: asyncio.Task[None] | None = None
    members: list[str] = field(default_factory=list)
    joined_at: float | None = None
    """When the membership entry was last renewed (monotonic)."""
    judging: int | None = None
    """The partition whose batch is being handled (one at a time: `_handle_of`)."""
    _giving_back: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, *, db: StateDb, engine: RuleEngine,
                   registry: AssetRegistry, registry_writer: RegistryWriter,
                   pipeline: IngestPipeline, batcher: PointBatcher,
                   relay_consumer: MqttConsumer) -> AsyncIterator[Cluster]:
        """Connected to NATS, with the stream and the lease bucket made if this is the first
        gateway, and hooked into the engine; on leaving, every lease given back."""
        assert settings.nats_url is not None
        nc = await nats.connect(settings.nats_url, name=settings.gateway_id,
                                max_reconnect_attempts=-1, connect_timeout=5)
        try:
            # A lease operation that waits longer than a renewal period is as good as failed.
            js = nc.jetstream(timeout=max(1.0, settings.lease_ttl_s / 3))
            await ensure_stream(js, settings.partitions)
            try:
                kv = await js.key_value(LEASES)
            except BucketNotFoundError:
                kv = await js.create_key_value(bucket=LEASES, ttl=settings.lease_ttl_s,
                                               history=1)
            ttl = (await kv.status()).ttl
            if ttl is None or abs(ttl - settings.lease_ttl_s) > 0.001:
                # Renewed every third of this gateway's TTL, a lease in a bucket with a
                # shorter one would lapse while held.
                raise ClusterSettingMismatch(
                    f"BOOMERANG_LEASE_TTL_S is {settings.lease_ttl_s:g} but the cluster's lease "
                    f"bucket {LEASES} was made with {ttl}: every gateway of a cluster needs the "
                    "same TTL")
            cluster = cls(settings, nc, js, kv, db, engine, registry, registry_writer,
                          pipeline, batcher, relay_consumer, PartitionOwners(db))
            cluster._hook()
            try:
                yield cluster
            finally:
                await cluster.leave()
        finally:
            await nc.close()

    def _hook(self) -> None:
        partitions = self.settings.partitions
        owned = self.owned
        self.engine.owns = lambda asset: partition_of(partition_key(asset), partitions) in owned
        self.engine.fence = self.fence
        relay = JetStreamRelay(self.js, self.pipeline.tag_id_of, partitions,
                               holds_lease=self._holds_relay,
                               packet_ids=lambda: self.relay_consumer.packet_ids)
        self.relay_consumer.replace_handler(relay.handle_batch)
        self.relay_consumer.before_connect = self._relay_may_connect
        # Before acknowledging, always through the fence: a gateway that was paused learns
        # there that what it is about to acknowledge is no longer its own.
        engine, db = self.engine, self.db
        self.batcher.before_acknowledging = lambda: db.run(engine.save_state, fenced=True)
        UNACKED.set_function(lambda: sum(
            held.reader.unacked for held in list(self.held.values()) if held.reader))

    # Fencing (inside the state database's transactions) ----------------------------------

    def fence(self) -> None:
        """The engine's first step in each of its transactions: refuses it if the partition
        being judged was taken over, and lets go of every partition that was."""
        epochs = {p: held.epoch for p, held in self.held.items()}
        lost = self.owners.lost(epochs)
        if not lost:
            return
        self._let_go(lost, "another gateway took it over")
        if self.judging in lost:
            FENCED.labels("batch").inc()
            raise Fenced([self.judging])
        # A save or a tick: it goes on without what belonged to the lost partitions.

    def _let_go(self, partitions: list[int], why: str) -> None:
        """Partitions no longer this gateway's: not judged, their unsaved state dropped
        (the new holder judges again what made it), their readers stopped."""
        gone = set(partitions) & set(self.held)
        if not gone:
            return
        log.warning("partitions %s are no longer this gateway's: %s", sorted(gone), why)
        LOST.inc(len(gone))
        for p in gone:
            held = self.held.pop(p)
            self.owned.discard(p)
            if held.task is not None:
                held.task.cancel()
            with contextlib.suppress(KeyError):
                LAG.remove(str(p))
        dropped = self.engine.drop_unsaved(self._asset_ids_of(gone))
        if dropped:
            FENCED.labels("state").inc(dropped)
            log.warning("%d rule states of them, not saved, are dropped: their readings, not "
                        "acknowledged, are judged again by the new holder", dropped)
        OWNED.set(len(self.owned))

    def _asset_ids_of(self, partitions: set[int]) -> set[str]:
        n = self.settings.partitions
        return {asset.id for asset in self.engine.assets_where(
            lambda asset: partition_of(partition_key(asset), n) in partitions)}

    # The lease loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Every third of the lease TTL until cancelled: renew the leases (a task of its own,
        so that nothing slower ever holds a renewal up), and take or give back partitions."""
        await asyncio.gather(self._every(self._renew, "renewing leases"),
                             self._every(self.step, "sharing partitions"))

    async def _every(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        period = self.settings.lease_ttl_s / 3
        while True:
            started = time.monotonic()
            try:
                await work()
            except Exception as exc:
                # NATS away, the state database failing: leases not renewed lapse on their
                # own and the fence keeps the state safe; try again next time.
                log.warning("%s failed: %s", what, error_text(exc))
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async def step(self) -> None:
        await self.kv.put(f"member.{self.settings.gateway_id}",
                          self.settings.gateway_id.encode())
        self.joined_at = time.monotonic()
        self.members = await self._members()
        share = self.share(self.members)
        for p in sorted(set(self.owned) - share):
            if p not in self._giving_back:
                task = asyncio.create_task(self._give_back(p), name=f"give-back-{p}")
                self._giving_back[p] = task
                task.add_done_callback(partial(self._given_back, p))
        for p in sorted(share - set(self.held)):
            await self._take(p)
        if self.relay_revision is None:
            await self._take_relay()
        await self._measure_lag()

    def share(self, members: list[str]) -> set[int]:
        """The partitions that are this gateway's among `members`."""
        me = self.settings.gateway_id
        if me not in members:
            members = sorted([*members, me])
        return {p for p in range(self.settings.partitions) if members[p % len(members)] == me}

    async def _members(self) -> list[str]:
        try:
            # All keys, filtered here: NATS before 2.10 ignores a filter on the server.
            keys = await self.kv.keys()
        except NoKeysError:
            return []
        return sorted(key.removeprefix("member.") for key in keys
                      if key.startswith("member."))

    async def _renew(self) -> None:
        now = time.monotonic()
        ttl = self.settings.lease_ttl_s
        me = self.settings.gateway_id.encode()
        for p, held in list(self.held.items()):
            if self.held.get(p) is not held or held.given_back:
                continue
            try:
                held.lease_revision = await self.kv.update(f"partition.{p}", me,
                                                           last=held.lease_revision)
                held.renewed_at = now
                RENEWALS.labels("renewed").inc()
            except (KeyWrongLastSequenceError, NotFoundError):
                RENEWALS.labels("lost").inc()
                if not held.given_back:
                    self._let_go([p], "its lease lapsed")
            except Exception as exc:
                RENEWALS.labels("failed").inc()
                log.warning("renewing the lease of partition %d failed: %s", p,
                            error_text(exc))
                if time.monotonic() - held.renewed_at > ttl:
                    self._let_go([p], "its lease could not be renewed in time")
        if self.relay_revision is not None:
            try:
                self.relay_revision = await self.kv.update(RELAY, me, last=self.relay_revision)
                self.relay_renewed_at = now
                RENEWALS.labels("renewed").inc()
            except (KeyWrongLastSequenceError, NotFoundError):
                RENEWALS.labels("lost").inc()
                await self._stop_relay("its lease lapsed")
            except Exception as exc:
                RENEWALS.labels("failed").inc()
                log.warning("renewing the relay's lease failed: %s", error_text(exc))
                if time.monotonic() - self.relay_renewed_at > ttl:
                    await self._stop_relay("its lease could not be renewed in time")

    async def _take(self, p: int) -> None:
        me = self.settings.gateway_id
        try:
            revision = await self.kv.create(f"partition.{p}", me.encode())
        except KeyWrongLastSequenceError:
            return  # still another's: it gives it back, or its lease lapses
        renewed_at = time.monotonic()
        try:
            epoch = await self.db.run(self.owners.take, p, me, revision, datetime.now(UTC))
            # From here the previous holder writes nothing more of p: what it left is final.
            clock = await self.db.run(self._adopt, p)
            self._forget_duplicates(p)
            name = f"judge-{p}-{epoch}"
            start = await open_reader(self.js, p, name)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.kv.delete(f"partition.{p}", last=revision)
            raise
        engine = self.engine
        reader = PartitionReader(self.js, p, name, self._handle_of(p),
                                 unacked_high=self.batcher.flush_soon,
                                 may_acknowledge=partial(self._may_acknowledge, p),
                                 newest_judged=lambda: engine.watermark)
        held = Held(revision, epoch, renewed_at, reader, clock=clock)
        self.held[p] = held
        self.owned.add(p)
        held.task = asyncio.create_task(self._read(held), name=f"partition-{p}")
        TAKEOVERS.inc()
        OWNED.set(len(self.owned))
        log.info("judging partition %d (epoch %d, from stream sequence %d)", p, epoch, start)

    def _adopt(self, p: int) -> datetime | None:
        """The partition's assets as the state database has them now: registry rows (the
        previous holder moved their trips) and rule state; the newest reading time of
        them, the partition's clock to start from."""
        self.registry_writer.catch_up()
        ids = sorted(self._asset_ids_of({p}))
        fresh = self.registry.get_assets(ids)
        self.engine.upsert_assets(list(fresh.values()), judge=False)
        self.engine.adopt(ids)
        return max((seen.newest_ts for seen in map(self.engine.seen, ids)
                    if seen.newest_ts is not None), default=None)

    def event_clocks(self) -> list[tuple[datetime, Callable[[Asset], bool]]]:
        """On event time: each partition judged here with a reading time yet, its clock and
        which assets are its own. A partition follows the newest reading time this gateway
        judged of any partition, as one gateway's clock does (its own tags may be quiet
        while time goes on, as an overdue rental's), but only as far as it has caught up
        with its stream behind it (`PartitionReader.caught_up_to`): after a backlog (a
        takeover, a relay that was away) the others' readings may be far ahead of its."""
        n = self.settings.partitions
        clocks: list[tuple[datetime, Callable[[Asset], bool]]] = []
        for p, held in sorted(self.held.items()):
            clock = held.clock
            caught_up_to = held.reader.caught_up_to if held.reader is not None else None
            if caught_up_to is not None:
                clock = caught_up_to if clock is None else max(clock, caught_up_to)
            if p in self.owned and clock is not None:
                clocks.append((clock, partial(_in_partition, p, n)))
        return clocks

    def _may_acknowledge(self, p: int, count: int) -> bool:
        """Whether messages of p may be acknowledged: not once p was lost (its new holder
        reads from what was acknowledged before; these are judged there again)."""
        if p in self.held:
            return True
        FENCED.labels("ack").inc(count)
        return False

    def _handle_of(self, p: int) -> Handle:
        """The pipeline for partition p's reader: one partition's batch at a time, so that
        the fence knows whose batch it fences."""
        async def handle(messages: Sequence[tuple[str, bytes]], received_at: datetime,
                         done: Callable[[], None], *, stamps: Sequence[datetime]) -> None:
            async with self._turn:
                if p not in self.owned:  # let go while this batch waited for its turn
                    FENCED.labels("batch").inc()
                    raise Fenced([p])
                # A registry change made through another gateway's API (a recall, an asset,
                # a trip) before these readings were sent is judged before them, as on one
                # gateway, rather than at the next poll: one query when nothing changed.
                await self.db.run(self.registry_writer.catch_up)
                self.judging = p
                self.engine.newest_judged = None
                try:
                    await self.pipeline.handle_batch(messages, received_at, done,
                                                     stamps=stamps)
                finally:
                    self.judging = None
                held, newest = self.held.get(p), self.engine.newest_judged
                if held is not None and newest is not None and (
                        held.clock is None or newest > held.clock):
                    held.clock = newest
        return handle

    async def _read(self, held: Held) -> None:
        """The partition's reader, started again (from what was acknowledged) after a
        failure of the state database, until the partition is let go."""
        assert held.reader is not None
        p = held.reader.partition
        failures = 0
        while p in self.owned and self.held.get(p) is held:
            try:
                await held.reader.run()
            except Fenced:
                return  # let go already (`fence`)
            except Exception as exc:
                failures += 1
                log.warning("reading partition %d failed (%s); reading again from what was "
                            "acknowledged", p, error_text(exc))
                await asyncio.sleep(min(10.0, 0.5 * 2 ** min(failures, 5)))
                if p in self.owned and self.held.get(p) is held:
                    with contextlib.suppress(Exception):
                        await open_reader(self.js, p, f"{held.reader.name}-{failures}")
                        held.reader.name = f"{held.reader.name}-{failures}"
                        # What comes again may still wait in the batcher, unstored: taken
                        # for duplicates it would be acknowledged before it is stored.
                        self._forget_duplicates(p)

    def _forget_duplicates(self, p: int) -> None:
        """What p's reader is given from its acknowledged floor is judged as new: this
        gateway may have marked some of it seen without storing it (a batch cut short, in
        an earlier turn or before a reader failed)."""
        n = self.settings.partitions
        self.pipeline.forget_tags(lambda tag_id: partition_of(tag_id, n) == p)

    def _given_back(self, p: int, _task: asyncio.Task[None]) -> None:
        self._giving_back.pop(p, None)

    async def _give_back(self, p: int) -> None:
        """A partition that is now another's share: stop reading it, let what was judged be
        stored and acknowledged, save its state, then give the lease back."""
        held = self.held.get(p)
        if held is None:
            return
        self.owned.discard(p)
        if held.task is not None:
            held.task.cancel()
            await asyncio.gather(held.task, return_exceptions=True)
        deadline = time.monotonic() + RELEASE_WAIT_S
        while held.reader is not None and held.reader.unacked > 0 \
                and time.monotonic() < deadline:
            self.batcher.flush_soon()
            await asyncio.sleep(0.05)
        try:
            await self.db.run(self.engine.save_state, fenced=True)
        finally:
            self.engine.drop_unsaved(self._asset_ids_of({p}))
            held.given_back = True
            if self.held.get(p) is held:
                del self.held[p]
            OWNED.set(len(self.owned))
            await self._delete_lease(f"partition.{p}", held.lease_revision)
        log.info("gave partition %d back", p)

    async def _delete_lease(self, key: str, revision: int) -> None:
        """Give a lease back, unless another holds it now (a renewal may have raised its
        revision meanwhile: then the latest, if still this gateway's)."""
        me = self.settings.gateway_id.encode()
        with contextlib.suppress(Exception):
            try:
                await self.kv.delete(key, last=revision)
            except KeyWrongLastSequenceError:
                entry = await self.kv.get(key)
                if entry.value == me and entry.revision is not None:
                    await self.kv.delete(key, last=entry.revision)

    async def _measure_lag(self) -> None:
        for p, held in list(self.held.items()):
            if held.reader is None:
                continue
            with contextlib.suppress(Exception):
                info = await self.js.consumer_info(STREAM, held.reader.name)
                LAG.labels(str(p)).set(info.num_pending or 0)

    # The relay ---------------------------------------------------------------------------

    def _holds_relay(self) -> bool:
        return (self.relay_revision is not None
                and time.monotonic() - self.relay_renewed_at < self.settings.lease_ttl_s)

    async def _relay_may_connect(self) -> None:
        """Before each connection to the broker: only the relay lease's holder, as the
        lease bucket says now, may take the shared session (taking it disconnects whoever
        had it)."""
        try:
            entry = await self.kv.get(RELAY)
        except NotFoundError:
            entry = None
        if (entry is None or entry.revision != self.relay_revision
                or not self._holds_relay()):
            raise ConnectionLost("this gateway no longer holds the relay's lease")

    async def _take_relay(self) -> None:
        try:
            revision = await self.kv.create(RELAY, self.settings.gateway_id.encode())
        except KeyWrongLastSequenceError:
            return
        self.relay_revision = revision
        self.relay_renewed_at = time.monotonic()
        self.relay_task = asyncio.create_task(self.relay_consumer.run(), name="relay")
        RELAY_HELD.set(1)
        log.info("relaying the broker's messages into JetStream")

    async def _stop_relay(self, why: str) -> None:
        log.warning("no longer relaying the broker's messages: %s", why)
        self.relay_revision = None
        RELAY_HELD.set(0)
        if self.relay_task is not None:
            self.relay_task.cancel()
            await asyncio.gather(self.relay_task, return_exceptions=True)
            self.relay_task = None

    # Leaving -------------------------------------------------------------------------------

    def joined(self) -> bool:
        """For /readyz: the membership entry renewed within its TTL."""
        return (self.joined_at is not None
                and time.monotonic() - self.joined_at < self.settings.lease_ttl_s)

    async def stop_relaying(self) -> None:
        """At shutdown, first: nothing more comes in."""
        if self.relay_task is not None:
            revision = self.relay_revision
            await self._stop_relay("shutting down")
            if revision is not None:
                with contextlib.suppress(Exception):
                    await self.kv.delete(RELAY, last=revision)

    async def stop_reading(self) -> None:
        """At shutdown: every reader stopped (what they handed on is written after)."""
        tasks = [held.task for held in self.held.values() if held.task is not None]
        self.owned.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def leave(self) -> None:
        """Every lease given back (after the gateway saved its state), so the others take
        over at once rather than after the TTL."""
        await self.stop_relaying()
        await self.stop_reading()
        for task in list(self._giving_back.values()):
            task.cancel()
        await asyncio.gather(*self._giving_back.values(), return_exceptions=True)
        for p, held in list(self.held.items()):
            held.given_back = True
            await self._delete_lease(f"partition.{p}", held.lease_revision)
            self.held.pop(p, None)
        with contextlib.suppress(Exception):
            await self.kv.delete(f"member.{self.settings.gateway_id}")
        OWNED.set(0)

