"""A rule that raises on one reading (or one asset's clock tick) costs only that reading: what
its judgement changed is undone, in memory and in the database, and the rest of the batch is
judged and committed as if it had not come. The fault is injected by making a rule raise on
a chosen value; the engine and its store are the real ones, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.exc import OperationalError
from test_rule_engine import T0, Harness, cold_asset

from alerts import RuleEngine, _metrics
from alerts.domain import AlertState, Asset, AssetKind, AssetState, Flow
from alerts.rules import arrival, out_of_spec, overdue
from ingest.readings import Reading

POISON = 13.0


class Poisoned(RuntimeError):
    pass


@pytest.fixture
def harness(state_url: str) -> Iterator[Harness]:
    harness = Harness(state_url)
    yield harness
    harness.db.close()


@pytest.fixture
def poisoned_out_of_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    judge = out_of_spec.judge

    def raising(metric: str, spec: Any, before: Any, value: float, *args: Any) -> Any:
        if value == POISON:
            raise Poisoned("a rule met a value it cannot judge")
        return judge(metric, spec, before, value, *args)

    monkeypatch.setattr(out_of_spec, "judge", raising)


def reading(tag_id: str, minute: float, **values: float) -> Reading:
    return Reading(tag_id, T0 + timedelta(minutes=minute), None, dict(values))


def errors(stage: str) -> float:
    return _metrics.RULE_ERRORS.labels(stage)._value.get()


@pytest.mark.usefixtures("poisoned_out_of_spec")
def test_a_reading_a_rule_raises_on_is_handed_back_and_the_batch_goes_on(
    harness: Harness,
) -> None:
    for n in (1, 2, 3):
        harness.engine.upsert_asset(cold_asset(f"a{n}", f"t{n}"))
    harness.engine.judge_readings([reading("t1", 0, temp_c=12), reading("t2", 0, temp_c=12)])
    seen_before = harness.engine.seen("a2")
    before = errors("reading")

    poison = reading("t2", 6, temp_c=POISON)
    failed = harness.engine.judge_readings(
        [reading("t1", 6, temp_c=12), poison, reading("t3", 6, temp_c=5)])

    assert [(r, type(e)) for r, e in failed] == [(poison, Poisoned)]
    assert errors("reading") == before + 1
    # a1's excursion opened in the same batch; a3 was judged; a2 is as before the batch.
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]
    assert harness.engine.seen("a3").newest_ts == T0 + timedelta(minutes=6)
    assert harness.engine.seen("a2") == seen_before
    assert harness.engine.watermark == T0 + timedelta(minutes=6)
    # ... and so it stays after a restart: nothing of the poisoned reading was saved.
    harness.engine.save_state()
    harness.restart([cold_asset(f"a{n}", f"t{n}") for n in (1, 2, 3)])
    assert harness.engine.seen("a2") == seen_before
    harness.feed("t2", 7, temp_c=12)  # a2's excursion goes on from minute 0: opens now
    assert ("a2", "out_of_spec", AlertState.OPEN) in harness.all_alerts()


def test_a_rule_raising_after_alerts_were_written_leaves_none_of_them(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Arrival writes the asset's state, resolves its overdue alert and queues
    `asset.arrived` before it builds the trip summary: a summary that raises must take all
    of that back (the savepoint), while another asset's alert in the batch is kept."""
    rental = Asset(id="r1", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id="rt",
                   destination="hub", due_at=T0 - timedelta(days=2))
    # As the asset registry records arrivals: in the engine's transaction.
    arrived = Table("arrived", MetaData(), Column("asset_id", Text), Column("state", Text))
    arrived.create(harness.db.engine)
    harness.engine.asset_state_changed = lambda asset_id, state: harness.db.execute(
        arrived.insert().values(asset_id=asset_id, state=str(state))) and None
    harness.subscriptions.create("http://receiver.test/hook")
    harness.engine.upsert_asset(rental)
    harness.engine.upsert_asset(cold_asset())
    harness.engine.tick(T0)
    assert harness.all_alerts() == [("r1", "overdue", AlertState.OPEN)]
    harness.engine.judge_readings([reading("rt", 3, lat=50.5, lon=8.0)])  # on its way back
    deliveries = len(harness.outbox_types())
    harness.feed("t1", 0, temp_c=12)

    def summary_fails(*_: Any) -> Any:
        raise Poisoned("the trip summary failed")

    monkeypatch.setattr(arrival, "summary", summary_fails)
    at_hub = reading("rt", 6, lat=50.0, lon=8.0)
    failed = harness.engine.judge_readings([at_hub, reading("t1", 6, temp_c=12)])

    assert [r for r, _ in failed] == [at_hub]
    assert rental.state is AssetState.IN_TRANSIT
    assert harness.db.rows(arrived.select()) == []
    assert sorted(harness.all_alerts()) == [("a1", "out_of_spec", AlertState.OPEN),
                                            ("r1", "overdue", AlertState.OPEN)]
    assert harness.outbox_types()[deliveries:] == ["alert.opened"]  # a1's
    monkeypatch.undo()
    harness.engine.judge_readings([reading("rt", 7, lat=50.0, lon=8.0)])
    assert rental.state is AssetState.RETURNED
    assert [tuple(row) for row in harness.db.rows(arrived.select())] == [("r1", "returned")]
    assert ("r1", "overdue", AlertState.RESOLVED) in harness.all_alerts()
    assert harness.outbox_types()[deliveries:] == ["alert.opened", "alert.resolved",
                                                   "asset.arrived"]


