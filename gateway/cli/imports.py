"""`boomerang import`: bulk import of assets and recalls from CSV files, through a running
gateway's REST API (named `imports`: `import` is a keyword)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

import_app = typer.Typer(help="Bulk import from CSV files, through a running gateway's REST API.",
                         no_args_is_help=True)


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
