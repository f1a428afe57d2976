"""The engine over a real SQLite state store: one alert per key, event time, restarts,
recalls at every moment the contract names, and the outbox written with the alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from alerts import (
    AlertStore,
    EnginePolicy,
    Filters,
    RuleEngine,
    SubscriptionStore,
    WebhookOutbox,
)
from alerts.domain import (
    AlertState,
    Asset,
    AssetKind,
    AssetState,
    Circle,
    Flow,
    Geofence,
    GeofenceKind,
    Recall,
    Severity,
)
from alerts.outbox import DELIVERIES
from alerts.store import RULE_STATE, AlertFilter
from ingest.readings import Reading
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
FENCES = [
    Geofence("hub", "Returns hub", GeofenceKind.HUB, circle=Circle(50.0, 8.0, 1000)),
    Geofence("quarantine", "Quarantine cage", GeofenceKind.QUARANTINE,
             circle=Circle(51.0, 7.0, 200)),
    Geofence("germany", "Germany-ish", GeofenceKind.AREA, geometry={
        "type": "Polygon", "coordinates": [[[6, 47], [15, 47], [15, 55], [6, 55], [6, 47]]]}),
]


class Harness:
    def __init__(self, url: str) -> None:
        self.url = url
        self.now = T0
        self.open()

    def open(self) -> None:
        self.db = StateDb.open(self.url)
        self.alerts = AlertStore(self.db)
        self.subscriptions = SubscriptionStore(self.db)
        self.outbox = WebhookOutbox(self.db)
        self.engine = RuleEngine(self.alerts, self.outbox, self.subscriptions, lambda: self.now,
                                 policy=EnginePolicy(overdue_grace=timedelta(hours=1),
                                                     overdue_escalate_after=timedelta(days=1)))
        self.state_changes: list[tuple[str, AssetState]] = []
        self.engine.asset_state_changed = lambda a, s: self.state_changes.append((a, s))
        for fence in FENCES:
            self.engine.upsert_geofence(fence)

    def restart(self, assets: list[Asset], recalls: list[Recall] = ()) -> None:  # type: ignore[assignment]
        self.db.close()
        self.open()
        for asset in assets:
            self.engine.upsert_asset(asset)
        for recall in recalls:
            self.engine.upsert_recall(recall)

    def feed(self, tag_id: str, minute: float, *, acknowledged: bool = True,
             **values: float) -> None:
        """One reading; `acknowledged` saves the rule state as the batcher does before the
        reading's message is acknowledged (without it, a restart forgets that state)."""
        ts = T0 + timedelta(minutes=minute)
        self.engine.judge_readings([Reading(tag_id, ts, None, dict(values))])
        if acknowledged:
            self.engine.save_state()

    def all_alerts(self) -> list[tuple[str, str, AlertState]]:
        return [(a.asset_id, a.kind, a.state) for a in self.alerts.list(AlertFilter())]

    def overdue(self) -> list[tuple[str, str, AlertState]]:
        """all_alerts' overdue ones (a rental far from home near its due date is also
        predicted late)."""
        return [found for found in self.all_alerts() if found[1] == "overdue"]

    def outbox_types(self) -> list[str]:
        return [body["type"] for body in self.outbox_bodies()]

    def outbox_bodies(self) -> list[dict[str, Any]]:
        rows = self.db.rows(select(DELIVERIES.c.body).order_by(DELIVERIES.c.seq))
        return [orjson.loads(r[0]) for r in rows]


@pytest.fixture
def harness(state_url: str) -> Iterator[Harness]:
    harness = Harness(state_url)
    yield harness
    harness.db.close()


def cold_asset(asset_id: str = "a1", tag_id: str = "t1") -> Asset:
    return Asset(id=asset_id, kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN, tag_id=tag_id,
                 sku="VACCINE", lot="L1", profile="cold_chain")


