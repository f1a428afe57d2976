"""The composition root: builds every part from the settings, wires the flow
(broker -> ingest -> sinks and rules -> alerts -> webhooks) and owns start-up and shut-down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from alerts import (
    AlertEvent,
    AlertStore,
    EnginePolicy,
    Profile,
    RuleEngine,
    SubscriptionStore,
    UrlPolicy,
    WebhookDispatcher,
    WebhookOutbox,
)
from alerts import _metrics as alert_metrics
from alerts.eta import LANE_KEEPS
from alerts.routing import Costs
from gateway.api import create_api
from gateway.cluster import Cluster
from gateway.migrations import upgrade
from gateway.registry import AssetRegistry, KeyStore, PlaceRegistry
from gateway.registry.changes import RegistryRevision
from gateway.registry.trips import TripStore
from gateway.services import (
    AlertService,
    AnalyticsService,
    AssetService,
    DeadLetterService,
    GeofenceService,
    KeyService,
    ProfileService,
    RecallService,
    RegistryWriter,
    Services,
    SpeakerService,
    SubscriptionService,
)
from gateway.services.trips import Router, StoredTrips, TripService
from gateway.settings import Settings
from gateway.snapshots import Snapshots
from gateway.trip_points import TripPoints
from ingest import DeadLetterStore, IngestPipeline, MqttConsumer
from ingest import _metrics as ingest_metrics
from ingest.decoders import (
    Decoder,
    NativeDecoder,
    OwnTracksDecoder,
    ReadingBounds,
    ThingsStackDecoder,
)
from ingest.ratelimit import TagRateLimiter
from ingest.sinks import (
    InfluxQLTelemetryReader,
    InfluxV1Sink,
    InfluxV2Sink,
    Point,
    PointBatcher,
    Spool,
    SqliteTelemetryReader,
    SqliteTelemetrySink,
    TelemetryReader,
    TelemetrySink,
)
from ingest.speakers import TagSpeakers
from ingest.statedb import StateDb

LANES_LEARN_FROM = timedelta(days=180)
"""The arrivals the lanes' speeds are learnt from at start: carriers and roads change."""

log = logging.getLogger(__name__)


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets; call inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def utc_now() -> datetime:
    return datetime.now(UTC)


def private_data_dir(settings: Settings) -> None:
    """The data directory, readable by this user alone (0700), with its databases (0600)
    made before SQLite opens them: they hold API key hashes, webhook secrets, payloads. A
    directory or file from an older gateway is tightened too. SQLite gives a database's WAL
    and shared-memory files the database's own permissions."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    used = [settings.state_db] if settings.state_db is not None else []
    if settings.influx_url is None:
        used.append(settings.telemetry_db)
    elif settings.spooling:
        used.append(settings.spool_db)
    for path in used:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        path.chmod(0o600)
        for companion in (path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            if companion.exists():
                companion.chmod(0o600)


def open_state_db(settings: Settings) -> StateDb:
    """The state database for synchronous use (the CLI, tests), migrated to this gateway's
    schema before any store reads it."""
    private_data_dir(settings)
    return migrated_state_db(settings.state_database)


def migrated_state_db(url: str) -> StateDb:
    """The state database at `url`, migrated to this gateway's schema (closed again should
    the migration fail)."""
    db = StateDb.open(url)
    try:
        upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


def reading_bounds(settings: Settings) -> ReadingBounds:
    return ReadingBounds(ts_min=settings.reading_ts_min,
                         max_future=timedelta(seconds=settings.reading_max_future_s))


DECODERS: dict[str, Callable[[Settings], Decoder]] = {
    "native": lambda settings: NativeDecoder(settings.topic_prefix, reading_bounds(settings)),
    "owntracks": lambda settings: OwnTracksDecoder(reading_bounds(settings)),
    "things_stack": lambda settings: ThingsStackDecoder(reading_bounds(settings)),
}


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(settings.webhook_allow_private, settings.webhook_allowed_networks)


def _influx_password(settings: Settings) -> str | None:
    return settings.influx_password.get_secret_value() if settings.influx_password else None


def _influx_token(settings: Settings) -> str:
    assert settings.influx_token is not None  # checked by Settings for this store
    return settings.influx_token.get_secret_value()


SINKS: dict[str, Callable[[Settings], TelemetrySink]] = {
    "sqlite": lambda settings: SqliteTelemetrySink(settings.telemetry_db),
    "influx_v1": lambda settings: InfluxV1Sink(
        str(settings.influx_url), settings.influx_db, settings.influx_user,
        _influx_password(settings)),
    "influx_v2": lambda settings: InfluxV2Sink(
        str(settings.influx_url), settings.influx_org or "", settings.influx_bucket or "",
        _influx_token(settings)),
}
"""The telemetry sink of each kind of store (Settings.telemetry_store)."""

# InfluxQL over v1 `/query` reads back what both write APIs write: with a token, the
# database is the bucket (its DBRP mapping on 2.x).
READERS: dict[str, Callable[[Settings], TelemetryReader]] = {
    "sqlite": lambda settings: SqliteTelemetryReader(settings.telemetry_db),
    "influx_v1": lambda settings: InfluxQLTelemetryReader(
        str(settings.influx_url), settings.influx_db, user=settings.influx_user,
        password=_influx_password(settings)),
    "influx_v2": lambda settings: InfluxQLTelemetryReader(
        str(settings.influx_url), settings.influx_bucket or "", token=_influx_token(settings)),
}
"""What reads back each kind of store's telemetry, for the API."""


