"""`boomerang demo`: the whole path on one machine with nothing installed: an in-process
broker, the gateway on SQLite, the REST API, a webhook receiver and the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from amqtt.broker import Broker
from fastapi import FastAPI, Request, Response
from rich.console import Console
from rich.live import Live
from rich.text import Text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import device_sim
from alerts import ArrivalEvent, EngineEvent, MetricSpec, Profile, TripChanged
from device_sim._register import register_timeline
from device_sim.player import PlayStats, play
from device_sim.scenario import load_scenario
from device_sim.timeline import Timeline, compile_scenario
from device_sim.verify import GroundTruth, fetch, fetch_trips, judge, render
from gateway.app import EmbeddedApiServer, Gateway, stop_on_signals
from gateway.settings import Settings
from ingest.waiting import wait_event

log = logging.getLogger(__name__)

DEMO_COLD_CHAIN = Profile(
    name="demo_cold_chain",
    description="The demo's cold chain: 2-8 C, 20 s tolerance, so an excursion shows quickly",
    metrics={"temp_c": MetricSpec(min=2, max=8, min_duration_s=20, hysteresis=0.5)},
)


# Travel runs this much faster than the clock, so that shipments reach their hubs while
# someone watches; temperatures and batteries keep real time.
DEMO_TIME_SCALE = 200.0
# A scenario's timer rules run every 0.2 s of wall time: at its time scale that is a stretch
# of simulated time the verdict must forgive.
VERIFY_SLACK = timedelta(hours=1)
SHIPPED_SCENARIOS = Path(device_sim.__file__).parent / "scenarios"
# The statuses a trip event is worth a disposition for: the recommendation at arrival, the
# inspector's decision after it.
_ARRIVED = frozenset({"arrived", "returned", "received"})
_DECIDED = frozenset({"inspected", "dispositioned", "available", "remedied", "destroyed"})


@dataclass
class DemoOptions:
    mqtt_port: int = 1884
    api_port: int = 8080
    webhook_port: int = 8081
    tags: int = 50
    rate: float = 25.0
    data_dir: Path | None = None
    duration_s: float | None = None
    scenario: Path | None = None
    """Play this scenario file on event time instead of the endless fleet, then verify."""
    time_scale: float | None = None


def _port_free(port: int, flag: str) -> str | None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return f"port {port} is in use; choose another with {flag}"
    return None


class WebhookReceiver:
    """A subscriber like an ERP would run: verifies every signature, counts deliveries."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.secret: str | None = None
        self.received = 0
        self.bad_signatures = 0
        self.app = FastAPI()
        self.app.post("/hook")(self.hook)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if self.secret is None:
            return Response(status_code=503)
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return Response(status_code=400)
        self.received += 1
        data = event.get("data", {})
        if "trip" in data:
            trip = data["trip"]
            self.console.print(f"[dim]webhook[/] [green]signature ok[/] {event['type']} "
                               f"{trip.get('id', '')} {trip.get('status', '')}")
            return Response(status_code=204)
        alert = data.get("alert", {})
        self.console.print(
            f"[dim]webhook[/] [green]signature ok[/] {event['type']} "
            f"{alert.get('kind', '')} {alert.get('asset_id', '')}"
        )
        return Response(status_code=204)


def trip_line(event_type: str, trip: Mapping[str, Any]) -> str:
    """A trip event (`data.trip`) as one line: its move, and the disposition recommended at
    arrival or decided at the inspection."""
    who = f"{trip.get('id', '?')} ({trip.get('flow', '?')}, {trip.get('asset_id', '')})"
    if event_type == "trip.rerouted":
        service = (trip.get("routing") or {}).get("service") or "?"
        return (f"[magenta]{event_type}[/] {who}: {trip.get('previous_destination')} -> "
                f"[bold]{trip.get('destination')}[/] (for {service})")
    status = trip.get("status", "?")
    line = (f"[cyan]{event_type}[/] {who}: {trip.get('previous_status') or 'new'} -> "
            f"[bold]{status}[/]")
    recommendation = trip.get("recommendation") or {}
    inspection = trip.get("inspection") or {}
    if status in _ARRIVED and recommendation:
        line += (f", recommended [bold]{recommendation.get('disposition')}[/] "
                 f"({recommendation.get('rule')})")
    if status in _DECIDED and inspection:
        line += f", disposition [bold]{inspection.get('disposition')}[/]"
    return line


