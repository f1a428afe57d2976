"""`asset_states` and `gateway_stats` points: the state the fleet map shows, its precedence,
when points are written and how they are stamped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts import AlertStore, ArrivalEvent, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.conditions import Condition, condition_of
from alerts.domain import Asset, AssetKind, AssetState, Flow, Recall
from gateway.migrations import upgrade
from gateway.snapshots import ASSET_STATES, Snapshots, asset_state_point, gateway_stats_points
from ingest.readings import Reading
from ingest.sinks import Point, PointBatcher
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("state", "kinds", "expected"), [
    (AssetState.IN_TRANSIT, set(), Condition.IN_TRANSIT),
    (AssetState.IN_TRANSIT, {"silent", "low_battery"}, Condition.IN_TRANSIT),
    (AssetState.IN_TRANSIT, {"overdue"}, Condition.OVERDUE),
    (AssetState.IN_TRANSIT, {"overdue", "out_of_spec"}, Condition.OUT_OF_SPEC),
    (AssetState.IN_TRANSIT, {"overdue", "out_of_spec", "recall"}, Condition.RECALLED),
    (AssetState.RECEIVED, {"out_of_spec"}, Condition.RECEIVED),
    (AssetState.RETURNED, {"overdue"}, Condition.RETURNED),
])
def test_what_to_act_on_first_names_the_state(state: AssetState, kinds: set[str],
                                              expected: Condition) -> None:
    asset = Asset("a", AssetKind.RENTAL, Flow.RENTAL_RETURN, state=state)
    assert condition_of(asset, kinds) is expected


class Written:
    def __init__(self) -> None:
        self.batches: list[list[Point]] = []

    def __call__(self, points: Sequence[Point]) -> None:
        self.batches.append(list(points))


@pytest.fixture
def engine(tmp_path: Path) -> RuleEngine:
    db = StateDb.open(f"sqlite:///{tmp_path}/state.db")
    upgrade(db)
    engine = RuleEngine(AlertStore(db), WebhookOutbox(db), SubscriptionStore(db), lambda: T0)
    engine.upsert_asset(Asset("cold", AssetKind.SHIPMENT, Flow.RECALL, tag_id="t1",
                              sku="VAC", lot="L1", profile="cold_chain",
                              due_at=T0 - timedelta(days=2)))
    engine.upsert_asset(Asset("gen", AssetKind.RENTAL, Flow.RENTAL_RETURN, tag_id="t2",
                              customer="Rheinwerk Bau", due_at=T0 + timedelta(days=3)))
    return engine


def snapshots(engine: RuleEngine, written: Written, now: datetime | None = T0,
              interval_s: float = 60) -> Snapshots:
    return Snapshots(engine, written, rules_now=lambda: now, asset_interval_s=interval_s,
                     stats_interval_s=10, instance="gw-1", started_at=T0)


async def test_a_recalled_cold_chain_shipment_is_written_as_recalled_with_its_limits(
        engine: RuleEngine) -> None:
    engine.judge_readings([Reading("t1", T0, 1, {"lat": 50.1, "lon": 8.2, "temp_c": 5.0})])
    engine.upsert_recall(Recall("r1", sku="VAC", lots=("L1",)))
    written = Written()
    await snapshots(engine, written).on_rules_clock(T0 + timedelta(minutes=1))
    points = {p.tags["asset_id"]: p for p in written.batches[0]}
    cold = points["cold"]
    assert cold.measurement == ASSET_STATES
    assert cold.tags == {"asset_id": "cold", "asset_kind": "shipment", "flow": "recall"}
    assert cold.fields["state"] == "recalled"
    assert (cold.fields["recalled"], cold.fields["out_of_spec"]) == (1.0, 0.0)
    assert (cold.fields["lat"], cold.fields["lon"]) == (50.1, 8.2)
    assert (cold.fields["temp_c_min"], cold.fields["temp_c_max"]) == (2.0, 8.0)
    assert cold.fields["battery_pct_min"] == 15.0
    assert cold.fields["sku"] == "VAC" and cold.fields["tag_id"] == "t1"
    gen = points["gen"]
    assert gen.tags["customer"] == "Rheinwerk Bau"
    assert gen.fields["state"] == "in_transit" and "lat" not in gen.fields
    assert gen.fields["due_in_s"] == pytest.approx(3 * 86_400 - 60)
    assert gen.fields["days_overdue"] == 0.0
    # Every number a float: a field keeps the type of its first point.
    assert all(isinstance(v, float | str) and not isinstance(v, bool)
               for p in points.values() for v in p.fields.values())


async def test_snapshots_come_once_per_interval_and_skip_what_has_arrived(
        engine: RuleEngine) -> None:
    written = Written()
    writer = snapshots(engine, written)
    await writer.on_rules_clock(T0)
    await writer.on_rules_clock(T0 + timedelta(seconds=59))
    assert len(written.batches) == 1
    engine.conditions(T0, ["cold", "gen"])  # no side effect
    engine._assets["cold"].state = AssetState.RECEIVED
    engine._assets["gen"].state = AssetState.RETURNED
    await writer.on_rules_clock(T0 + timedelta(seconds=60))
    # A rental is followed in or out: its availability over time is its utilization.
    [gen] = written.batches[1]
    assert gen.tags["asset_id"] == "gen"
    assert (gen.fields["available"], gen.fields["out_with_customer"]) == (1.0, 0.0)
    await snapshots(engine, written, interval_s=0).on_rules_clock(T0 + timedelta(days=1))
    assert len(written.batches) == 2


@pytest.fixture
def fleet_in_parts(engine: RuleEngine, monkeypatch: pytest.MonkeyPatch) -> RuleEngine:
    """32 assets followed, snapshots written in parts of 7."""
    monkeypatch.setattr("gateway.snapshots.SNAPSHOT_PART", 7)
    engine.upsert_assets([Asset(f"r{i}", AssetKind.RENTAL, Flow.RENTAL_RETURN)
                          for i in range(30)])
    return engine


async def test_a_large_fleet_is_written_in_parts_with_the_loop_free_between(
        fleet_in_parts: RuleEngine) -> None:
    engine = fleet_in_parts
    written = Written()
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    await snapshots(engine, written).on_rules_clock(T0)
    counter.cancel()
    assert [len(batch) for batch in written.batches] == [7, 7, 7, 7, 4]
    assert len({p.tags["asset_id"] for batch in written.batches for p in batch}) == 32
    assert turns >= 4


class GatedSink:
    """A telemetry sink that stores a batch only when let through."""

    name = "gated"

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.points: list[Point] = []

    async def write(self, points: Sequence[Point]) -> None:
        await self.open.wait()
        self.points += points

    async def close(self) -> None:
        pass


async def test_a_part_of_a_snapshot_is_offered_only_once_the_part_before_is_stored(
        fleet_in_parts: RuleEngine) -> None:
    """Offered all at once, 100,000 assets' points waited in the batcher together (130 MB)."""
    engine = fleet_in_parts
    sink = GatedSink()
    batcher = PointBatcher(sink, max_points=100, max_delay_s=0.01)
    flushing = asyncio.create_task(batcher.run())
    writer = Snapshots(engine, batcher.offer, rules_now=lambda: T0, asset_interval_s=60,
                       stats_interval_s=10, instance="gw-1", started_at=T0,
                       stored=batcher.stored)
    snapshot = asyncio.create_task(writer.on_rules_clock(T0))
    await asyncio.sleep(0.1)
    assert not snapshot.done() and batcher.buffered == 7 and sink.points == []
    sink.open.set()
    await asyncio.wait_for(snapshot, 5)
    await batcher.close()
    await flushing
    assert len({p.tags["asset_id"] for p in sink.points}) == len(sink.points) == 32


