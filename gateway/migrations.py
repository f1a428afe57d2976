"""Schema migrations for the state database (`state.db`), so that upgrading keeps the data.

Each store creates its tables as they were at schema version 1 (`CREATE ... IF NOT
EXISTS`); every change since is a numbered migration here, applied once, in order, in its
own transaction, and recorded in SQLite's own `PRAGMA user_version`. So never change a
store's SCHEMA text to alter a table: add a migration. A database written by a newer
gateway (a higher version than this code knows) is refused rather than guessed at.

Why not Alembic: it needs SQLAlchemy, which nothing else here uses; SQLite's user_version
and a list of SQL steps are all that one embedded database needs."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from alerts import outbox, subscriptions
from alerts import store as alert_store
from gateway.registry import assets as asset_registry
from gateway.registry import keys, places
from ingest import deadletters, speakers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    why: str
    sql: str


# Version 1 is what the stores create; their own constructors create it too (IF NOT EXISTS),
# so that a store works on its own, in a test, without this module.
BASELINE = "\n".join((asset_registry.SCHEMA, places.SCHEMA, keys.SCHEMA, alert_store.SCHEMA,
                      outbox.SCHEMA, subscriptions.SCHEMA, deadletters.SCHEMA))

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables every store creates", BASELINE),
    Migration(2, "alerts filtered by kind and state without a scan",
              "CREATE INDEX IF NOT EXISTS alerts_by_kind ON alerts (kind, state, opened_at);"),
    Migration(3, "assets filtered by sku, serial, lot and customer, and paged by creation "
              "and due date, without a scan",
              "CREATE INDEX IF NOT EXISTS assets_by_sku ON assets (sku);"
              "CREATE INDEX IF NOT EXISTS assets_by_serial ON assets (serial);"
              "CREATE INDEX IF NOT EXISTS assets_by_lot ON assets (lot);"
              "CREATE INDEX IF NOT EXISTS assets_by_customer ON assets (customer);"
              "CREATE INDEX IF NOT EXISTS assets_by_created ON assets (created_at, id);"
              # The very expression the registry sorts by (AssetRegistry.asset_page).
              "CREATE INDEX IF NOT EXISTS assets_by_due ON assets (IFNULL(due_at, X''), id);"),
    Migration(4, "dead letters keep their cause, and a payload's length and hash when only "
              "its head is kept; which login speaks for which tag id",
              deadletters.SIZE_AND_CAUSE + speakers.SCHEMA),
)
LATEST = MIGRATIONS[-1].version


class SchemaTooNew(Exception):
    """The database was written by a newer gateway."""


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring `db` (its stores' tables already created) to the newest version; returns it."""
    current = schema_version(db)
    latest = migrations[-1].version
    if current > latest:
        raise SchemaTooNew(
            f"the state database is at schema version {current}, newer than this gateway "
            f"knows ({latest}): run the newer gateway, or restore a backup")
    for migration in migrations:
        if migration.version <= current:
            continue
        # executescript commits on its own, so the version is set in the same script; a
        # step that fails leaves its transaction open, and it is rolled back whole.
        try:
            db.executescript(f"BEGIN; {migration.sql} PRAGMA user_version = "
                             f"{migration.version}; COMMIT;")
        except sqlite3.Error:
            if db.in_transaction:
                db.rollback()
            raise
        log.info("state database migrated to version %d: %s", migration.version, migration.why)
    return max(current, latest)