def scenario_path(given: Path) -> Path:
    """A scenario file, or the name of a shipped one (`lifecycle`)."""
    shipped = SHIPPED_SCENARIOS / f"{given.name}.yaml"
    if not given.exists() and given.parent == Path() and not given.suffix and shipped.exists():
        return shipped
    return given


async def run_demo(options: DemoOptions) -> int:
    console = Console()
    for port, flag in ((options.mqtt_port, "--mqtt-port"), (options.api_port, "--api-port"),
                       (options.webhook_port, "--webhook-port")):
        problem = _port_free(port, flag)
        if problem:
            console.print(f"[red]boomerang demo:[/] {problem}")
            return 2
    with contextlib.ExitStack() as stack:
        data_dir = options.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="boomerang-demo-"))
        )
        return await _run(options, console, data_dir)


async def _run(options: DemoOptions, console: Console, data_dir: Path) -> int:
    stop = stop_on_signals()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{options.mqtt_port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
                "allow_anonymous": True}},
        }
    )
    await broker.start()
    admin_key = "bmr_demo_" + secrets.token_urlsafe(32)
    settings = Settings(
        mqtt_url=f"mqtt://127.0.0.1:{options.mqtt_port}",
        mqtt_protocol="3.1.1",  # the embedded broker speaks MQTT 3.1.1 only
        data_dir=data_dir,
        api_port=options.api_port,
        admin_key=admin_key,  # type: ignore[arg-type]
        webhook_allow_private=True,
        batch_max_delay_s=0.25,
        # The rental past due shows within seconds; a scenario's simulated days pass in
        # minutes, so its timer rules look often, on simulated time.
        timer_interval_s=0.2 if options.scenario else 2,
        clock="event" if options.scenario else "wall",
    )
    # Closed in `finally`, once the gateway has stopped: the stores, the sink, the database.
    opened = contextlib.AsyncExitStack()
    gateway = await opened.enter_async_context(
        Gateway.open(settings, extra_profiles=[DEMO_COLD_CHAIN]))
    receiver = WebhookReceiver(console)
    receiver_server = EmbeddedApiServer(
        uvicorn.Config(receiver.app, host="127.0.0.1", port=options.webhook_port,
                       log_level="warning", lifespan="off")
    )
    tasks: list[asyncio.Task[object]] = []

    def show_alert(event: EngineEvent) -> None:
        if isinstance(event, ArrivalEvent):
            console.print(f"[blue]asset.arrived[/] {event.asset_id}: {event.data['state']} at "
                          f"{event.data['destination']['name']}, disposition "
                          f"[bold]{event.data['disposition']}[/] "
                          f"({event.data.get('disposition_rule')})")
            return
        if isinstance(event, TripChanged):
            console.print(trip_line(event.type, event.data["trip"]))
            return
        colour = {"alert.opened": "red", "alert.updated": "yellow"}.get(event.type, "green")
        console.print(f"[{colour}]{event.type}[/] [bold]{event.alert.kind}[/] "
                      f"{event.alert.asset_id}: {event.alert.summary}")

    gateway.engine.listeners.append(show_alert)
    gateway_task = asyncio.create_task(gateway.run(stop), name="gateway")
    tasks.append(asyncio.create_task(receiver_server.serve(), name="receiver"))
    api = f"http://127.0.0.1:{options.api_port}"
    sim_stats = device_sim.SimStats()
    try:
        await _wait_ready(api, gateway_task)
        async with httpx.AsyncClient(base_url=api, headers={
            "Authorization": f"Bearer {admin_key}"}) as http:
            created = (await http.post("/api/v1/subscriptions", json={
                "url": f"http://127.0.0.1:{options.webhook_port}/hook",
                "description": "the demo's own receiver"})).json()
        receiver.secret = created["secret"]
        console.print(
            f"[bold]Boomerang demo[/]: broker mqtt://127.0.0.1:{options.mqtt_port}, "
            f"API {api}/docs (admin key [cyan]{admin_key}[/]), webhooks to "
            f"http://127.0.0.1:{options.webhook_port}/hook, state in {data_dir}. Ctrl-C stops."
        )
        broker_url = f"mqtt://127.0.0.1:{options.mqtt_port}"
        if options.scenario is not None:
            timeline = compile_scenario(load_scenario(scenario_path(options.scenario)),
                                        now=datetime.now(UTC))
            await register_timeline(timeline, api, admin_key)
            played = PlayStats()
            sent: Callable[[], int] = lambda: played.sent  # noqa: E731
            sim_task: asyncio.Task[object] = asyncio.create_task(play(
                timeline, broker_url=broker_url, password=None, time_scale=options.time_scale,
                protocol="3.1.1", stats=played, api_url=api, api_key=admin_key), name="sim")
        else:
            sent = lambda: sim_stats.sent  # noqa: E731
            plan = device_sim.plan_fleet(options.tags, cold_chain_profile=DEMO_COLD_CHAIN.name)
            await device_sim.register_fleet(plan, api, admin_key)
            sim_config = device_sim.SimConfig(
                broker_url=broker_url, rate=options.rate,
                protocol="3.1.1", duration_s=options.duration_s,
                time_scale=DEMO_TIME_SCALE,
            )
            sim_task = asyncio.create_task(
                device_sim.run_simulator(plan, sim_config, stats=sim_stats, stop=stop),
                name="sim")
        tasks.append(sim_task)
        started = time.monotonic()
        exit_code = 0
        # A terminal gets a live line; a pipe or a log file a line every 5 seconds.
        live = Live(console=console, refresh_per_second=4, transient=True)
        last_printed = started
        with live if console.is_terminal else contextlib.nullcontext():
            while not stop.is_set() and not gateway_task.done():
                line = await _status_line(gateway, sent(), receiver, started)
                if console.is_terminal:
                    live.update(line)
                elif time.monotonic() - last_printed >= 5:
                    console.print(line)
                    last_printed = time.monotonic()
                if sim_task.done():
                    sim_task.result()  # a simulator that failed says why
                    # Let ingest drain, and the timer rules take a last look.
                    await asyncio.sleep(2 * settings.batch_max_delay_s
                                        + 2 * settings.timer_interval_s)
                    if options.scenario is not None:
                        console.print(await _status_line(gateway, sent(), receiver, started))
                        for error in played.api_errors:
                            console.print(f"[red]API call failed[/] {error}")
                        exit_code = await _verdict(console, timeline, api, admin_key)
                    stop.set()
                await wait_event(stop, 0.25)
        console.print(await _status_line(gateway, sent(), receiver, started))
        return exit_code
    finally:
        stop.set()
        await asyncio.gather(gateway_task, return_exceptions=True)
        await opened.aclose()
        receiver_server.should_exit = True
        for task in tasks:
            if task.get_name() == "sim":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await broker.shutdown()
        console.print("[dim]demo stopped[/]")


