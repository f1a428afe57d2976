"""The registry's revision: a number every change to assets, recalls, profiles or geofences
raises, in the transaction that makes the change. A gateway whose rule engine keeps these in
memory compares it with the revision it last loaded, and reloads when another gateway on the
same database has changed them."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, Table, select, update

from ingest.statedb import METADATA, StateDb

REGISTRY_REVISION = Table(
    "registry_revision", METADATA,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    CheckConstraint("id = 1", name="one_registry_revision"),
)


class RegistryRevision:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def current(self) -> int:
        return int(self.db.scalar(select(REGISTRY_REVISION.c.revision)) or 0)

    def bump(self) -> int:
        """The new revision; call inside the transaction of the change. On PostgreSQL the
        row stays locked until that commits, so changes get their numbers in commit order."""
        return int(self.db.scalar(update(REGISTRY_REVISION).values(
            revision=REGISTRY_REVISION.c.revision + 1).returning(REGISTRY_REVISION.c.revision)))
