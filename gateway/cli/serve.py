"""`boomerang serve` and `boomerang demo`: the gateway itself, and everything embedded for a
try-out; both are commands of the root app."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli._common import settings_or_exit, setup_logging, tune_garbage_collector


def serve() -> None:
    """Run the gateway against the configured broker, InfluxDB (or SQLite) and webhooks."""
    settings = settings_or_exit()
    setup_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        from gateway.app import Gateway, stop_on_signals

        async with Gateway.open(settings) as gateway:
            tune_garbage_collector()
            await gateway.run(stop_on_signals())

    from gateway.migrations import SchemaTooNew
    from ingest.jetstream import ClusterSettingMismatch

    try:
        asyncio.run(main())
    except SchemaTooNew as exc:
        typer.echo(f"boomerang: {settings.masked()['BOOMERANG_STATE_URL']}: {exc}", err=True)
        raise typer.Exit(2) from None
    except ClusterSettingMismatch as exc:
        typer.echo(f"boomerang: {exc}", err=True)
        raise typer.Exit(2) from None


def demo(
    mqtt_port: Annotated[int, typer.Option(help="Port of the in-process MQTT broker")] = 1884,
    api_port: Annotated[int, typer.Option(help="Port of the REST API")] = 8080,
    webhook_port: Annotated[int, typer.Option(help="Port of the demo webhook receiver")] = 8081,
    tags: Annotated[int, typer.Option(help="How many simulated tags")] = 50,
    rate: Annotated[float, typer.Option(help="Readings per second, all tags together")] = 25.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep state here (default: a fresh temporary folder)")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop by itself after this many seconds")
    ] = None,
    scenario: Annotated[Path | None, typer.Option(
        help="Instead of the endless fleet, play this scenario (device_sim/scenarios/) on "
        "event time, then print what it should have raised against what was raised")] = None,
    time_scale: Annotated[float | None, typer.Option(
        help="With --scenario: simulated seconds per second (default: the scenario's)")] = None,
) -> None:
    """Everything embedded, nothing to install: starts an in-process MQTT broker (MQTT 3.1.1 on
    127.0.0.1:--mqtt-port, default 1884), the gateway with SQLite state and telemetry, the REST
    API on http://127.0.0.1:--api-port (default 8080, docs at /docs), a webhook receiver on
    --webhook-port (default 8081) that verifies each delivery's signature, and the simulator
    driving --tags tags (returns of several flows and rentals, with a temperature excursion, a
    recalled lot, a rental past due and a tag sending malformed payloads). Prints a live count
    and each alert as it opens. Ctrl-C stops it."""
    from gateway.demo import DemoOptions, run_demo

    setup_logging("WARNING")
    options = DemoOptions(mqtt_port=mqtt_port, api_port=api_port, webhook_port=webhook_port,
                          tags=tags, rate=rate, data_dir=data_dir, duration_s=duration,
                          scenario=scenario, time_scale=time_scale)
    sys.exit(asyncio.run(run_demo(options)))
