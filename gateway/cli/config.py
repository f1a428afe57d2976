"""`boomerang config`: the effective settings."""

from __future__ import annotations

import json

import typer

from gateway.cli._common import settings_or_exit

config_app = typer.Typer(help="Settings.", no_args_is_help=True)


@config_app.command("check")
def config_check() -> None:
    """Print the effective settings (secrets masked); exit 2 on a bad setting."""
    settings = settings_or_exit()
    typer.echo(json.dumps(settings.masked(), indent=2))