def test_a_long_excursion_opens_one_alert_not_many(harness: Harness) -> None:
    harness.engine.upsert_asset(cold_asset())
    for minute in range(30):
        harness.feed("t1", minute, temp_c=12)
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]


def test_an_out_of_order_reading_never_reverts_state(harness: Harness) -> None:
    harness.engine.upsert_asset(cold_asset())
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 6, temp_c=12)  # open
    harness.feed("t1", 3, temp_c=5)  # late and good: must not resolve
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]
    harness.feed("t1", 7, temp_c=5)
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.RESOLVED)]


def test_a_late_bad_reading_does_not_start_an_excursion(harness: Harness) -> None:
    harness.engine.upsert_asset(cold_asset())
    harness.feed("t1", 10, temp_c=5)
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 16, temp_c=12)
    harness.feed("t1", 20, temp_c=12)
    assert harness.all_alerts() == []  # the excursion began at minute 16


def test_a_restart_mid_excursion_keeps_its_start_and_opens_once(harness: Harness) -> None:
    asset = cold_asset()
    harness.engine.upsert_asset(asset)
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 3, temp_c=12)
    harness.restart([asset])
    harness.feed("t1", 5, temp_c=12)  # 300 s after minute 0: opens
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]
    harness.restart([asset])
    harness.feed("t1", 8, temp_c=12)
    harness.feed("t1", 9, temp_c=5)
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.RESOLVED)]
    assert harness.outbox_types() == []  # no subscribers: nothing queued


def test_an_alert_and_the_rule_state_that_raised_it_survive_a_crash_together(
    harness: Harness,
) -> None:
    """Rule state is written behind, but never apart from the alert it opened: after a crash
    before any acknowledgement the rule still knows its alert is open, and resolves it."""
    asset = cold_asset()
    harness.engine.upsert_asset(asset)
    harness.feed("t1", 0, temp_c=12, acknowledged=False)
    harness.feed("t1", 5, temp_c=12, acknowledged=False)  # opens
    harness.restart([asset])
    harness.feed("t1", 6, temp_c=5, acknowledged=False)
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.RESOLVED)]


def test_unacknowledged_rule_state_comes_back_with_the_redelivered_reading(
    harness: Harness,
) -> None:
    """A crash loses only the state of readings not yet acknowledged, and the broker
    delivers those again: the excursion keeps its start."""
    asset = cold_asset()
    harness.engine.upsert_asset(asset)
    harness.feed("t1", 0, temp_c=12, acknowledged=False)
    harness.restart([asset])
    assert harness.engine.seen("a1").newest_ts is None  # forgotten
    harness.feed("t1", 0, temp_c=12)  # redelivered
    harness.feed("t1", 4, temp_c=12)
    assert harness.all_alerts() == []
    harness.feed("t1", 5, temp_c=12)  # 300 s after minute 0
    assert harness.all_alerts() == [("a1", "out_of_spec", AlertState.OPEN)]


def test_transitions_are_queued_for_matching_subscribers_only(harness: Harness) -> None:
    harness.subscriptions.create("http://erp.example/hook")
    harness.subscriptions.create("http://wms.example/hook", Filters(alert_kinds=("recall",)))
    harness.engine.upsert_asset(cold_asset())
    for minute, temp in [(0, 12), (5, 12), (6, 5)]:
        harness.feed("t1", minute, temp_c=temp)
    assert harness.outbox_types() == ["alert.opened", "alert.resolved"]


RECALL = Recall(id="r1", sku="VACCINE", lots=("L1",), reason="contamination")


def test_a_recall_created_for_a_registered_asset_opens_an_alert(harness: Harness) -> None:
    harness.engine.upsert_asset(cold_asset())
    harness.engine.upsert_recall(RECALL)
    assert harness.all_alerts() == [("a1", "recall", AlertState.OPEN)]