async def _verdict(console: Console, timeline: Timeline, api: str, admin_key: str) -> int:
    """What the scenario should have raised against what the gateway raised."""
    truth = GroundTruth.of(timeline)
    alerts, states = await fetch(api, admin_key, truth)
    trips = await fetch_trips(api, admin_key, truth)
    verdict = judge(truth, alerts, states, VERIFY_SLACK, trips)
    table, summary = render(truth, verdict)
    console.print(table)
    console.print(summary)
    return 0 if verdict.ok else 1


async def _wait_ready(api: str, gateway_task: asyncio.Task[None]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if gateway_task.done():
                gateway_task.result()
                raise RuntimeError("the gateway stopped during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{api}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the gateway did not become ready at {api}/readyz")


async def _status_line(gateway: Gateway, sent: int, receiver: WebhookReceiver, started: float
                       ) -> Text:
    counts = gateway.pipeline.counts
    elapsed = max(time.monotonic() - started, 1e-6)
    open_alerts = await gateway.db.run(gateway.alerts.live_count)
    return Text.from_markup(
        f"[bold]{elapsed:5.0f} s[/]  sent {sent}  readings ingested "
        f"[bold green]{counts.readings}[/] ({counts.readings / elapsed:.0f}/s)  "
        f"dead letters [yellow]{counts.dead_letters}[/]  duplicates {counts.duplicates}  "
        f"open alerts [red]{open_alerts}[/]  webhooks received {receiver.received}"
    )