async def test_the_events_of_one_batch_become_one_write_stamped_with_the_rules_now(
        engine: RuleEngine) -> None:
    written = Written()
    now = T0 + timedelta(hours=5)
    writer = snapshots(engine, written, now=now)
    engine.listeners.append(writer.on_event)
    # A late reading (an hour old) opens an alert: its point is stamped now, not then.
    engine.judge_readings([Reading("t1", T0 + timedelta(hours=4), 1, {"temp_c": 30.0}),
                           Reading("t1", T0 + timedelta(hours=4, minutes=6), 2,
                                   {"temp_c": 30.0, "shock_g": 400.0})])
    engine.upsert_recall(Recall("r1", sku="VAC"))
    assert written.batches == []  # gathered, written on the next turn of the loop
    await asyncio.sleep(0)
    assert len(written.batches) == 1
    [point] = written.batches[0]
    assert point.ts == now
    assert point.fields["state"] == "recalled"
    assert point.fields["out_of_spec"] == 1.0


async def test_before_the_first_reading_on_event_time_events_write_nothing(
        engine: RuleEngine) -> None:
    written = Written()
    engine.listeners.append(snapshots(engine, written, now=None).on_event)
    engine.upsert_recall(Recall("r1", sku="VAC"))
    await asyncio.sleep(0)
    assert written.batches == []


