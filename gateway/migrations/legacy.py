"""Adopting a state database of release 0.1.0: SQLite, its schema numbered in `PRAGMA
user_version` (1 to 4; 0 with tables in it is 1, from before that number was kept). Its
missing steps are applied as that release applied them, then Alembic takes over at revision
0001, which is that release's schema."""

from __future__ import annotations

from sqlalchemy import Connection, inspect

STAMP = "0001"


class SchemaTooNew(Exception):
    """The database was written by a newer gateway."""

# Release 0.1.0's steps after the first, verbatim (SQLite only).
_STEPS: dict[int, tuple[str, ...]] = {
    2: ("CREATE INDEX IF NOT EXISTS alerts_by_kind ON alerts (kind, state, opened_at)",),
    3: ("CREATE INDEX IF NOT EXISTS assets_by_sku ON assets (sku)",
        "CREATE INDEX IF NOT EXISTS assets_by_serial ON assets (serial)",
        "CREATE INDEX IF NOT EXISTS assets_by_lot ON assets (lot)",
        "CREATE INDEX IF NOT EXISTS assets_by_customer ON assets (customer)",
        "CREATE INDEX IF NOT EXISTS assets_by_created ON assets (created_at, id)",
        "CREATE INDEX IF NOT EXISTS assets_by_due ON assets (IFNULL(due_at, X''), id)"),
    4: ("ALTER TABLE dead_letters ADD COLUMN cause TEXT NOT NULL DEFAULT 'invalid_reading'",
        "ALTER TABLE dead_letters ADD COLUMN payload_bytes INTEGER",
        "ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT",
        "CREATE TABLE IF NOT EXISTS tag_speakers (tag_id TEXT PRIMARY KEY, speaker TEXT NOT "
        "NULL, since TEXT NOT NULL) WITHOUT ROWID"),
}
LAST = 4


def adopt(conn: Connection) -> int | None:
    """If `conn` holds a database of release 0.1.0 not yet under Alembic, bring it to that
    release's last schema and return the version it was at; otherwise None."""
    if conn.dialect.name != "sqlite":
        return None
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables or "assets" not in tables:
        return None
    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    if version > LAST:
        raise SchemaTooNew(
            f"the state database is at schema version {version}, newer than this gateway "
            f"knows ({LAST}): run the newer gateway, or restore a backup")
    for step in range(max(version, 1) + 1, LAST + 1):
        for statement in _STEPS[step]:
            conn.exec_driver_sql(statement)
    return version
