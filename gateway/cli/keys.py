"""`boomerang keys`: create, list and revoke API keys in the state database."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gateway.cli._common import settings_or_exit

keys_app = typer.Typer(help="API keys (stored hashed in the state database).",
                       no_args_is_help=True)


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
