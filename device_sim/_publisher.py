"""Runs the simulated fleet against a broker: paces readings at a total rate, publishes
them over MQTT (one shared connection, or one per tag when tags log in as themselves) and
reconnects with backoff when the broker goes away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import aiomqtt

from device_sim._fleet import FleetPlan, TagPlan
from device_sim._readings import encode, is_excursing, make_malformed, make_reading

log = logging.getLogger(__name__)

_BACKOFF_MIN_S = 0.5
_BACKOFF_MAX_S = 15.0
# Behind schedule by more than this (broker stalled): drop the backlog instead of
# bursting it out, so the rate stays what was asked for.
_MAX_LAG_S = 1.0
# Sleeps shorter than this are plain sleeps; longer ones also wake up on stop.
_SHORT_SLEEP_S = 0.05
# How long links get after stop to say "offline" and disconnect before being cancelled.
_STOP_GRACE_S = 5.0
_WINDOW = 32
_PROTOCOLS = {
    "5": aiomqtt.ProtocolVersion.V5,
    "5.0": aiomqtt.ProtocolVersion.V5,
    "3.1.1": aiomqtt.ProtocolVersion.V311,
    "311": aiomqtt.ProtocolVersion.V311,
}


@dataclass
class SimConfig:
    """How to run the fleet.

    time_scale: simulated travel seconds per real second (1.0 = real road speed; raise
    it to see shipments arrive within a demo). Temperatures and battery use real time.
    """

    broker_url: str
    rate: float = 10.0
    topic_prefix: str = "tags"
    protocol: str = "5"
    tag_password: str | None = None
    qos: int = 1
    duration_s: float | None = None
    excursion_start_s: float = 10.0
    excursion_length_s: float = 90.0
    malformed_every: int = 200
    time_scale: float = 1.0


@dataclass
class SimStats:
    """Live counters, readable while the simulator runs. Counted once the publish
    succeeded; faults_injected counts messages carrying a fault (malformed payloads and
    readings inside an excursion window)."""

    sent: int = 0
    malformed_sent: int = 0
    faults_injected: int = 0


@dataclass(frozen=True)
class _Broker:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


@dataclass(frozen=True)
class _Link:
    """One MQTT connection and the tags it publishes for."""

    tags: tuple[TagPlan, ...]
    rate: float
    phase_s: float
    username: str | None
    password: str | None
    identifier: str
    will: aiomqtt.Will | None


def _parse_broker_url(url: str) -> _Broker:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"broker_url must look like mqtt://[user:pass@]host:port, got {url!r}")
    tls = parts.scheme == "mqtts"
    return _Broker(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def _validate(plan: FleetPlan, config: SimConfig) -> aiomqtt.ProtocolVersion:
    if not plan.tags:
        raise ValueError("the fleet plan has no tags")
    if config.rate <= 0:
        raise ValueError(f"rate must be > 0 readings/s, got {config.rate}")
    if config.qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {config.qos}")
    if config.protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be '5' or '3.1.1', got {config.protocol!r}")
    return _PROTOCOLS[config.protocol]


class _FleetRun:
    """State shared by all links of one run: clock, per-tag sequence numbers, stats."""

    def __init__(self, plan: FleetPlan, config: SimConfig, stats: SimStats) -> None:
        self.plan, self.config, self.stats = plan, config, stats
        self.broker = _parse_broker_url(config.broker_url)
        self.protocol = _validate(plan, config)
        self.halt = asyncio.Event()
        self.started = asyncio.get_running_loop().time()
        self._seq = {t.tag_id: 0 for t in plan.tags}

    def links(self) -> list[_Link]:
        cfg, tags = self.config, self.plan.tags
        if cfg.tag_password is None:
            ident = f"boomerang-sim-{uuid.uuid4().hex[:8]}"
            b = self.broker
            return [_Link(tags, cfg.rate, 0.0, b.username, b.password, ident, None)]
        # One connection per tag, each at its share of the rate, phased so that the
        # fleet as a whole still sends evenly spaced readings.
        per_tag = cfg.rate / len(tags)
        return [
            _Link(
                tags=(t,),
                rate=per_tag,
                phase_s=i / cfg.rate,
                username=t.tag_id,
                password=cfg.tag_password,
                identifier=f"boomerang-sim-{t.tag_id}",
                will=aiomqtt.Will(self._topic(t, "status"), b"offline", qos=1, retain=True),
            )
            for i, t in enumerate(tags)
        ]

    def _topic(self, tag: TagPlan, leaf: str) -> str:
        return f"{self.config.topic_prefix}/{tag.tag_id}/{leaf}"

    def _next_payload(self, tag: TagPlan) -> tuple[bytes, bool, bool]:
        """(payload, is_malformed, carries_fault) for the tag's next message."""
        cfg = self.config
        seq = self._seq[tag.tag_id]
        self._seq[tag.tag_id] = seq + 1
        now = datetime.now(UTC)
        every = cfg.malformed_every
        # seq 0 is a malformed slot, so the fault shows up at once in a demo.
        if "malformed" in tag.faults and every > 0 and seq % every == 0:
            return make_malformed(tag, seq, seq // every, now), True, True
        elapsed = asyncio.get_running_loop().time() - self.started
        reading = make_reading(
            tag,
            seq,
            elapsed,
            now,
            excursion_start_s=cfg.excursion_start_s,
            excursion_length_s=cfg.excursion_length_s,
            time_scale=cfg.time_scale,
        )
        fault = is_excursing(tag, elapsed, cfg.excursion_start_s, cfg.excursion_length_s)
        return encode(reading), False, fault

    async def _sleep(self, seconds: float) -> None:
        if seconds < _SHORT_SLEEP_S:
            await asyncio.sleep(seconds)
            return
        await _wait_event(self.halt, seconds)

    async def run_link(self, link: _Link) -> None:
        """Keep the link connected and publishing until halt; reconnect with backoff."""
        b = self.broker
        backoff = _BACKOFF_MIN_S
        while not self.halt.is_set():
            client = aiomqtt.Client(
                b.host,
                b.port,
                username=link.username,
                password=link.password,
                identifier=link.identifier,
                protocol=self.protocol,
                will=link.will,
                tls_context=ssl.create_default_context() if b.tls else None,
            )
            try:
                async with client:
                    backoff = _BACKOFF_MIN_S
                    await self._announce(client, link, b"online")
                    await self._publish_paced(client, link)
                    await self._announce(client, link, b"offline")
                    return
            except aiomqtt.MqttError as exc:
                delay = backoff * random.uniform(0.75, 1.25)
                log.warning(
                    "broker %s:%s as %s: %s; retrying in %.1fs",
                    b.host,
                    b.port,
                    link.username or "anonymous",
                    exc,
                    delay,
                )
                await self._sleep(delay)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _announce(self, client: aiomqtt.Client, link: _Link, state: bytes) -> None:
        for tag in link.tags:
            await client.publish(self._topic(tag, "status"), state, qos=1, retain=True)

    async def _publish_paced(self, client: aiomqtt.Client, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / link.rate
        next_due = loop.time() + link.phase_s
        tags = link.tags
        # QoS 1/2 publishes wait for the broker's ack; a small window of them in flight
        # keeps that round trip from capping the rate (measured: ~3k/s -> ~6k/s).
        inflight: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []
        client.pending_calls_threshold = _WINDOW + 1  # the window is intended; no warnings

        def reap(task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:
                failures.append(exc)

        i = 0
        try:
            while not self.halt.is_set():
                if failures:
                    raise failures[0]
                delay = next_due - loop.time()
                if delay > 0:
                    await self._sleep(delay)
                    if self.halt.is_set():
                        break
                elif delay < -_MAX_LAG_S:
                    next_due = loop.time()
                elif i % 64 == 0:
                    # QoS 0 publishes complete without yielding; let the loop breathe.
                    await asyncio.sleep(0)
                if len(inflight) >= _WINDOW:
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                tag = tags[i % len(tags)]
                i += 1
                # Built here, not in the task, so seq order is publish order.
                payload, malformed, fault = self._next_payload(tag)
                topic = self._topic(tag, "telemetry")
                task = asyncio.create_task(
                    self._publish_one(client, topic, payload, malformed, fault)
                )
                task.add_done_callback(reap)
                inflight.add(task)
                next_due += interval
            if inflight:
                await asyncio.gather(*inflight)
        finally:
            for task in list(inflight):
                task.cancel()

    async def _publish_one(
        self, client: aiomqtt.Client, topic: str, payload: bytes, malformed: bool, fault: bool
    ) -> None:
        await client.publish(topic, payload, qos=self.config.qos)
        self.stats.sent += 1
        self.stats.malformed_sent += malformed
        self.stats.faults_injected += fault


async def _wait_stop(stop: asyncio.Event | None, duration_s: float | None) -> None:
    waiter = stop if stop is not None else asyncio.Event()
    if duration_s is None:
        await waiter.wait()
    else:
        await _wait_event(waiter, duration_s)


async def run_simulator(
    plan: FleetPlan,
    config: SimConfig,
    *,
    stats: SimStats | None = None,
    stop: asyncio.Event | None = None,
) -> SimStats:
    """Publish the plan's readings until `stop` is set or `config.duration_s` has passed.

    `stats` is updated live. Connection problems are logged and retried, never raised;
    a bad config raises ValueError before anything connects.
    """
    stats = stats if stats is not None else SimStats()
    run = _FleetRun(plan, config, stats)

    async def supervise(link_tasks: list[asyncio.Task[None]]) -> None:
        await _wait_stop(stop, config.duration_s)
        run.halt.set()
        _, late = await asyncio.wait(link_tasks, timeout=_STOP_GRACE_S)
        for task in late:
            task.cancel()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run.run_link(link)) for link in run.links()]
            group.create_task(supervise(tasks))
    except ExceptionGroup as eg:
        # Callers deal in one error at a time; surface the first (the rest are chained).
        raise eg.exceptions[0] from eg
    return stats


async def _wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation (gh-86296). The
    simulator speaks only the wire contract, so it keeps this copy rather than import the
    gateway's (ingest.waiting)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
