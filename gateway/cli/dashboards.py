"""`boomerang dashboards`: generate, preview and push the Grafana dashboards kept as code in
dashboards/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dashboards_app = typer.Typer(help="Grafana dashboards, kept as code in dashboards/.",
                             no_args_is_help=True)


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
