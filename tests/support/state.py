"""A state database for a test that needs one but tests no store: SQLite in memory, migrated."""

from __future__ import annotations

from gateway.migrations import upgrade
from ingest.statedb import StateDb


def memory_state() -> StateDb:
    db = StateDb.open("sqlite://")
    upgrade(db)
    return db
