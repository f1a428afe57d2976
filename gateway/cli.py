"""The `boomerang` command."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from gateway.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Boomerang: tracks what comes back (returns, recalls, rentals). "
    "Settings come from BOOMERANG_* variables and the TOML file named by BOOMERANG_CONFIG.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys (stored hashed in the state database).",
                       no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
sim_app = typer.Typer(help="The device simulator: speaks only the wire contract.",
                      no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
app.add_typer(sim_app, name="sim")
import_app = typer.Typer(help="Bulk import from CSV files, through a running gateway's REST API.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")
dashboards_app = typer.Typer(help="Grafana dashboards, kept as code in dashboards/.",
                             no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


def setup_logging(level: str = "INFO", log_format: str = "kv") -> None:
    """Structured lines on stderr: logfmt (`ts=... level=... logger=... msg="..."`), or one
    JSON object a line for log shippers (BOOMERANG_LOG_FORMAT)."""
    from logfmter import Logfmter
    from pythonjsonlogger.json import JsonFormatter

    names = {"ts": "asctime", "level": "levelname", "logger": "name"}
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter("{asctime}{levelname}{name}{message}", style="{",
                                  rename_fields={v: k for k, v in names.items()
                                                 } | {"message": "msg"})
    else:
        formatter = Logfmter(keys=list(names), mapping=names)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs each request's whole URL at INFO, a webhook's user info and query string (its
    # secrets) among them; httpcore's DEBUG lines carry hosts and response headers.
    for noisy in ("amqtt", "transitions", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"boomerang: {exc}", err=True)
        raise typer.Exit(2) from None


def tune_garbage_collector() -> None:
    """Every MQTT message makes a few short-lived objects (paho's message and properties);
    with the default thresholds the cyclic collector ran a third of the busy time under load.
    What start-up built lives as long as the process: freeze it out of the collector's way."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@app.command()
def serve() -> None:
    """Run the gateway against the configured broker, InfluxDB (or SQLite) and webhooks."""
    settings = settings_or_exit()
    setup_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        from gateway.app import Gateway, stop_on_signals

        gateway = Gateway.build(settings)
        tune_garbage_collector()
        await gateway.run(stop_on_signals())

    from gateway.migrations import SchemaTooNew

    try:
        asyncio.run(main())
    except SchemaTooNew as exc:
        typer.echo(f"boomerang: {settings.state_db}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
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
    """Play a scenario: its simulated days in minutes, every fault it names, and the ground
    truth of what the gateway should raise, for `boomerang sim verify`. Run the gateway
    with BOOMERANG_CLOCK=event so that its timer rules follow simulated time."""
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
                              time_scale=time_scale, protocol=protocol)
        from device_sim.progress import PlayProgress

        with PlayProgress(timeline) as shown:
            return await play(timeline, broker_url=broker, password=tag_password,
                              time_scale=time_scale, protocol=protocol,
                              on_progress=shown.update)

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
    of expected, raised, missed and unexpected; exits 1 on a miss."""
    from datetime import timedelta

    from rich.console import Console

    from device_sim.verify import GroundTruth, fetch, judge, render

    if not api_key:
        typer.echo("--api-key (or BOOMERANG_API_KEY) is needed", err=True)
        raise typer.Exit(2)
    try:
        ground = GroundTruth.load(truth)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"{truth}: not a ground truth file ({exc})", err=True)
        raise typer.Exit(2) from exc
    alerts, states = asyncio.run(fetch(api, api_key, ground))
    verdict = judge(ground, alerts, states, timedelta(seconds=slack_s))
    table, summary = render(ground, verdict)
    console = Console()
    console.print(table)
    console.print(summary)
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


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="read, write or admin")] = "read",
    name: Annotated[str, typer.Option(help="Who or what the key is for")] = "",
) -> None:
    """Create an API key; the key is printed this once."""
    from gateway.app import open_state_db
    from gateway.registry import KeyStore

    settings = settings_or_exit()
    db = open_state_db(settings)
    try:
        key, secret = KeyStore(db).create(scope, name)
    except ValueError as exc:
        typer.echo(f"--{exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"id": key.id, "scope": key.scope, "name": key.name, "key": secret}))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (ids, scopes, names; never the keys)."""
    from gateway.app import open_state_db
    from gateway.registry import KeyStore

    db = open_state_db(settings_or_exit())
    for key in KeyStore(db).list():
        typer.echo(json.dumps({"id": key.id, "scope": key.scope, "name": key.name,
                               "created_at": key.created_at.isoformat(),
                               "revoked": key.revoked_at is not None}))


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by id."""
    from gateway.app import open_state_db
    from gateway.registry import KeyStore

    db = open_state_db(settings_or_exit())
    if not KeyStore(db).revoke(key_id):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)


@config_app.command("check")
def config_check() -> None:
    """Print the effective settings (secrets masked); exit 2 on a bad setting."""
    settings = settings_or_exit()
    typer.echo(json.dumps(settings.masked(), indent=2))


ImportFile = Annotated[Path, typer.Argument(
    help="CSV, UTF-8; the header row names the columns (docs/api.md)")]
ImportApi = Annotated[str, typer.Option(help="The gateway's REST API")]
ImportKey = Annotated[str | None, typer.Option(envvar="BOOMERANG_API_KEY",
                                               help="A key with the write scope")]
ImportMode = Annotated[str, typer.Option(
    help="upsert: a row whose id exists updates it; create: such a row is rejected")]


def run_import(
    resource: Literal["assets", "recalls"], file: Path, api: str, api_key: str | None, mode: str
) -> None:
    from rich.console import Console

    from gateway.import_client import ImportFailed, post_csv, render

    if not api_key:
        typer.echo("--api-key (or BOOMERANG_API_KEY) is needed", err=True)
        raise typer.Exit(2)
    if mode not in ("upsert", "create"):
        typer.echo("--mode: must be upsert or create", err=True)
        raise typer.Exit(2)
    try:
        report = post_csv(api, api_key, resource, file, mode=mode)
    except ImportFailed as exc:
        typer.echo(f"import: {exc}", err=True)
        raise typer.Exit(2) from None
    table, summary = render(report, file)
    console = Console()
    if table is not None:
        console.print(table)
    console.print(summary)
    raise typer.Exit(1 if report["rejected"] else 0)


@import_app.command("assets")
def import_assets(file: ImportFile, api: ImportApi = "http://127.0.0.1:8080",
                  api_key: ImportKey = None, mode: ImportMode = "upsert") -> None:
    """Create or update assets from a CSV file; prints the rejected rows and the totals and
    exits 1 if any row was rejected, 2 if the file was not imported at all."""
    run_import("assets", file, api, api_key, mode)


@import_app.command("recalls")
def import_recalls(file: ImportFile, api: ImportApi = "http://127.0.0.1:8080",
                   api_key: ImportKey = None, mode: ImportMode = "upsert") -> None:
    """Create or update recalls from a CSV file (lots and serials separated by `;`); exits
    as `import assets` does."""
    run_import("recalls", file, api, api_key, mode)


@dashboards_app.command("generate")
def dashboards_generate(
    check: Annotated[bool, typer.Option(
        help="Only compare dashboards/json with the generator; exit 1 on a difference.")
    ] = False,
) -> None:
    """Write dashboards/json from the dashboards' code (dashboards/boards.py)."""
    from dashboards import generate

    if check:
        problems = generate.stale()
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            typer.echo("run `boomerang dashboards generate` and commit the result", err=True)
            raise typer.Exit(1)
        typer.echo(f"dashboards/json matches the generator ({len(generate.rendered())} "
                   "dashboards)")
        return
    for path in generate.write():
        typer.echo(f"wrote {path}")


@dashboards_app.command("preview")
def dashboards_preview(
    asset: Annotated[str, typer.Option(help="The asset whose condition charts to draw")],
    influx_url: Annotated[str, typer.Option(
        help="InfluxDB, for InfluxQL on /query (1.x, 2.x with a DBRP mapping, 3.x)")
    ] = "http://127.0.0.1:8086",
    influx_db: Annotated[str, typer.Option(help="InfluxQL database")] = "boomerang",
    influx_token: Annotated[str | None, typer.Option(
        envvar="BOOMERANG_INFLUX_TOKEN", help="InfluxDB 2.x/3.x token")] = None,
    hours: Annotated[float, typer.Option(help="The time range: this many hours to now")
                     ] = 48,
    out: Annotated[Path, typer.Option(help="Where to write the PNGs")] = Path("docs/img"),
) -> None:
    """Draw fleet-map.png and asset-conditions.png from the dashboards' own queries
    (needs matplotlib: pip install 'boomerang[preview]')."""
    from datetime import UTC, datetime, timedelta

    import httpx

    from dashboards.preview import InfluxQL, Window, render_asset_conditions, render_fleet_map

    source = InfluxQL(influx_url, influx_db, token=influx_token)
    end = datetime.now(UTC)
    window = Window(end - timedelta(hours=hours), end)
    out.mkdir(parents=True, exist_ok=True)
    try:
        assets = render_fleet_map(source, window, out / "fleet-map.png")
        readings = render_asset_conditions(source, window, asset, out / "asset-conditions.png")
    except (httpx.HTTPError, RuntimeError) as exc:
        typer.echo(f"cannot query InfluxDB at {influx_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {out / 'fleet-map.png'} ({assets} assets) and "
               f"{out / 'asset-conditions.png'} ({readings} readings of {asset})")


@dashboards_app.command("push")
def dashboards_push(
    grafana_url: Annotated[str, typer.Option(
        help="Grafana's root URL: http(s)://host:port, and its sub-path if it has one")],
    token: Annotated[str | None, typer.Option(
        envvar="BOOMERANG_GRAFANA_TOKEN",
        help="A Grafana service-account token (Admin role: it creates a data source)")] = None,
    influx_url: Annotated[str | None, typer.Option(
        help="InfluxDB as Grafana reaches it; default: the provisioning file's")] = None,
    influx_db: Annotated[str | None, typer.Option(
        help="The InfluxQL database; default: the provisioning file's")] = None,
    influx_token: Annotated[str | None, typer.Option(
        envvar="BOOMERANG_GRAFANA_INFLUX_TOKEN",
        help="InfluxDB 2/3 token, sent as `Authorization: Token ...` (read-only is enough); "
        "default: the provisioning file's")] = None,
    influx_user: Annotated[str | None, typer.Option(
        help="InfluxDB 1.x user, instead of a token")] = None,
    influx_password: Annotated[str | None, typer.Option(
        envvar="BOOMERANG_GRAFANA_INFLUX_PASSWORD", help="InfluxDB 1.x password")] = None,
    resend_secret: Annotated[bool, typer.Option(
        help="Send the InfluxDB token or password even if nothing else changed (Grafana "
        "never shows a stored secret, so a push cannot tell whether it differs)")] = False,
) -> None:
    """Create or update the folder "Boomerang", the data source and every dashboard of
    dashboards/json in a running Grafana; prints what was created, updated or unchanged.
    Exits 1 if Grafana could not be reached or refused something."""
    from dashboards.push import InfluxTarget, PushError, push

    if not token:
        typer.echo("--token (or BOOMERANG_GRAFANA_TOKEN) is needed", err=True)
        raise typer.Exit(2)
    try:
        influx = InfluxTarget(url=influx_url, database=influx_db, token=influx_token,
                              user=influx_user, password=influx_password)
    except PushError as exc:
        typer.echo(f"--influx-*: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result = push(grafana_url, token, influx, resend_secret=resend_secret)
    except PushError as exc:
        for item in exc.done:
            typer.echo(item.line())
        typer.echo(f"dashboards push: {exc}", err=True)
        raise typer.Exit(1) from None
    for item in result.items:
        typer.echo(item.line())
    typer.echo(result.summary())


def main() -> None:
    app()