def test_registering_a_recalled_asset_opens_an_alert(harness: Harness) -> None:
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(cold_asset())
    assert harness.all_alerts() == [("a1", "recall", AlertState.OPEN)]


def test_a_recalled_asset_reporting_updates_its_location_without_a_second_alert(
    harness: Harness,
) -> None:
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(cold_asset())
    harness.feed("t1", 1, lat=50.1, lon=8.7)
    harness.feed("t1", 2, lat=50.2, lon=8.8)
    (alert,) = harness.alerts.list(AlertFilter())
    assert alert.location is not None and (alert.location.lat, alert.location.lon) == (50.2, 8.8)


def test_other_lots_and_skus_are_not_recalled(harness: Harness) -> None:
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(Asset(id="a2", kind=AssetKind.SHIPMENT, flow=Flow.B2B_RETURN,
                                      tag_id="t2", sku="VACCINE", lot="L2"))
    harness.engine.upsert_asset(Asset(id="a3", kind=AssetKind.SHIPMENT, flow=Flow.B2B_RETURN,
                                      tag_id="t3", sku="OTHER", lot="L1"))
    assert harness.all_alerts() == []


def test_a_recall_resolved_by_hand_is_not_raised_again(harness: Harness) -> None:
    asset = cold_asset()
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(asset)
    (alert,) = harness.alerts.list(AlertFilter())
    harness.engine.resolve(alert.id, "returns desk", "in quarantine")
    harness.restart([asset], [RECALL])
    harness.feed("t1", 1, lat=50.1, lon=8.7)
    assert harness.all_alerts() == [("a1", "recall", AlertState.RESOLVED)]


def test_acknowledge_then_resolve_by_hand_records_who(harness: Harness) -> None:
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(cold_asset())
    (alert,) = harness.alerts.list(AlertFilter())
    acknowledged = harness.engine.acknowledge(alert.id, "alice", "calling the customer")
    assert acknowledged is not None and acknowledged.state is AlertState.ACKNOWLEDGED
    resolved = harness.engine.resolve(alert.id, "bob", "collected")
    assert resolved is not None and resolved.details["resolved_by"] == "bob"
    assert resolved.details["acknowledged_by"] == "alice"




def test_overdue_opens_on_the_clock_without_any_reading_and_escalates(harness: Harness) -> None:
    rental = Asset(id="r1", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id="t9",
                   due_at=T0 - timedelta(hours=2), destination="hub", created_at=T0)
    harness.engine.upsert_asset(rental)
    harness.engine.tick(T0)
    (alert,) = harness.alerts.list(AlertFilter(kind="overdue"))
    assert alert.severity is Severity.WARNING
    harness.engine.tick(T0 + timedelta(hours=12))
    assert harness.outbox_types() == []  # no subscriber yet, nothing else changes
    harness.subscriptions.create("http://erp.example/hook")
    harness.restart([rental])
    harness.engine.tick(T0 + timedelta(days=1, hours=1))
    assert harness.outbox_types() == ["alert.updated"]
    (alert,) = harness.alerts.list(AlertFilter(kind="overdue"))
    assert alert.severity is Severity.CRITICAL


def test_on_event_time_a_rental_falls_overdue_when_the_readings_say_so(
    harness: Harness,
) -> None:
    """The watermark is the newest reading time of any tag; it only moves forward and is
    back after a restart, so a replay's timer rules run on the replay's time."""
    rental = Asset(id="r1", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id="t9",
                   due_at=T0 + timedelta(hours=2), destination="hub", created_at=T0)
    harness.engine.upsert_asset(rental)
    assert harness.engine.watermark is None
    harness.feed("t9", 60, lat=52.5, lon=13.4)
    harness.feed("other-tag", 150, temp_c=5)  # any tag moves it
    harness.feed("t9", 90, lat=52.5, lon=13.4)  # late: not back
    assert harness.engine.watermark == T0 + timedelta(minutes=150)
    harness.engine.tick(harness.engine.watermark)
    assert harness.overdue() == []  # 2.5 h: due, but within the hour's grace
    harness.restart([rental])
    assert harness.engine.watermark == T0 + timedelta(minutes=90)  # t9's, the only asset
    harness.feed("t9", 190, lat=52.5, lon=13.4)
    harness.engine.tick(harness.engine.watermark)
    assert harness.overdue() == [("r1", "overdue", AlertState.OPEN)]


