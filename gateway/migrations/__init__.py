"""The state database's schema, brought up to date at start-up by Alembic: one revision per
change under `versions/`, applied in order, in the one transaction that also takes the
migration lock (PostgreSQL: an advisory lock, so that two gateways starting together do not
both migrate). A database written by release 0.1.0 (SQLite, numbered in `PRAGMA user_version`)
is adopted first (`legacy`). A database at a revision this code does not know was written by
a newer gateway: refused rather than guessed at."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, text

from gateway.migrations import legacy
from gateway.migrations.legacy import SchemaTooNew
from ingest.statedb import METADATA, StateDb

__all__ = ["SchemaTooNew", "current_revision", "head", "target_metadata", "upgrade"]

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x626F6F6D  # "boom": the advisory lock two starting gateways queue on


STORE_MODULES = ("alerts.outbox", "alerts.store", "alerts.subscriptions",
                 "gateway.registry.assets", "gateway.registry.changes", "gateway.registry.keys",
                 "gateway.registry.partitions", "gateway.registry.places",
                 "gateway.registry.trips",
                 "ingest.deadletters", "ingest.speakers")
"""The modules that declare tables on METADATA."""


def target_metadata() -> MetaData:
    """Every store's tables: their modules declare them on METADATA when imported."""
    for module in STORE_MODULES:
        importlib.import_module(module)
    return METADATA


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    assert revision is not None
    return revision


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: StateDb, target: str = "head") -> str:
    """Bring the database to the newest revision (or `target`); returns the revision."""
    with db.transaction() as conn:
        if db.is_postgresql:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config = _config(conn)
        adopted = legacy.adopt(conn)
        if adopted is not None:
            command.stamp(config, legacy.STAMP)
            log.info("state database of release 0.1.0 (schema version %d) adopted", adopted)
        before = current_revision(conn)
        if before is not None:
            try:
                ScriptDirectory.from_config(config).get_revision(before)
            except CommandError:
                raise SchemaTooNew(
                    f"the state database is at schema revision {before}, which this gateway "
                    f"does not know (its newest is {head()}): it was written by a newer "
                    "gateway; run that one, or restore a backup") from None
        command.upgrade(config, target)
        after = current_revision(conn)
    assert after is not None
    if after != before:
        log.info("state database migrated from revision %s to %s", before or "(empty)", after)
    return after