def test_gateway_stats_carry_the_counters_and_dead_letters_by_cause() -> None:
    points = gateway_stats_points("gw-1", T0, 12.5)
    stats = points[0]
    assert stats.measurement == "gateway_stats" and stats.tags == {"instance": "gw-1"}
    assert {"readings", "duplicates", "dead_letters", "spool_points", "outbox_pending",
            "webhook_delivered", "webhook_failed"} <= set(stats.fields)
    assert stats.fields["uptime_s"] == 12.5
    causes = {p.tags["cause"] for p in points[1:]}
    assert {"not_json", "invalid_reading", "too_large", "sink_refused"} <= causes


def test_gateway_stats_carry_the_cluster_counters_added_up_over_their_labels() -> None:
    from gateway import cluster

    before = gateway_stats_points("gw-1", T0, 1)[0].fields
    cluster.FENCED.labels("batch").inc(2)
    cluster.FENCED.labels("ack").inc(3)
    cluster.TAKEOVERS.inc()
    cluster.LAG.labels("3").set(5)
    cluster.LAG.labels("4").set(7)
    try:
        after = gateway_stats_points("gw-1", T0, 1)[0].fields
    finally:
        cluster.LAG.remove("3")
        cluster.LAG.remove("4")
    assert after["fenced_writes"] == before["fenced_writes"] + 5
    assert after["takeovers"] == before["takeovers"] + 1
    assert after["partition_lag"] == before["partition_lag"] + 12
    assert {"partitions_owned", "relay", "partitions_lost", "lease_renewals_lost",
            "unacknowledged"} <= set(after)


async def test_a_trip_time_stops_at_arrival_and_later_points_do_not_stretch_it(
        engine: RuleEngine) -> None:
    written = Written()
    writer = snapshots(engine, written, now=T0 + timedelta(days=3))
    engine._assets["gen"].state = AssetState.RETURNED
    writer.on_event(ArrivalEvent("gen", {"disposition": "restock",
                                         "trip": {"duration_s": 7200.0}}))
    await asyncio.sleep(0)
    [arrived] = written.batches[-1]
    assert arrived.fields["state"] == "returned"
    assert (arrived.fields["transit_s"], arrived.fields["disposition"]) == (7200.0, "restock")
    # A later point of the arrived asset (an alert resolved by hand) says nothing of the trip.
    [later] = [asset_state_point(c) for c in engine.conditions(T0 + timedelta(days=4),
                                                                ["gen"])]
    assert "transit_s" not in later.fields and "disposition" not in later.fields


async def test_an_arrived_asset_with_an_alert_open_stays_in_the_snapshots(
        engine: RuleEngine) -> None:
    engine._assets["cold"].state = AssetState.RECEIVED
    engine._assets["gen"].state = AssetState.RETURNED
    engine.upsert_recall(Recall("r1", sku="VAC"))  # reaches the item already received
    written = Written()
    await snapshots(engine, written).on_rules_clock(T0)
    points = {p.tags["asset_id"]: p for batch in written.batches for p in batch}
    point = points["cold"]
    assert (point.fields["state"], point.fields["recalled"]) == ("received", 1.0)
    assert set(points) == {"cold", "gen"}  # the rental as every rental


async def test_an_asset_written_by_an_event_during_a_snapshot_is_left_to_that_event(
        engine: RuleEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.snapshots.SNAPSHOT_PART", 5)
    engine.upsert_assets([Asset(f"r{i:02}", AssetKind.RENTAL, Flow.RENTAL_RETURN)
                          for i in range(20)])
    written = Written()
    writer = snapshots(engine, written)

    async def event_after_the_first_part() -> None:
        await asyncio.sleep(0)
        writer.on_event(ArrivalEvent("r17", {"disposition": "restock", "trip": {}}))

    event = asyncio.create_task(event_after_the_first_part())
    await writer.on_rules_clock(T0)
    await event
    points = [p.tags["asset_id"] for batch in written.batches for p in batch]
    assert points.count("r17") == 1  # the event's, not the snapshot's older reading
    assert len(set(points)) == 22


async def test_a_cluster_gateway_writes_the_snapshots_of_the_assets_it_judges_alone(
        engine: RuleEngine) -> None:
    """The others' copies of an asset may be behind: its judge's points are the truth."""
    engine.owns = lambda asset: asset.tag_id == "t2"
    written = Written()
    await snapshots(engine, written).on_rules_clock(T0)
    assert [p.tags["asset_id"] for p in written.batches[0]] == ["gen"]
