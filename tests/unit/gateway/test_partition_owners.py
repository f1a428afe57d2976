"""The fencing half of a cluster's partition leases (gateway/registry/partitions.py), on
PostgreSQL, the only engine a cluster runs on: each take raises the epoch, a holder whose
epoch moved on learns it lost the partition, and a takeover waits for a transaction that
checked the old epoch, so nothing judged under it commits after the takeover."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from support.postgres import Postgres

from gateway.registry.partitions import PartitionOwners
from ingest.statedb import StateDb


@pytest.fixture
def pg_url(postgres: Postgres) -> Iterator[str]:
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


def test_each_take_raises_the_epoch_and_the_earlier_holder_has_lost(pg_url: str) -> None:
    db = StateDb.open(pg_url)
    owners = PartitionOwners(db)
    now = datetime.now(UTC)
    first = owners.take(3, "g1", lease_revision=10, at=now)
    assert owners.lost({3: first}) == []
    second = owners.take(3, "g2", lease_revision=11, at=now)
    assert second == first + 1
    assert owners.lost({3: first}) == [3]
    assert owners.lost({3: second}) == []
    # A partition nobody took yet is not one's to hold either.
    assert owners.lost({4: 1}) == [4]
    assert owners.owners()[3] == ("g2", second)
    db.close()


def test_a_takeover_waits_for_the_transaction_fenced_with_the_old_epoch(pg_url: str) -> None:
    holder, taker = StateDb.open(pg_url), StateDb.open(pg_url)
    epoch = PartitionOwners(holder).take(0, "g1", lease_revision=1, at=datetime.now(UTC))
    taken: list[float] = []

    def take_over() -> None:
        PartitionOwners(taker).take(0, "g2", lease_revision=2, at=datetime.now(UTC))
        taken.append(time.monotonic())

    with holder.transaction():
        assert PartitionOwners(holder).lost({0: epoch}) == []
        thread = threading.Thread(target=take_over)
        thread.start()
        time.sleep(0.5)
        assert taken == [], "the takeover did not wait for the fenced transaction"
        committed = time.monotonic()
    thread.join(10)
    assert taken and taken[0] >= committed
    assert PartitionOwners(holder).lost({0: epoch}) == [0]
    holder.close()
    taker.close()