def build_sink(settings: Settings) -> TelemetrySink:
    return SINKS[settings.telemetry_store](settings)


def build_reader(settings: Settings) -> TelemetryReader:
    return READERS[settings.telemetry_store](settings)


def alert_point(event: AlertEvent) -> Point:
    alert = event.alert
    return Point(
        "alerts",
        {"asset_id": alert.asset_id, "kind": str(alert.kind), "severity": str(alert.severity)},
        {
            "alert_id": alert.id,
            "state": str(alert.state),
            "summary": alert.summary,
            "value": float(alert.value) if alert.value is not None else 0.0,
        },
        alert.updated_at or alert.opened_at,
    )


class EmbeddedApiServer(uvicorn.Server):
    """Uvicorn inside our own loop: the gateway, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Gateway:
    settings: Settings
    db: StateDb
    registry: AssetRegistry
    places: PlaceRegistry
    keys: KeyStore
    dead_letters: DeadLetterStore
    alerts: AlertStore
    subscriptions: SubscriptionStore
    outbox: WebhookOutbox
    engine: RuleEngine
    dispatcher: WebhookDispatcher
    batcher: PointBatcher
    pipeline: IngestPipeline
    speakers: TagSpeakers
    consumer: MqttConsumer
    telemetry: TelemetryReader
    snapshots: Snapshots
    registry_writer: RegistryWriter
    services: Services
    started_at: datetime = field(default_factory=utc_now)
    api_port: int | None = None
    cluster: Cluster | None = None
    """With BOOMERANG_NATS_URL: this gateway's part in a cluster (gateway/cluster.py)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        extra_profiles: Sequence[Profile] = (),
        clock: Callable[[], datetime] = utc_now,
    ) -> AsyncIterator[Gateway]:
        """Every part built and the state loaded; on leaving, each closed in reverse order
        of opening, whatever happened in between. Inside the event loop (the MQTT client
        and the queues bind to it)."""
        async with contextlib.AsyncExitStack() as stack:
            private_data_dir(settings)
            db = StateDb.open_for_loop(settings.state_database)
            stack.push_async_callback(db.aclose)
            await db.run(upgrade, db)  # before any store reads it
            delivering = db
            if db.is_postgresql:
                # The dispatcher on a connection of its own: its queries then wait on no
                # batch of the rules, and its advisory locks (the claims) are its session's.
                delivering = StateDb.open_for_loop(settings.state_database)
                stack.push_async_callback(delivering.aclose)
            gateway = await db.run(cls._build, settings, db, delivering, extra_profiles, clock)
            stack.push_async_callback(gateway.batcher.sink.close)
            stack.push_async_callback(gateway.telemetry.close)
            if gateway.batcher.spool is not None:
                stack.callback(gateway.batcher.spool.close)
            if settings.nats_url is not None:
                gateway.cluster = await stack.enter_async_context(Cluster.open(
                    settings, db=db, engine=gateway.engine, registry=gateway.registry,
                    registry_writer=gateway.registry_writer, pipeline=gateway.pipeline,
                    batcher=gateway.batcher, relay_consumer=gateway.consumer))
            yield gateway

    @classmethod
    def _build(cls, settings: Settings, db: StateDb, delivering: StateDb,
               extra_profiles: Sequence[Profile], clock: Callable[[], datetime]) -> Gateway:
        """Through the state database's runner: the stores load what they keep in memory.
        `delivering`: the webhook dispatcher's connection (PostgreSQL), or `db` itself."""
        run = db.run
        registry = AssetRegistry(db)
        alert_store = AlertStore(db)
        subscriptions = SubscriptionStore(db)
        outbox = WebhookOutbox(db)
        places = PlaceRegistry(db)
        policy = EnginePolicy(
            overdue_grace=timedelta(seconds=settings.overdue_grace_s),
            overdue_escalate_after=timedelta(seconds=settings.overdue_escalate_after_s),
            disposition_quarantine_on=settings.disposition_quarantine_on,
            disposition_inspect_on=settings.disposition_inspect_on,
            departure_radius_m=settings.departure_radius_m,
            eta_default_speed_kmh=settings.eta_default_speed_kmh,
            eta_change=timedelta(minutes=settings.eta_change_min),
            late_probability=settings.late_predicted_probability,
        )
        trip_store = TripStore(db)
        policy = policy.with_disposition_rules(trip_store.disposition_rules())
        engine = RuleEngine(alert_store, outbox, subscriptions, clock, policy=policy,
                            bindings=registry.bindings)
        router = Router(trip_store, engine, Costs(per_km=settings.routing_cost_per_km,
                                                  road_factor=settings.routing_road_factor))
        engine.trips = StoredTrips(trip_store, router)
        # The lanes' speeds from the trips that arrived lately: estimates need no warm-up.
        engine.lanes.learn_all(trip_store.transits(clock() - LANES_LEARN_FROM, LANE_KEEPS))
        engine.asset_state_changed = registry.set_state
        fixed_profiles = {**engine.profiles, **{p.name: p for p in extra_profiles}}
        for profile in [*extra_profiles, *places.profiles()]:
            engine.upsert_profile(profile)
        for fence in places.geofences():
            engine.upsert_geofence(fence)
        # Loaded, not judged: what was due when the gateway stopped is judged by the timer,
        # and recalls by the readings and the timer, as always.
        engine.upsert_assets(registry.assets(), judge=False)
        engine.keep_recalls(registry.recalls())
        dispatcher = WebhookDispatcher(
            WebhookOutbox(delivering), SubscriptionStore(delivering),
            retry_schedule_s=settings.webhook_retry_schedule_s,
            timeout_s=settings.webhook_timeout_s, url_policy=url_policy(settings),
            run=delivering.run,
        )
        engine.outbox_written = dispatcher.wake
        dead_letters = DeadLetterStore(
            db, max_total=settings.dead_letter_max, max_per_tag=settings.dead_letter_max_per_tag,
            max_bytes=settings.dead_letter_max_bytes,
            max_bytes_per_tag=settings.dead_letter_max_bytes_per_tag,
            payload_bytes=settings.dead_letter_payload_bytes)
        spool = Spool(settings.spool_db, settings.spool_max_points) if settings.spooling else None
        batcher = PointBatcher(
            build_sink(settings),
            max_points=settings.batch_max_points,
            max_delay_s=settings.batch_max_delay_s,
            spool=spool,
        )
        speakers = TagSpeakers(db, owntracks_devices_per_user=settings.owntracks_devices_per_user)
        pipeline = IngestPipeline(
            decoders=[DECODERS[name](settings) for name in settings.decoders],
            batcher=batcher,
            dead_letters=dead_letters,
            binding_of=registry.binding_of,
            judge=engine.judge_readings,
            speakers=speakers,
            rate_limiter=(TagRateLimiter(settings.tag_rate_max_per_s, settings.tag_rate_burst,
                                         backlog_s=settings.mqtt_session_expiry_s)
                          if settings.tag_rate_max_per_s else None),
            run=run,
        )
        batcher.on_rejected = pipeline.dead_letter_points
        batcher.before_acknowledging = lambda: run(engine.save_state)
        engine.listeners.append(
            lambda event: batcher.offer([alert_point(event)])
            if isinstance(event, AlertEvent) else None
        )
        snapshots = Snapshots(
            engine, batcher.offer,
            rules_now=lambda: engine.watermark if settings.clock == "event" else engine.now(),
            asset_interval_s=settings.snapshot_interval_s,
            stats_interval_s=settings.stats_interval_s,
            instance=settings.gateway_id if settings.nats_url else settings.mqtt_client_id,
            started_at=utc_now(), run=run, stored=batcher.stored)
        engine.listeners.append(snapshots.on_event)
        engine.listeners.append(TripPoints(engine, batcher.offer).on_event)
        mqtt = settings.mqtt
        consumer = MqttConsumer(
            host=mqtt.host, port=mqtt.port, username=mqtt.username, password=mqtt.password,
            tls=settings.mqtt_ssl_context(), client_id=settings.mqtt_client_id,
            protocol=settings.mqtt_protocol,
            session_expiry_s=settings.mqtt_session_expiry_s,
            receive_maximum=settings.mqtt_receive_maximum,
            shared_group=settings.shared_group, topic_filters=pipeline.topic_filters(),
            handle=pipeline.handle_batch, unacked_high=batcher.flush_soon,
        )
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        keys = KeyStore(db, admin)
        writer = RegistryWriter(db, engine, RegistryRevision(db), registry, places, speakers,
                                fixed_profiles, judges=settings.ingest, trips=trip_store)

        def rules_now() -> datetime:
            if settings.clock == "event" and engine.watermark is not None:
                return engine.watermark
            return engine.now()

        engine.rules_now = rules_now
        trips = TripService(db, trip_store, registry, writer, router, rules_now)
        services = Services(
            trips=trips,
            assets=AssetService(db, registry, writer, trips),
            recalls=RecallService(db, registry, writer),
            profiles=ProfileService(db, places, registry, writer),
            geofences=GeofenceService(db, places, writer),
            alerts=AlertService(db, alert_store, engine),
            subscriptions=SubscriptionService(
                db, subscriptions, outbox, dispatcher, url_policy(settings),
                timedelta(seconds=settings.webhook_secret_overlap_s)),
            keys=KeyService(db, keys),
            dead_letters=DeadLetterService(db, dead_letters),
            speakers=SpeakerService(db, speakers, writer),
            analytics=AnalyticsService(db, rules_now),
        )
        return cls(
            settings=settings, db=db, registry=registry, places=places, keys=keys,
            dead_letters=dead_letters, alerts=alert_store, subscriptions=subscriptions,
            outbox=outbox, engine=engine, dispatcher=dispatcher, batcher=batcher,
            pipeline=pipeline, speakers=speakers, consumer=consumer,
            telemetry=build_reader(settings), snapshots=snapshots, registry_writer=writer,
            services=services,
        )

    # Parts that run ---------------------------------------------------------------------

    def timer_now(self) -> datetime | None:
        """The rules' clock for the timer and the snapshots: on event time the newest reading
        time seen, None before the first."""
        return self.engine.watermark if self.settings.clock == "event" else self.engine.now()

    async def run_timer(self) -> None:
        """Timer-driven rules see every asset, whether it reports or not; on event time
        (BOOMERANG_CLOCK=event) their now is the newest reading time seen."""
        while True:
            now = self.timer_now()
            if now is not None:
                try:
                    if self.cluster is not None and self.settings.clock == "event":
                        # Each partition on its own clock (gateway.cluster.Held.clock).
                        for clock, only in self.cluster.event_clocks():
                            await self.db.run(self.engine.tick, clock, only=only)
                    else:
                        await self.db.run(self.engine.tick, now)
                except Exception:
                    # The state store failing (the engine guards each asset itself): the
                    # next tick tries again, the rest of the gateway goes on.
                    log.exception("the timer-driven rules failed; trying again at the next tick")
            await asyncio.sleep(self.settings.timer_interval_s)

    async def run_snapshots(self) -> None:
        """The fleet's `asset_states` snapshots on the rules' clock, beside the timer rather
        than in it: a snapshot waits for the telemetry store part by part, and a store that
        does not take points (InfluxDB down in a cluster, which keeps no spool) must not
        hold up the overdue and silent rules."""
        while True:
            now = self.timer_now()
            if now is not None:
                try:
                    await self.snapshots.on_rules_clock(now)
                except Exception:
                    log.exception("the asset snapshot failed; trying again at the next tick")
            await asyncio.sleep(self.settings.timer_interval_s)

    async def run_registry_sync(self) -> None:
        """Another gateway on the same state database may change the registry through its
        API: its revision, looked at every BOOMERANG_REGISTRY_POLL_S, says when to reload."""
        while True:
            await asyncio.sleep(self.settings.registry_poll_s)
            try:
                if await self.db.run(self.registry_writer.catch_up):
                    log.info("registry changed by another gateway: reloaded (revision %d)",
                             self.registry_writer.loaded_revision)
            except Exception:
                log.exception("reloading the registry failed; trying again")

    async def run_stats(self) -> None:
        if not self.settings.stats_interval_s:
            return
        while True:
            await self.refresh_gauges()
            self.snapshots.on_wall_clock(utc_now())
            await asyncio.sleep(self.settings.stats_interval_s)

    async def refresh_gauges(self) -> None:
        """The gauges read off the parts when asked: for /metrics and gateway_stats."""
        ingest_metrics.BUFFERED.set(self.batcher.buffered)
        spool = self.batcher.spool
        ingest_metrics.SPOOLED.set(spool.points if spool is not None else 0)
        ingest_metrics.SPOOL_FULL.set(int(self.batcher.spool_full))
        alert_metrics.OUTBOX_PENDING.set(await self.db.run(self.outbox.pending_count))

    async def readiness(self) -> dict[str, bool]:
        if self.db.busy_and_working(within_s=10.0):
            # Under a burst the state database's calls queue; a probe that waited its turn
            # could time out while the store works fine.
            state_ok = True
        else:
            try:
                state_ok = await self.db.run(self.state_writable)
            except Exception:  # cannot even connect
                state_ok = False
        checks = {
            "broker_connected": self.consumer.connected.is_set(),
            "telemetry_sink_writable": self.batcher.healthy,
            "spool_not_full": not self.batcher.spool_full,
            "state_store_writable": state_ok,
        }
        if self.cluster is not None:
            # One gateway of a cluster holds the broker's session; each must be a member.
            del checks["broker_connected"]
            checks["cluster_joined"] = self.cluster.joined()
        elif not self.settings.ingest:
            del checks["broker_connected"]  # it consumes nothing
        return checks

    def state_writable(self) -> bool:
        """Whether the state database takes a write now (a locked, full, read-only or
        unreachable one does not); nothing is written."""
        try:
            conn = self.db.conn
            if conn.in_transaction():
                return True  # writing this moment
            if self.db.is_postgresql:
                with conn.begin() as transaction:
                    # A transaction id is what a read-only server (a standby) cannot give.
                    conn.execute(text("SELECT txid_current()"))
                    transaction.rollback()
            else:
                raw = conn.connection.driver_connection
                assert raw is not None
                raw.execute("BEGIN IMMEDIATE")  # takes SQLite's write lock, or fails
                raw.execute("ROLLBACK")
            return True
        except (SQLAlchemyError, sqlite3.Error):
            return False

    # Lifecycle ----------------------------------------------------------------------------

    async def _shut_down(self, ingest: list[asyncio.Task[None]], batcher: asyncio.Task[None],
                         dispatcher: asyncio.Task[None]) -> None:
        """Stop consuming, write what is buffered, let deliveries under way end, all within
        BOOMERANG_SHUTDOWN_TIMEOUT_S. Whatever is cut short is safe: unwritten points belong
        to unacknowledged messages, which the broker delivers again, and a delivery cut
        short is retried after the restart."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_timeout_s
        for task in ingest:
            task.cancel()
        await asyncio.gather(*ingest, return_exceptions=True)
        if self.cluster is not None:
            await self.cluster.stop_relaying()
            await self.cluster.stop_reading()
        await self.batcher.close()
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                await asyncio.gather(batcher, return_exceptions=True)
        except TimeoutError:
            log.warning("shutdown: %d points not written in time; the broker delivers their "
                        "messages again", self.batcher.buffered)
            batcher.cancel()
            await asyncio.gather(batcher, return_exceptions=True)
        try:
            await self.db.run(self.engine.save_state)
        except Exception:
            log.exception("shutdown: the rule state could not be saved; the readings that "
                          "changed it were not acknowledged, and come again")
        cut = await self.dispatcher.finish(deadline - loop.time())
        if cut:
            log.warning("shutdown: %d webhook deliveries cut short; they are retried after "
                        "the restart", cut)
        dispatcher.cancel()
        await asyncio.gather(dispatcher, return_exceptions=True)

    async def run(self, stop: asyncio.Event, *, serve_api: bool = True) -> None:
        """Run every part until `stop` is set, then shut down in order: stop consuming,
        flush the telemetry batches, stop delivering, stop answering. (Closing the stores
        and the sink is `open`'s, on leaving.)"""
        sink = self.batcher.sink
        # In the background: an InfluxDB that does not answer must not hold up the start
        # (writes before the database exists fail as any write to a server not ready does).
        ensure_database = asyncio.create_task(
            sink.ensure_database() if isinstance(sink, InfluxV1Sink) else asyncio.sleep(0),
            name="ensure-database")
        batcher_task = asyncio.create_task(self.batcher.run(), name="batcher")
        dispatcher_task = asyncio.create_task(self.dispatcher.run(), name="webhooks")
        ingest: list[asyncio.Task[None]] = []
        if self.cluster is not None:
            # The cluster runs the relay (the broker's consumer) and the partitions' readers
            # as its leases say.
            ingest = [asyncio.create_task(self.cluster.run(), name="cluster")]
        elif self.settings.ingest:
            ingest = [asyncio.create_task(self.consumer.run(), name="mqtt")]
        if ingest:
            ingest += [asyncio.create_task(self.run_timer(), name="timer"),
                       asyncio.create_task(self.run_snapshots(), name="snapshots")]
        background = [asyncio.create_task(self.run_stats(), name="stats"),
                      asyncio.create_task(self.run_registry_sync(), name="registry-sync")]
        api_task: asyncio.Task[None] | None = None
        server: EmbeddedApiServer | None = None
        try:
            if serve_api:
                server, api_task = await self._serve_api()
            parts = [batcher_task, dispatcher_task, *ingest, *([api_task] if api_task else [])]
            stop_task = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stop_task, *parts],
                                         return_when=asyncio.FIRST_COMPLETED)
            stop_task.cancel()
            for task in done:
                if task is not stop_task and task.exception() is not None:
                    log.error("%s stopped: %r", task.get_name(), task.exception())
        finally:
            for task in [*background, ensure_database]:
                task.cancel()
            await self._shut_down(ingest, batcher_task, dispatcher_task)
            if server is not None and api_task is not None:
                server.should_exit = True
                await asyncio.gather(api_task, return_exceptions=True)
            await asyncio.gather(*background, ensure_database, return_exceptions=True)
            log.info("gateway stopped")

    async def _serve_api(self) -> tuple[EmbeddedApiServer, asyncio.Task[None]]:
        config = uvicorn.Config(
            create_api(self), host=self.settings.api_host, port=self.settings.api_port,
            log_level="warning", lifespan="off",
        )
        server = EmbeddedApiServer(config)
        api_task = asyncio.create_task(server.serve(), name="api")
        # uvicorn offers only a flag for "listening", no event to await.
        while not server.started and not api_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if api_task.done():
            api_task.result()  # raises the bind error, for example
            raise RuntimeError(
                f"REST API could not listen on {self.settings.api_host}:"
                f"{self.settings.api_port} (BOOMERANG_API_HOST / BOOMERANG_API_PORT)"
            )
        self.api_port = server.servers[0].sockets[0].getsockname()[1]
        log.info("REST API on http://%s:%d (docs at /docs)", self.settings.api_host,
                 self.api_port)
        return server, api_task