def test_silent_opens_on_the_clock_and_a_reading_resolves_it(harness: Harness) -> None:
    asset = cold_asset()  # cold_chain: silent after an hour
    harness.engine.upsert_asset(asset)
    harness.feed("t1", 0, temp_c=5)
    harness.engine.tick(T0 + timedelta(minutes=59))
    assert harness.all_alerts() == []
    harness.engine.tick(T0 + timedelta(minutes=61))
    assert harness.all_alerts() == [("a1", "silent", AlertState.OPEN)]
    harness.feed("t1", 70, temp_c=5)
    assert harness.all_alerts() == [("a1", "silent", AlertState.RESOLVED)]


def test_leaving_the_allowed_area_and_coming_back(harness: Harness) -> None:
    asset = Asset(id="a5", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id="t5",
                  allowed_area="germany")
    harness.engine.upsert_asset(asset)
    harness.feed("t5", 0, lat=50.0, lon=9.0)
    harness.feed("t5", 1, lat=48.8, lon=2.3)  # Paris
    assert harness.all_alerts() == [("a5", "geofence", AlertState.OPEN)]
    harness.feed("t5", 2, lat=49.0, lon=3.0)
    harness.feed("t5", 3, lat=50.0, lon=9.0)
    assert harness.all_alerts() == [("a5", "geofence", AlertState.RESOLVED)]


def test_low_battery_through_the_profile(harness: Harness) -> None:
    harness.engine.upsert_asset(cold_asset())  # cold_chain: below 15 %
    harness.feed("t1", 0, battery_pct=14)
    harness.feed("t1", 1, battery_pct=18)
    harness.feed("t1", 2, battery_pct=21)
    assert harness.all_alerts() == [("a1", "low_battery", AlertState.RESOLVED)]


def shipment_home(harness: Harness, **extra: Any) -> Asset:
    fields: dict[str, Any] = {"due_at": T0 - timedelta(days=2), **extra}
    asset = Asset(id="s1", kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN, tag_id="t7",
                  sku="PHONE", lot="L7", profile="fragile", destination="hub", **fields)
    harness.subscriptions.create("http://wms.example/hook")
    harness.engine.upsert_asset(asset)
    return asset


def test_arrival_receives_the_shipment_resolves_overdue_and_reports_the_trip(
    harness: Harness,
) -> None:
    shipment_home(harness)
    harness.engine.tick(T0)  # overdue
    harness.feed("t7", 0, lat=50.0, lon=9.0, shock_g=0.5)
    harness.feed("t7", 30, lat=50.0, lon=8.5, shock_g=6.0)  # a drop: fragile allows 3 g
    harness.feed("t7", 60, lat=50.001, lon=8.0, shock_g=0.1)
    assert harness.state_changes == [("s1", AssetState.RECEIVED)]
    assert harness.outbox_types() == ["alert.opened", "alert.opened", "alert.resolved",
                                      "alert.resolved", "asset.arrived"]
    arrived = harness.outbox_bodies()[-1]["data"]
    assert arrived["state"] == "received" and arrived["disposition"] == "inspect"
    assert arrived["disposition_rule"] == "default:out-of-spec"
    assert arrived["destination"]["name"] == "Returns hub"
    assert arrived["trip"]["distance_km"] == pytest.approx(71.5, rel=0.01)
    assert arrived["trip"]["worst"]["shock_g_max"] == 6.0
    assert {a["kind"] for a in arrived["trip"]["alerts"]} == {"overdue", "out_of_spec"}
    harness.feed("t7", 61, lat=50.0, lon=8.0)
    assert harness.outbox_types().count("asset.arrived") == 1


