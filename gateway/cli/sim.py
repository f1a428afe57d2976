"""`boomerang sim`: the device simulator (a fleet, a scenario and its verdict, load for
benchmarks)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli._common import setup_logging

sim_app = typer.Typer(help="The device simulator: speaks only the wire contract.",
                      no_args_is_help=True)


@sim_app.command("run")
def sim_run(
    broker: Annotated[str, typer.Option(help="mqtt://[user:pass@]host:port")] = (
        "mqtt://127.0.0.1:1883"
    ),
    tags: Annotated[int, typer.Option(help="How many tags")] = 50,
    rate: Annotated[float, typer.Option(help="Readings per second, all tags together")] = 10.0,
    faults: Annotated[
        str, typer.Option(help="Comma-separated: excursion,recall,overdue,malformed; or none")
    ] = "excursion,recall,overdue,malformed",
    seed: Annotated[int, typer.Option(help="Same seed, same fleet")] = 1,
    duration: Annotated[float | None, typer.Option(help="Seconds; default: until Ctrl-C")] = None,
    protocol: Annotated[str, typer.Option(help="MQTT protocol: 5 or 3.1.1")] = "5",
    tag_password: Annotated[
        str | None,
        typer.Option(help="Each tag logs in as its tag id with this password (broker ACLs)"),
    ] = None,
    register_api: Annotated[
        str | None, typer.Option(help="Register the fleet's assets and recalls at this API first")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="BOOMERANG_API_KEY", help="Key for --register-api")
    ] = None,
    cold_chain_profile: Annotated[str, typer.Option(help="Profile of cold-chain tags")] = (
        "cold_chain"
    ),
) -> None:
    """The device simulator: tags moving between real cities, publishing contract readings."""
    import device_sim

    setup_logging("WARNING")
    chosen = frozenset() if faults == "none" else frozenset(
        f.strip() for f in faults.split(",") if f.strip()
    )
    unknown = chosen - device_sim.ALL_FAULTS
    if unknown:
        typer.echo(f"--faults: unknown {', '.join(sorted(unknown))}; known: "
                   f"{', '.join(sorted(device_sim.ALL_FAULTS))}", err=True)
        raise typer.Exit(2)
    if protocol not in ("5", "3.1.1"):
        typer.echo("--protocol: must be 5 or 3.1.1", err=True)
        raise typer.Exit(2)
    plan = device_sim.plan_fleet(tags, seed=seed, faults=chosen,
                                 cold_chain_profile=cold_chain_profile)

    async def main() -> None:
        if register_api:
            if not api_key:
                typer.echo("--api-key (or BOOMERANG_API_KEY) is needed with --register-api",
                           err=True)
                raise typer.Exit(2)
            await device_sim.register_fleet(plan, register_api, api_key)
        stats = device_sim.SimStats()
        config = device_sim.SimConfig(broker_url=broker, rate=rate, protocol=protocol,
                                      tag_password=tag_password, duration_s=duration)
        from gateway.app import stop_on_signals

        await device_sim.run_simulator(plan, config, stats=stats, stop=stop_on_signals())
        typer.echo(json.dumps({"sent": stats.sent, "malformed_sent": stats.malformed_sent}))

    asyncio.run(main())


@sim_app.command("play")
def sim_play(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (device_sim/scenarios/)")],
    broker: Annotated[str, typer.Option(help="mqtt://host:port")] = "mqtt://127.0.0.1:1883",
    tag_password: Annotated[str | None, typer.Option(
        envvar="BOOMERANG_SIM_TAG_PASSWORD",
        help="Each tag logs in as itself with this password (broker ACLs)")] = None,
    register_api: Annotated[str | None, typer.Option(
        help="Register the scenario's profiles, geofences, assets and recalls here first")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="BOOMERANG_API_KEY")] = None,
    time_scale: Annotated[float | None, typer.Option(
        help="Simulated seconds per second; default: the scenario's")] = None,
    seed: Annotated[int | None, typer.Option(help="Default: the scenario's")] = None,
    protocol: Annotated[str, typer.Option(help="MQTT protocol: 5 or 3.1.1")] = "5",
    truth: Annotated[Path | None, typer.Option(
        help="Where to write the ground truth; default: SCENARIO-NAME.truth.json here")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a live progress display")] = True,
) -> None:
    """Play a scenario: its simulated days in minutes, every fault it names, the REST calls
    it makes on the way (trips opened, inspected and closed, recalls announced: they go to
    --register-api), and the ground truth of what the gateway should raise, for `boomerang
    sim verify`. Run the gateway with BOOMERANG_CLOCK=event so that its timer rules follow
    simulated time."""
    from datetime import UTC, datetime

    from device_sim._register import register_timeline
    from device_sim.player import PlayStats, play
    from device_sim.scenario import ScenarioError, load_scenario
    from device_sim.timeline import compile_scenario
    from device_sim.verify import GroundTruth

    setup_logging("WARNING")
    try:
        timeline = compile_scenario(load_scenario(scenario), now=datetime.now(UTC), seed=seed)
    except (ScenarioError, OSError) as exc:
        typer.echo(f"scenario: {exc}", err=True)
        raise typer.Exit(2) from exc
    if timeline.actions and not register_api:
        typer.echo(f"scenario {timeline.scenario} makes {len(timeline.actions)} REST calls "
                   "during the run (trips, inspections, recalls): give --register-api",
                   err=True)
        raise typer.Exit(2)
    truth_path = truth or Path(f"{timeline.scenario}.truth.json")
    GroundTruth.of(timeline).save(truth_path)
    if register_api and not api_key:
        typer.echo("--api-key (or BOOMERANG_API_KEY) is needed with --register-api", err=True)
        raise typer.Exit(2)

    async def main() -> PlayStats:
        if register_api and api_key:
            await register_timeline(timeline, register_api, api_key)
        if not progress:
            return await play(timeline, broker_url=broker, password=tag_password,
                              time_scale=time_scale, protocol=protocol, api_url=register_api,
                              api_key=api_key)
        from device_sim.progress import PlayProgress

        with PlayProgress(timeline) as shown:
            return await play(timeline, broker_url=broker, password=tag_password,
                              time_scale=time_scale, protocol=protocol,
                              on_progress=shown.update, api_url=register_api, api_key=api_key)

    stats = asyncio.run(main())
    typer.echo(json.dumps({"scenario": timeline.scenario, "seed": timeline.seed,
                           "truth": str(truth_path), **stats.figures()}))


@sim_app.command("verify")
def sim_verify(
    truth: Annotated[Path, typer.Argument(help="The ground truth `sim play` wrote")],
    api: Annotated[str, typer.Option(help="The gateway's REST API")] = "http://127.0.0.1:8080",
    api_key: Annotated[str | None, typer.Option(envvar="BOOMERANG_API_KEY")] = None,
    slack_s: Annotated[float, typer.Option(
        min=0, help="Extra tolerance on alert times, simulated seconds (timer rules run "
        "every BOOMERANG_TIMER_INTERVAL_S times the time scale)")] = 3600,
) -> None:
    """Compare what the gateway raised with what the scenario should have raised: a table
    of expected, raised, missed and unexpected alerts (and, for a scenario with trips, their
    status changes, hubs and recommended dispositions), then the counts as one JSON line;
    exits 1 on a miss or a wrong hub or recommendation."""
    from datetime import timedelta

    from rich.console import Console

    from device_sim.verify import GroundTruth, fetch, fetch_trips, judge, render

    if not api_key:
        typer.echo("--api-key (or BOOMERANG_API_KEY) is needed", err=True)
        raise typer.Exit(2)
    try:
        ground = GroundTruth.load(truth)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"{truth}: not a ground truth file ({exc})", err=True)
        raise typer.Exit(2) from exc
    alerts, states = asyncio.run(fetch(api, api_key, ground))
    trips = asyncio.run(fetch_trips(api, api_key, ground))
    verdict = judge(ground, alerts, states, timedelta(seconds=slack_s), trips)
    table, summary = render(ground, verdict)
    console = Console()
    console.print(table)
    console.print(summary)
    typer.echo(json.dumps(verdict.figures(ground)))
    raise typer.Exit(0 if verdict.ok else 1)


@sim_app.command("load")
def sim_load(
    broker: Annotated[str, typer.Option(help="host:port of the broker")] = "127.0.0.1:1883",
    username: Annotated[str, typer.Option(
        help="An account allowed to write tags/+/telemetry (one speaks for every tag)")] = "",
    password: Annotated[str, typer.Option(envvar="BOOMERANG_SIM_PASSWORD")] = "",
    messages: Annotated[int, typer.Option(min=1, help="How many messages")] = 100_000,
    tags: Annotated[int, typer.Option(min=1, help="Round-robin over this many tags")] = 1000,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Readings per message")] = 1,
    rate: Annotated[float | None, typer.Option(
        help="Messages per second; default: as fast as the broker takes them")] = None,
) -> None:
    """Load mode for benchmarks: a fixed number of QoS 1 messages, pre-encoded, published
    at the broker's pace or a set rate; prints its own publish rate as JSON."""
    from datetime import UTC, datetime

    from device_sim.load import build_load, publish_load

    host, _, port = broker.rpartition(":")
    if not host or not port.isdigit():
        typer.echo("--broker: expected host:port", err=True)
        raise typer.Exit(2)
    stream = build_load(messages, tags, batch, datetime.now(UTC))
    try:
        result = publish_load(host, int(port), stream, client_id="boomerang-sim-load",
                              username=username, password=password, rate=rate)
    except (OSError, RuntimeError) as exc:
        typer.echo(f"load: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"messages": stream.messages, "readings": stream.readings,
                           "payload_bytes": stream.payload_bytes, **result.figures()}))
