"""A state database for a test that needs one but tests no store (SQLite in memory, migrated),
and what tests read off a gateway's state database directly."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from alerts.store import ALERTS
from gateway.migrations import upgrade
from ingest.statedb import StateDb


def memory_state() -> StateDb:
    db = StateDb.open("sqlite://")
    upgrade(db)
    return db


def live_alerts_per_key(state_url: str) -> Counter[tuple[str, str, str]]:
    """How many open or acknowledged alerts each (asset, kind, key) has in the state
    database at `state_url`: never more than one."""
    db = StateDb.open(state_url)
    try:
        rows = db.rows(select(ALERTS.c.asset_id, ALERTS.c.kind, ALERTS.c.key)
                       .where(ALERTS.c.state != "resolved"))
    finally:
        db.close()
    return Counter((row.asset_id, row.kind, row.key) for row in rows)
