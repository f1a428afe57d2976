"""The `boomerang` command: the root typer app, with one module per command group."""

from __future__ import annotations

import typer

from gateway.cli import config, dashboards, imports, keys, serve, sim
from gateway.cli._common import settings_or_exit, setup_logging, tune_garbage_collector

__all__ = ["app", "main", "settings_or_exit", "setup_logging", "tune_garbage_collector"]

app = typer.Typer(
    help="Boomerang: tracks what comes back (returns, recalls, rentals). "
    "Settings come from BOOMERANG_* variables and the TOML file named by BOOMERANG_CONFIG.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve.serve)
app.command()(serve.demo)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(config.config_app, name="config")
app.add_typer(sim.sim_app, name="sim")
app.add_typer(imports.import_app, name="import")
app.add_typer(dashboards.dashboards_app, name="dashboards")


def main() -> None:
    app()
