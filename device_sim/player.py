"""Plays a compiled scenario (device_sim.timeline) against a broker, in simulated time
accelerated by `time_scale`: an emission due `d` simulated seconds after the start goes out
`d / time_scale` wall seconds after the player starts. Each emission is published as its
own MQTT user (the tag's login), so the broker's ACL applies as it would to real tags: an
impersonating tag is refused there, not here.

A timeline with REST calls (`Timeline.actions`: trips opened and inspected, recalls
announced) has them made at their simulated times too, in one sequence with the emissions: a
call goes out after every emission due before it and is answered before the next goes out,
so the gateway sees them in the order the ground truth assumes."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiomqtt
import httpx
from paho.mqtt.reasoncodes import ReasonCode

from device_sim._lifecycle import ApiAction
from device_sim._publisher import _parse_broker_url
from device_sim.timeline import Emission, Timeline

_PROTOCOLS = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}
# How long a call waits, in wall seconds, for the gateway to move a trip on telemetry (an
# inspection waits for the arrival): the readings are out, only ingest is left.
WAIT_FOR_STATUS_S = 30.0
POLL_S = 0.05
# Failed calls kept word for word in the figures (the count is kept of all).
KEPT_ERRORS = 10


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
    api_total: int = 0
    api_calls: int = 0  # answered 2xx
    api_failed: int = 0
    api_by_purpose: Counter[str] = field(default_factory=Counter)
    api_errors: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, object]:
        elapsed = time.monotonic() - self.started
        figures: dict[str, object] = {
            "sent": self.sent, "refused": self.refused, "of": self.total,
            "faults": dict(sorted(self.faults.items())),
            "elapsed_s": round(elapsed, 1), "worst_lag_s": round(self.worst_lag_s, 2),
            "messages_per_s": round(self.sent / elapsed, 1) if elapsed > 0 else None}
        if self.api_total:
            figures["api"] = {"made": self.api_calls, "failed": self.api_failed,
                              "of": self.api_total,
                              "by_purpose": dict(sorted(self.api_by_purpose.items())),
                              "errors": list(self.api_errors)}
        return figures


def schedule(timeline: Timeline) -> list[Emission | ApiAction]:
    """Emissions and REST calls in the one order they are played: by simulated time, a call
    before the emissions due at the same moment (a trip exists before its readings come)."""
    steps: list[tuple[datetime, int, int, Emission | ApiAction]] = [
        (action.at, 0, i, action) for i, action in enumerate(timeline.actions)]
    steps += [(emission.at, 1, i, emission) for i, emission in enumerate(timeline.emissions)]
    steps.sort(key=lambda step: (step[0], step[1], step[2]))
    return [step[3] for step in steps]


class ApiCaller:
    """Makes a timeline's REST calls. A call that names statuses to wait for polls the trip
    until the gateway has moved it there from telemetry, for up to WAIT_FOR_STATUS_S; a call
    that fails is counted and kept, and the play goes on: the verdict shows what it cost."""

    def __init__(self, client: httpx.AsyncClient, stats: PlayStats,
                 wait_s: float = WAIT_FOR_STATUS_S, poll_s: float = POLL_S) -> None:
        self.client = client
        self.stats = stats
        self.wait_s = wait_s
        self.poll_s = poll_s

    async def call(self, action: ApiAction) -> None:
        if action.wait_for:
            await self._wait(action)
        try:
            response = await self.client.request(action.method, action.path, json=action.body)
        except httpx.HTTPError as exc:
            self._failed(action, f"{type(exc).__name__}: {exc}")
            return
        if response.is_success:
            self.stats.api_calls += 1
            self.stats.api_by_purpose[action.purpose] += 1
        else:
            self._failed(action, f"{response.status_code} {response.text[:300]}")

    async def _wait(self, action: ApiAction) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                response = await self.client.get(f"/api/v1/trips/{action.trip_id}")
                if response.is_success and response.json().get("status") in action.wait_for:
                    return
            if loop.time() >= deadline:
                return  # the call will say what the gateway thinks
            await asyncio.sleep(self.poll_s)

    def _failed(self, action: ApiAction, what: str) -> None:
        self.stats.api_failed += 1
        if len(self.stats.api_errors) < KEPT_ERRORS:
            self.stats.api_errors.append(
                f"{action.at:%Y-%m-%d %H:%M} {action.method} {action.path}: {what}")


async def play(
    timeline: Timeline,
    *,
    broker_url: str,
    password: str | None,
    time_scale: float | None = None,
    protocol: str = "5",
    on_progress: Callable[[PlayStats], None] = lambda _stats: None,
    stats: PlayStats | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    api_transport: httpx.AsyncBaseTransport | None = None,
) -> PlayStats:
    """Publish every emission at its time, and make the REST calls of `timeline.actions`
    at theirs against `api_url`; returns when the last one is done."""
    scale = time_scale or timeline.time_scale
    if scale <= 0:
        raise ValueError(f"time_scale must be positive, got {scale}")
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be 5 or 3.1.1, got {protocol!r}")
    if timeline.actions and api_url is None:
        raise ValueError(f"scenario {timeline.scenario} makes {len(timeline.actions)} REST "
                         "calls (trips, inspections, recalls): give api_url (and api_key)")
    stats = stats or PlayStats()
    stats.total = len(timeline.emissions)
    stats.api_total = len(timeline.actions)
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
        caller: ApiCaller | None = None
        if timeline.actions and api_url is not None:
            http = await stack.enter_async_context(httpx.AsyncClient(
                base_url=api_url.rstrip("/"), timeout=30.0, transport=api_transport,
                headers={"Authorization": f"Bearer {api_key}"} if api_key else {}))
            caller = ApiCaller(http, stats)
        loop = asyncio.get_running_loop()
        wall_start = loop.time()
        stats.started = time.monotonic()
        last_progress = 0.0
        for step in schedule(timeline):
            offset_s = (step.at - timeline.start).total_seconds()
            delay = wall_start + offset_s / scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.worst_lag_s = max(stats.worst_lag_s, -delay)
            if isinstance(step, Emission):
                await _publish(clients[step.username], step, stats, refused)
            elif caller is not None:
                await caller.call(step)
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
