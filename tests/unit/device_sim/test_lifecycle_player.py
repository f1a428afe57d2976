"""The player makes a timeline's REST calls at their simulated times, in one sequence with
the MQTT emissions: a call after the emissions due before it, an inspection once the gateway
has seen the arrival; a call that fails is counted and the play goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from test_sim_broker import MOSQUITTO, Broker

from device_sim._lifecycle import ApiAction
from device_sim.player import ApiCaller, PlayStats, play, schedule
from device_sim.timeline import Emission, Timeline

T0 = datetime(2026, 11, 27, tzinfo=UTC)
MIN = timedelta(minutes=1)


def emission(minutes: int, seq: int) -> Emission:
    payload = json.dumps({"ts": (T0 + minutes * MIN).isoformat(), "seq": seq, "lat": 51.0,
                          "lon": 7.0}).encode()
    return Emission(T0 + minutes * MIN, "tags/t-1/telemetry", payload, "t-1")


def action(minutes: int, purpose: str, method: str = "POST", path: str = "/api/v1/trips",
           wait_for: tuple[str, ...] = ()) -> ApiAction:
    return ApiAction(T0 + minutes * MIN, method, path, {"id": "trp-1", "asset_id": "a-1"},
                     purpose, asset_id="a-1", trip_id="trp-1", wait_for=wait_for)


def timeline(emissions: list[Emission], actions: list[ApiAction]) -> Timeline:
    return Timeline(scenario="calls", seed=1, start=T0, end=T0 + 10 * MIN, time_scale=600,
                    profiles=[], geofences=[], assets=[], recalls=[], emissions=emissions,
                    expected=[], faults={}, logins={"t-1": "t-1"}, actions=actions)


def test_calls_go_in_time_order_and_before_the_emissions_due_with_them() -> None:
    readings = [emission(0, 0), emission(2, 1), emission(4, 2)]
    calls = [action(2, "authorize"), action(3, "inspect"), action(4, "close", "PATCH")]
    steps = schedule(timeline(readings, calls))
    assert steps == [readings[0], calls[0], readings[1], calls[1], calls[2], readings[2]]


class FakeGateway:
    """Answers trip reads with the statuses given in turn, and every call with `answer`."""

    def __init__(self, statuses: list[str], answer: int = 201) -> None:
        self.statuses = statuses
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, object] | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, body))
        if request.method == "GET":
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(200, json={"id": "trp-1", "status": status})
        if self.answer >= 400:
            return httpx.Response(self.answer, json={"detail": "not allowed from in_transit"})
        return httpx.Response(self.answer, json={"id": "trp-1"})


@pytest.mark.asyncio
async def test_an_inspection_waits_until_the_gateway_has_seen_the_arrival() -> None:
    gateway = FakeGateway(["in_transit", "in_transit", "arrived"])
    stats = PlayStats()
    async with httpx.AsyncClient(base_url="http://gw", transport=httpx.MockTransport(gateway)
                                 ) as client:
        caller = ApiCaller(client, stats, wait_s=5, poll_s=0.001)
        await caller.call(action(5, "inspect", path="/api/v1/trips/trp-1/inspection",
                                 wait_for=("arrived",)))
    assert [c[:2] for c in gateway.calls] == [("GET", "/api/v1/trips/trp-1")] * 3 + [
        ("POST", "/api/v1/trips/trp-1/inspection")]
    assert (stats.api_calls, stats.api_failed, dict(stats.api_by_purpose)) == (
        1, 0, {"inspect": 1})


@pytest.mark.asyncio
async def test_a_refused_call_is_counted_and_kept_and_the_wait_gives_up() -> None:
    gateway = FakeGateway(["in_transit"], answer=409)
    stats = PlayStats(api_total=2)
    async with httpx.AsyncClient(base_url="http://gw", transport=httpx.MockTransport(gateway)
                                 ) as client:
        caller = ApiCaller(client, stats, wait_s=0.05, poll_s=0.01)
        await caller.call(action(5, "inspect", path="/api/v1/trips/trp-1/inspection",
                                 wait_for=("arrived",)))
        await caller.call(action(6, "close", "PATCH", "/api/v1/trips/trp-1"))
    assert (stats.api_calls, stats.api_failed) == (0, 2)
    assert stats.api_errors[0] == ("2026-11-27 00:05 POST /api/v1/trips/trp-1/inspection: "
                                   '409 {"detail":"not allowed from in_transit"}')
    figures = stats.figures()["api"]
    assert isinstance(figures, dict)
    assert (figures["made"], figures["failed"], figures["of"]) == (0, 2, 2)


@pytest.mark.asyncio
async def test_a_timeline_with_calls_needs_an_api_to_call() -> None:
    with pytest.raises(ValueError, match="makes 1 REST calls"):
        await play(timeline([emission(0, 0)], [action(1, "authorize")]),
                   broker_url="mqtt://127.0.0.1:1", password=None)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, "allow_anonymous true\n")
    b.start()
    yield b
    b.stop()


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed")
@pytest.mark.asyncio
async def test_playing_makes_each_call_after_the_readings_due_before_it(broker: Broker) -> None:
    stats = PlayStats()
    sent_at_call: list[tuple[str, int]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"status": "arrived"})
        sent_at_call.append((request.url.path, stats.sent))
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(201, json={})

    played = timeline(
        [emission(0, 0), emission(2, 1), emission(4, 2)],
        [action(1, "authorize"),
         action(3, "inspect", path="/api/v1/trips/trp-1/inspection", wait_for=("arrived",))])
    await play(played, broker_url=f"mqtt://127.0.0.1:{broker.port}", password=None,
               time_scale=6000, stats=stats, api_url="http://gw/", api_key="k",
               api_transport=httpx.MockTransport(gateway))
    assert sent_at_call == [("/api/v1/trips", 1), ("/api/v1/trips/trp-1/inspection", 2)]
    assert (stats.sent, stats.api_calls, stats.api_total) == (3, 2, 2)