def test_a_recalled_item_arriving_is_quarantined_and_its_recall_resolved(
    harness: Harness,
) -> None:
    shipment_home(harness, due_at=None)
    harness.engine.upsert_recall(Recall(id="r1", sku="PHONE", lots=("L7",)))
    harness.feed("t7", 0, lat=50.0, lon=8.0)
    bodies = harness.outbox_bodies()
    assert [b["type"] for b in bodies] == ["alert.opened", "alert.resolved", "asset.arrived"]
    assert bodies[-1]["data"]["disposition"] == "quarantine"


def test_entering_a_quarantine_geofence_resolves_the_recall(harness: Harness) -> None:
    shipment_home(harness, due_at=None)
    harness.engine.upsert_recall(Recall(id="r1", sku="PHONE"))
    harness.feed("t7", 0, lat=51.0005, lon=7.0)
    assert harness.all_alerts() == [("s1", "recall", AlertState.RESOLVED)]
    assert harness.state_changes == []  # quarantine is not its destination


def test_removing_an_asset_resolves_its_live_alerts_and_announces_them(
    harness: Harness,
) -> None:
    harness.subscriptions.create("http://erp.example/hook")
    harness.engine.upsert_recall(RECALL)
    harness.engine.upsert_asset(cold_asset())  # recall: open
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 5, temp_c=12)  # out_of_spec: open
    (excursion,) = harness.alerts.list(AlertFilter(kind="out_of_spec"))
    harness.engine.acknowledge(excursion.id, "alice")
    announced: list[str] = []
    harness.engine.listeners.append(lambda event: announced.append(event.type))
    harness.engine.remove_asset("a1", by="bob")
    assert sorted(harness.all_alerts()) == [("a1", "out_of_spec", AlertState.RESOLVED),
                                            ("a1", "recall", AlertState.RESOLVED)]
    for alert in harness.alerts.list(AlertFilter()):
        assert alert.details["resolution"] == "asset deleted"
        assert alert.details["resolved_by"] == "bob"
        assert alert.resolved_at == harness.now
    assert announced == ["alert.resolved", "alert.resolved"]
    assert harness.outbox_types()[-2:] == ["alert.resolved", "alert.resolved"]
    bodies = harness.outbox_bodies()[-2:]
    assert {b["data"]["alert"]["kind"] for b in bodies} == {"out_of_spec", "recall"}


@pytest.mark.parametrize("restart", [False, True], ids=["in memory", "after a restart"])
def test_a_removed_asset_s_rule_state_is_forgotten(harness: Harness, restart: bool) -> None:
    """An asset registered again under the same id starts afresh: the excursion and the
    newest reading time of the one removed neither hold back nor open its alerts."""
    asset = cold_asset()
    harness.engine.upsert_asset(asset)
    harness.feed("t1", 0, temp_c=12)
    harness.feed("t1", 5, temp_c=12)  # opens
    harness.feed("t1", 10, temp_c=12, acknowledged=False)  # state not saved yet
    harness.engine.remove_asset("a1")
    stored = harness.db.scalar(select(func.count()).select_from(RULE_STATE)
                               .where(RULE_STATE.c.asset_id == "a1"))
    assert stored == 0
    if restart:
        harness.restart([])
    assert harness.engine.seen("a1").newest_ts is None
    harness.engine.upsert_asset(cold_asset())
    # Older than the removed asset's newest reading: judged all the same.
    harness.feed("t1", 1, temp_c=12)
    harness.feed("t1", 6, temp_c=12)
    assert sorted(harness.all_alerts()) == [("a1", "out_of_spec", AlertState.OPEN),
                                            ("a1", "out_of_spec", AlertState.RESOLVED)]
