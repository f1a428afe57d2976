"""Properties over random reading sequences: at most one live alert per key, every resolved
alert was opened first, and nothing happens to an alert after it is resolved."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alerts import AlertStore, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import AlertState, Asset, AssetKind, Circle, Flow, Geofence, GeofenceKind, Recall
from alerts.outbox import DELIVERIES
from alerts.store import AlertFilter
from gateway.migrations import upgrade
from ingest.readings import Reading
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, tzinfo=UTC)

reading_values = st.fixed_dictionaries(
    {},
    optional={
        "temp_c": st.floats(-10, 20),
        "humidity_pct": st.floats(0, 100),
        "battery_pct": st.floats(0, 100),
        "lat": st.floats(49.9, 50.1),
    },
)
# (minutes after T0, values) or a clock tick or a resolve-by-hand of the newest open alert.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("reading"), st.integers(0, 600), reading_values),
        st.tuples(st.just("tick"), st.integers(0, 6000), st.just({})),
        st.tuples(st.just("resolve"), st.just(0), st.just({})),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, recalled=st.booleans())
def test_alert_lifecycles_stay_well_formed(
    steps: list[tuple[str, int, dict[str, float]]], recalled: bool
) -> None:
    db = StateDb.open("sqlite://")
    upgrade(db)
    store, outbox, subscriptions = AlertStore(db), WebhookOutbox(db), SubscriptionStore(db)
    subscriptions.create("http://erp.example/hook")
    now = [T0]
    engine = RuleEngine(store, outbox, subscriptions, lambda: now[0])
    engine.upsert_geofence(Geofence("hub", "Hub", GeofenceKind.HUB, circle=Circle(50, 8.1, 300)))
    engine.upsert_geofence(Geofence("area", "Area", GeofenceKind.AREA,
                                    circle=Circle(50, 8, 5000)))
    engine.upsert_asset(Asset(id="a", kind=AssetKind.SHIPMENT, flow=Flow.RECALL, tag_id="t",
                              sku="S", lot="L", profile="cold_chain", destination="hub",
                              allowed_area="area", due_at=T0 + timedelta(hours=3),
                              created_at=T0))
    if recalled:
        engine.upsert_recall(Recall("r", "S", lots=("L",)))
    for kind, minute, values in steps:
        if kind == "reading":
            if "lat" in values:
                values = {**values, "lon": 8.0 + (values["lat"] - 50)}
            if values:
                engine.judge_readings([Reading("t", T0 + timedelta(minutes=minute), None,
                                               values)])
        elif kind == "tick":
            engine.tick(T0 + timedelta(minutes=minute))
        else:
            live = store.list(AlertFilter(state="open"), limit=1)
            if live:
                engine.resolve(live[0].id, "tester")

    history: dict[str, list[str]] = defaultdict(list)
    for (body,) in db.rows(select(DELIVERIES.c.body).order_by(DELIVERIES.c.seq)):
        event = orjson.loads(body)
        if event["type"].startswith("alert."):
            history[event["data"]["alert"]["id"]].append(event["type"])
    for alert_id, events in history.items():
        assert events[0] == "alert.opened", (alert_id, events)
        assert events.count("alert.opened") == 1, events
        assert events.count("alert.resolved") <= 1, events
        if "alert.resolved" in events:
            assert events[-1] == "alert.resolved", events
    stored = {a.id: a for a in store.list(AlertFilter(), limit=1000)}
    for alert_id, events in history.items():
        resolved = events[-1] == "alert.resolved"
        assert (stored[alert_id].state is AlertState.RESOLVED) == resolved, (alert_id, events)
    live_keys = [(a.kind, a.key) for a in stored.values() if a.state is not AlertState.RESOLVED]
    assert len(live_keys) == len(set(live_keys))
