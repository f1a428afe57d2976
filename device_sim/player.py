"""Plays a compiled scenario (device_sim.timeline) against a broker, in simulated time
accelerated by `time_scale`: an emission due `d` simulated seconds after the start goes out
`d / time_scale` wall seconds after the player starts. Each emission is published as its
own MQTT user (the tag's login), so the broker's ACL applies as it would to real tags: an
impersonating tag is refused there, not here."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from device_sim._publisher import _parse_broker_url
from device_sim.timeline import Emission, Timeline

_PROTOCOLS = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}


@dataclass
class PlayStats:
    """What went out: for the progress display and the summary."""

    total: int = 0
    sent: int = 0
    refused: int = 0  # the broker answered a publish with an error (an ACL, for example)
    faults: Counter[str] = field(default_factory=Counter)
    simulated_s: float = 0.0  # how far into the scenario, simulated seconds
    span_s: float = 0.0  # the whole scenario, simulated seconds
    # The furthest behind schedule, wall seconds: a stalled broker or machine delays
    # emissions rather than dropping them, since the verdict needs every one.
    worst_lag_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def figures(self) -> dict[str, object]:
        elapsed = time.monotonic() - self.started
        return {"sent": self.sent, "refused": self.refused, "of": self.total,
                "faults": dict(sorted(self.faults.items())),
                "elapsed_s": round(elapsed, 1), "worst_lag_s": round(self.worst_lag_s, 2),
                "messages_per_s": round(self.sent / elapsed, 1) if elapsed > 0 else None}


async def play(
    timeline: Timeline,
    *,
    broker_url: str,
    password: str | None,
    time_scale: float | None = None,
    protocol: str = "5",
    on_progress: Callable[[PlayStats], None] = lambda _stats: None,
    stats: PlayStats | None = None,
) -> PlayStats:
    """Publish every emission at its time; returns when the last one is acknowledged."""
    scale = time_scale or timeline.time_scale
    if scale <= 0:
        raise ValueError(f"time_scale must be positive, got {scale}")
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be 5 or 3.1.1, got {protocol!r}")
    stats = stats or PlayStats()
    stats.total = len(timeline.emissions)
    stats.span_s = (timeline.end - timeline.start).total_seconds()
    broker = _parse_broker_url(broker_url)
    users = sorted({e.username for e in timeline.emissions})
    refused: set[str] = set()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, aiomqtt.Client] = {}
        for user in users:
            client = aiomqtt.Client(
                broker.host, broker.port, username=user,
                password=password if password is not None else broker.password,
                identifier=f"sim-{timeline.scenario}-{user}"[:64],
                protocol=_PROTOCOLS[protocol],
                tls_context=ssl.create_default_context() if broker.tls else None,
            )
            clients[user] = await stack.enter_async_context(client)
            _watch_refusals(client, user, refused)
        loop = asyncio.get_running_loop()
        wall_start = loop.time()
        stats.started = time.monotonic()
        last_progress = 0.0
        for emission in timeline.emissions:
            offset_s = (emission.at - timeline.start).total_seconds()
            delay = wall_start + offset_s / scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.worst_lag_s = max(stats.worst_lag_s, -delay)
            await _publish(clients[emission.username], emission, stats, refused)
            stats.simulated_s = offset_s
            if loop.time() - last_progress >= 0.2:
                on_progress(stats)
                last_progress = loop.time()
        on_progress(stats)
    return stats


def _watch_refusals(client: aiomqtt.Client, user: str, refused: set[str]) -> None:
    """aiomqtt completes a QoS 1 publish whatever the PUBACK's reason code says; an MQTT v5
    broker refusing it (an ACL: reason 135, not authorized) is visible only to paho's
    callback. Publishes go out one at a time, so a refusal belongs to the one awaited."""
    paho = client._client
    forward: Any = paho.on_publish  # aiomqtt's, with paho's VERSION2 signature

    def on_publish(paho_client: Any, userdata: Any, mid: int, reason: ReasonCode,
                   properties: Any) -> None:
        if reason.is_failure:
            refused.add(user)
        forward(paho_client, userdata, mid, reason, properties)

    paho.on_publish = on_publish


async def _publish(client: aiomqtt.Client, emission: Emission, stats: PlayStats,
                   refused: set[str]) -> None:
    try:
        await client.publish(emission.topic, emission.payload, qos=emission.qos)
    except aiomqtt.MqttCodeError:
        refused.add(emission.username)
    if emission.username in refused:
        refused.discard(emission.username)
        stats.refused += 1
    else:
        stats.sent += 1
    if emission.fault:
        stats.faults[emission.fault] += 1
