"""The engine's part in a cluster of gateways (gateway/cluster.py): it judges on the clock
only the assets it owns, every transaction it writes in is fenced first (a fenced batch is
refused whole, not dead-lettered reading by reading), a partition taken over has its state
read again as another engine left it, and the unsaved state of a lost one is dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from test_rule_engine import T0, Harness, cold_asset

from alerts.domain import Asset, AssetKind, Flow
from ingest.readings import Reading
from ingest.statedb import Fenced


@pytest.fixture
def harness(state_url: str) -> Iterator[Harness]:
    harness = Harness(state_url)
    yield harness
    harness.db.close()


def rental(asset_id: str, tag_id: str) -> Asset:
    return Asset(id=asset_id, kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id=tag_id,
                 due_at=T0 - timedelta(days=1))


def test_the_clock_judges_only_the_assets_this_gateway_owns(harness: Harness) -> None:
    engine = harness.engine
    engine.upsert_assets([rental("mine", "t-mine"), rental("theirs", "t-theirs")])
    engine.owns = lambda asset: asset.id == "mine"
    engine.tick(T0)
    assert {asset_id for asset_id, _, _ in harness.overdue()} == {"mine"}
    engine.tick(T0, only=lambda asset: asset.id == "theirs")  # not owned: still nothing
    assert {asset_id for asset_id, _, _ in harness.overdue()} == {"mine"}


def test_a_fenced_batch_is_refused_whole_and_leaves_nothing(harness: Harness) -> None:
    engine = harness.engine
    engine.upsert_asset(cold_asset())
    harness.feed("t1", 0, temp_c=5)
    before = engine.seen("a1")

    def fence() -> None:
        raise Fenced([3])

    engine.fence = fence
    with pytest.raises(Fenced):
        engine.judge_readings([Reading("t1", T0 + timedelta(minutes=1), None,
                                       {"temp_c": 12.0})])
    assert engine.seen("a1") == before
    assert harness.all_alerts() == []


def test_a_partition_taken_over_reads_the_state_its_last_holder_saved(
        harness: Harness, state_url: str) -> None:
    other = Harness(state_url)
    try:
        for h in (harness, other):
            h.engine.upsert_assets([cold_asset(), cold_asset("a2", "t2")])
        other.feed("t1", 5, temp_c=5)  # judged and saved by the other gateway
        other.feed("t2", 9, temp_c=5)  # of a partition not taken over here
        assert harness.engine.seen("a1").newest_ts is None
        harness.engine.adopt(["a1"])
        assert harness.engine.seen("a1").newest_ts == T0 + timedelta(minutes=5)
        assert harness.engine.seen("a2").newest_ts is None  # only what was taken over
        assert harness.engine.watermark == T0 + timedelta(minutes=5)
    finally:
        other.db.close()


def test_the_unsaved_state_of_a_partition_lost_is_dropped(
        harness: Harness, state_url: str) -> None:
    harness.engine.upsert_asset(cold_asset())
    harness.feed("t1", 1, acknowledged=False, temp_c=5)
    assert harness.engine.drop_unsaved({"a1"}) > 0
    harness.engine.save_state()
    other = Harness(state_url)
    try:
        other.engine.upsert_asset(cold_asset())
        assert other.engine.seen("a1").newest_ts is None
    finally:
        other.db.close()
