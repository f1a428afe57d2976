"""Who judges each partition of a cluster's readings, as the state database knows it: the
fencing half of a partition's lease (gateway/cluster.py holds the other half in JetStream
KV).

Taking a partition over raises its epoch here, in a transaction of its own; every
transaction in which a gateway writes rule state or alerts first reads the epochs of the
partitions it believes it holds (`FOR SHARE`) and is refused when one moved on. The shared
row lock orders the two: a takeover's update waits for a judging transaction under way, and
once it has committed, nothing judged under the old epoch commits any more. The epoch is
the database's own number, not the KV revision, so that a lease bucket made afresh (NATS's
data lost) cannot hand out tokens lower than the ones already used."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, Table, Text, select

from ingest.statedb import METADATA, StateDb, Utc, upsert

PARTITION_OWNERS = Table(
    "partition_owners", METADATA,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("owner", Text, nullable=False),
    Column("lease_revision", BigInteger, nullable=False),
    Column("taken_at", Utc, nullable=False),
)


class PartitionOwners:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def take(self, partition: int, owner: str, lease_revision: int, at: datetime) -> int:
        """This gateway judges `partition` from now on: its new epoch, which every later
        write of it must still find (`lost`). Commits on its own."""
        table = PARTITION_OWNERS
        insert = upsert(self.db, table).values(
            partition=partition, epoch=1, owner=owner, lease_revision=lease_revision,
            taken_at=at)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.partition],
            set_={"epoch": table.c.epoch + 1, "owner": owner,
                  "lease_revision": lease_revision, "taken_at": at},
        ).returning(table.c.epoch)
        with self.db.transaction() as conn:
            return int(conn.execute(statement).scalar_one())

    def lost(self, held: Mapping[int, int]) -> list[int]:
        """Of the partitions held ({partition: epoch}), those another gateway has taken
        since. Call inside the transaction to be fenced: on PostgreSQL the rows stay locked
        against a takeover until it ends."""
        if not held:
            return []
        table = PARTITION_OWNERS
        query = select(table.c.partition, table.c.epoch).where(
            table.c.partition.in_(list(held)))
        if self.db.is_postgresql:
            query = query.with_for_update(read=True)
        now = {row.partition: row.epoch for row in self.db.rows(query)}
        return sorted(p for p, epoch in held.items() if now.get(p) != epoch)

    def owners(self) -> dict[int, tuple[str, int]]:
        """{partition: (owner, epoch)} as last taken: for operators and tests."""
        table = PARTITION_OWNERS
        return {row.partition: (row.owner, row.epoch) for row in self.db.rows(
            select(table.c.partition, table.c.owner, table.c.epoch))}