def test_a_tick_that_raises_for_one_asset_judges_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for asset_id in ("late-1", "late-2"):
        harness.engine.upsert_asset(Asset(id=asset_id, kind=AssetKind.RENTAL,
                                          flow=Flow.RENTAL_RETURN, due_at=T0 - timedelta(days=2)))
    judge = overdue.judge_clock

    def raising(asset: Asset, *args: Any) -> Any:
        if asset.id == "late-1":
            raise Poisoned("overdue cannot judge late-1")
        return judge(asset, *args)

    monkeypatch.setattr(overdue, "judge_clock", raising)
    before = errors("tick")
    harness.engine.tick(T0)
    assert harness.all_alerts() == [("late-2", "overdue", AlertState.OPEN)]
    assert errors("tick") == before + 1


def test_a_listener_that_raises_costs_neither_the_transition_nor_the_others(
    harness: Harness,
) -> None:
    heard: list[str] = []

    def broken(_: Any) -> None:
        raise Poisoned("a listener failed")

    harness.engine.listeners += [broken, lambda event: heard.append(event.type)]
    harness.subscriptions.create("http://receiver.test/hook")
    harness.engine.upsert_asset(cold_asset())
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 6, temp_c=12)
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]
    assert heard == ["alert.opened"] and harness.outbox_types() == ["alert.opened"]


def test_a_store_failing_mid_batch_leaves_memory_as_before_the_batch(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch comes again (nothing of it was acknowledged): it must find the rule state
    it found, or its readings would be no newer than what memory already holds, and their
    alerts never open."""
    for n in (1, 2):
        harness.engine.upsert_asset(cold_asset(f"a{n}", f"t{n}"))
    harness.feed("t1", 0, temp_c=12)
    seen = {n: harness.engine.seen(f"a{n}") for n in (1, 2)}
    insert_live = harness.alerts.insert_live

    def disk_full(*_: Any) -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(harness.alerts, "insert_live", disk_full)
    batch = [reading("t2", 5, temp_c=5), reading("t1", 6, temp_c=12)]  # t1 opens an alert
    with pytest.raises(OperationalError):
        harness.engine.judge_readings(batch)
    assert {n: harness.engine.seen(f"a{n}") for n in (1, 2)} == seen
    monkeypatch.setattr(harness.alerts, "insert_live", insert_live)
    assert harness.engine.judge_readings(batch) == []
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]


def test_a_batch_that_fails_outside_any_one_reading_is_judged_one_at_a_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep = RuleEngine._keep_state_with

    def fails_with_two(engine: RuleEngine, events: list[Any]) -> None:
        if len(events) > 1:
            raise RuntimeError("a fault of the batch as a whole")
        keep(engine, events)

    monkeypatch.setattr(RuleEngine, "_keep_state_with", fails_with_two)
    for n in (1, 2):
        harness.engine.upsert_asset(cold_asset(f"a{n}", f"t{n}"))
        harness.feed(f"t{n}", 0, temp_c=12)
    failed = harness.engine.judge_readings([reading("t1", 6, temp_c=12),
                                            reading("t2", 6, temp_c=12)])
    assert failed == []
    assert sorted(harness.all_alerts()) == [("a1", "out_of_spec", AlertState.OPEN),
                                            ("a2", "out_of_spec", AlertState.OPEN)]


def test_a_rule_state_that_cannot_be_saved_stays_in_memory_and_costs_nothing_else(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import alerts.engine

    encode = alerts.engine.encode

    def encode_fails_for_a2(state: Any) -> Any:
        if getattr(state, "lat", None) == 66.6:
            raise TypeError("Type is not JSON serializable: object")  # as orjson says it
        return encode(state)

    monkeypatch.setattr(alerts.engine, "encode", encode_fails_for_a2)
    before = errors("save")
    for n in (1, 2):
        harness.engine.upsert_asset(cold_asset(f"a{n}", f"t{n}"))
    harness.feed("t1", 0, temp_c=12)
    harness.engine.judge_readings([reading("t1", 6, temp_c=12),
                                   reading("t2", 6, temp_c=5, lat=66.6, lon=10.0)])
    harness.engine.save_state()
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]
    assert harness.engine.seen("a2").lat == 66.6 and errors("save") == before + 1
