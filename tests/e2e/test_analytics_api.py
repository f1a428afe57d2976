"""Return analytics through the API (docs/analytics.md): each table's figures against trips
built with known ones, its filters, its CSV and JSON, and the requests it refuses. Trips are
made through the API (assets, trips, moves, inspections, and readings handed to the rule
engine for real arrivals and alerts); what the API cannot set (when a move happened, the
leg telemetry timed, most alerts) is written through the stores. Each scenario has a customer
of its own, and its tests filter on it: the tables of one never see the trips of another."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update
from support.gateways import unique
from support.inprocess import InProcessApi

from alerts.domain import Alert, AlertKind, AlertState, Severity
from alerts.eta import Lane, Transit
from gateway.registry.trips import TRIP_CHANGES, TRIPS, TripStore
from ingest.readings import Reading

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUB_A = {"id": "an-hub-a", "name": "Hub Duisburg", "kind": "hub",
         "circle": {"lat": 51.4344, "lon": 6.7623, "radius_m": 2000}}
HUB_B = {"id": "an-hub-b", "name": "Hub Berlin", "kind": "hub",
         "circle": {"lat": 52.52, "lon": 13.405, "radius_m": 2000}}
OPENING = {"authorized", "checked_out", "identified"}
FINAL = {"closed", "available", "remedied", "destroyed"}


def at(day: str, hour: float = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T00:00:00+00:00") + timedelta(hours=hour)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(in_process: InProcessApi) -> InProcessApi:
    for hub in (HUB_A, HUB_B):
        assert (await in_process.client.post("/api/v1/geofences", json=hub)).status_code == 201
    return in_process


async def a_trip(api: httpx.AsyncClient, customer: str, *, flow: str = "customer_return",
                 hub: str = "an-hub-a", sku: str | None = None, category: str | None = None,
                 profile: str | None = None, **fields: Any) -> tuple[str, str]:
    """A new asset and its trip: (trip id, asset id); its tag is `tag-` + the asset id."""
    asset_id = unique("an")
    kind = "rental" if flow == "rental_return" else "shipment"
    created = await api.post("/api/v1/assets", json={
        "id": asset_id, "tag_id": f"tag-{asset_id}", "kind": kind, "flow": flow, "sku": sku,
        "category": category, "profile": profile, "open_trip": False})
    assert created.status_code == 201, created.text
    trip = await api.post("/api/v1/trips", json={
        "asset_id": asset_id, "flow": flow, "customer": customer, "destination": hub, **fields})
    assert trip.status_code == 201, trip.text
    return trip.json()["id"], asset_id


async def moved(api: httpx.AsyncClient, trip_id: str, *statuses: str) -> None:
    for status in statuses:
        answer = await api.patch(f"/api/v1/trips/{trip_id}", json={"status": status})
        assert answer.status_code == 200, answer.text


async def inspected(api: httpx.AsyncClient, trip_id: str, disposition: str) -> None:
    answer = await api.post(f"/api/v1/trips/{trip_id}/inspection",
                            json={"disposition": disposition})
    assert answer.status_code == 200, answer.text


async def restamp(gateway: InProcessApi, trip_id: str, **times: datetime) -> None:
    """When each status of the trip's history was reached (what the API dates by the clock);
    the opening status dates the trip's creation, a final one its closing."""
    def write() -> None:
        db = gateway.gateway.db
        with db.transaction():
            for status, moment in times.items():
                db.execute(update(TRIP_CHANGES).where(TRIP_CHANGES.c.trip_id == trip_id,
                                                      TRIP_CHANGES.c.status == status)
                           .values(at=moment))
                column = ("created_at" if status in OPENING
                          else "closed_at" if status in FINAL else None)
                if column is not None:
                    db.execute(update(TRIPS).where(TRIPS.c.id == trip_id)
                               .values({column: moment}))
    await gateway.gateway.db.run(write)


async def travelled(gateway: InProcessApi, trip_id: str, region: str, hub: str, flow: str,
                    started: datetime, hours: float) -> None:
    """The last leg telemetry records at a trip's arrival."""
    transit = Transit(Lane(region, hub, flow), started, started + timedelta(hours=hours), 100.0)
    await gateway.gateway.db.run(TripStore(gateway.gateway.db).travelled, trip_id, transit)


async def alerted(gateway: InProcessApi, asset_id: str, trip_id: str, kind: AlertKind,
                  key: str) -> None:
    alert = Alert(id=f"alt_{uuid.uuid4().hex[:20]}", asset_id=asset_id, tag_id=None, kind=kind,
                  key=key, severity=Severity.WARNING, state=AlertState.OPEN, summary="test",
                  opened_at=datetime.now(UTC), trip_id=trip_id)
    assert await gateway.gateway.db.run(gateway.gateway.alerts.insert_live, alert)


async def feed(gateway: InProcessApi, asset_id: str, lat: float, lon: float,
               **values: float) -> None:
    reading = Reading(f"tag-{asset_id}", datetime.now(UTC), None,
                      {"lat": lat, "lon": lon, **values})
    engine = gateway.gateway.engine
    assert await gateway.gateway.db.run(engine.judge_readings, [reading]) == []


async def table(api: httpx.AsyncClient, name: str, **params: str) -> dict[str, Any]:
    answer = await api.get(f"/api/v1/analytics/{name}", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    for row in (*body["rows"], *body["totals"]):
        assert list(row) == body["columns"]
    return body


def figures(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(row[column] for column in columns) for row in rows]


# Transit times --------------------------------------------------------------------------

TRANSIT_WINDOW = {"from": "2026-11-10T00:00:00Z", "to": "2026-11-11T00:00:00Z"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def transits(gateway: InProcessApi) -> str:
    """Legs of 2, 4, 10 and 6 h timed by telemetry on 10 November, one of 8 h timed by its
    status changes (moved by hand), and one of 1 h the day before."""
    api, customer = gateway.client, unique("transit")
    legs = [  # flow, hub, carrier, sku, region, start (hours into the day), hours
        ("customer_return", "an-hub-a", "DHL", "TT-A", "51N7E", 0, 2),
        ("customer_return", "an-hub-a", "DHL", "TT-A", "51N7E", 1, 4),
        ("customer_return", "an-hub-b", "UPS", "TT-B", "52N13E", 1, 10),
        ("warranty_repair", "an-hub-a", "UPS", "TT-A", "51N7E", 0, 6),
        ("customer_return", "an-hub-a", "DHL", "TT-A", "51N7E", -12, 1),
    ]
    for flow, hub, carrier, sku, region, start, hours in legs:
        trip_id, _ = await a_trip(api, customer, flow=flow, hub=hub, carrier=carrier, sku=sku)
        await travelled(gateway, trip_id, region, hub, flow, at("2026-11-10", start), hours)
    by_hand, _ = await a_trip(api, customer, hub="an-hub-b", carrier="DHL", sku="TT-B")
    await moved(api, by_hand, "in_transit", "arrived")
    await restamp(gateway, by_hand, in_transit=at("2026-11-10"), arrived=at("2026-11-10", 8))
    return customer


async def test_transit_times_by_flow_are_the_percentiles_of_the_legs_that_arrived_in_the_window(
        gateway: InProcessApi, transits: str) -> None:
    body = await table(gateway.client, "transit-times", customer=transits, **TRANSIT_WINDOW)
    assert body["table"] == "transit-times" and body["by"] == "flow"
    assert body["window"] == "arrival"
    assert body["columns"] == ["flow", "trips", "timed_by_changes", "p50_h", "p90_h", "mean_h"]
    # customer_return: 2, 4, 8 (by its changes) and 10 h; warranty_repair: 6 h.
    assert figures(body["rows"], *body["columns"]) == [
        ("customer_return", 4, 1, 6.0, pytest.approx(9.4), 6.0),
        ("warranty_repair", 1, 0, 6.0, 6.0, 6.0)]
    assert figures(body["totals"], *body["columns"]) == [
        ("*", 5, 1, 6.0, pytest.approx(9.2), 6.0)]
    assert body["filters"] == {"from": "2026-11-10T00:00:00Z", "to": "2026-11-11T00:00:00Z",
                               "flow": None, "sku": None, "hub": None, "carrier": None,
                               "customer": transits}


@pytest.mark.parametrize(("by", "expected"), [
    ("lane", [("51N7E>an-hub-a", 3, 0, 4.0, 5.6, 4.0), ("52N13E>an-hub-b", 1, 0, 10.0, 10.0, 10.0),
              (None, 1, 1, 8.0, 8.0, 8.0)]),
    ("hub", [("an-hub-a", 3, 0, 4.0, 5.6, 4.0), ("an-hub-b", 2, 1, 9.0, 9.8, 9.0)]),
    ("carrier", [("DHL", 3, 1, 4.0, 7.2, 4.667), ("UPS", 2, 0, 8.0, 9.6, 8.0)]),
])
async def test_transit_times_are_grouped_by_lane_hub_or_carrier(
        gateway: InProcessApi, transits: str, by: str, expected: list[tuple[Any, ...]]) -> None:
    body = await table(gateway.client, "transit-times", customer=transits, by=by,
                       **TRANSIT_WINDOW)
    assert body["columns"][0] == by
    assert figures(body["rows"], *body["columns"]) == [
        tuple(pytest.approx(v) if isinstance(v, float) else v for v in row) for row in expected]


async def test_transit_times_filter_by_sku_hub_carrier_and_window(
        gateway: InProcessApi, transits: str) -> None:
    api = gateway.client
    of_sku = await table(api, "transit-times", customer=transits, sku="TT-B", **TRANSIT_WINDOW)
    assert figures(of_sku["rows"], "flow", "trips", "p50_h", "p90_h") == [
        ("customer_return", 2, 9.0, pytest.approx(9.8))]
    narrow = await table(api, "transit-times", customer=transits, hub="an-hub-a",
                         carrier="DHL", flow="customer_return", **TRANSIT_WINDOW)
    assert figures(narrow["rows"], "flow", "trips", "p50_h", "mean_h") == [
        ("customer_return", 2, 3.0, 3.0)]
    wider = await table(api, "transit-times", customer=transits, to="2026-11-11",
                        **{"from": "2026-11-09"})  # a date: its midnight UTC
    assert figures(wider["rows"], "flow", "trips", "p50_h") == [
        ("customer_return", 5, 4.0), ("warranty_repair", 1, 6.0)]
    nothing = await table(api, "transit-times", customer=transits, carrier="Nobody",
                          **TRANSIT_WINDOW)
    assert nothing["rows"] == [] and nothing["totals"] == []


# Damage and excursion rates -------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def damage(gateway: InProcessApi) -> str:
    """Five trips: a temperature excursion and an overdue (DM-A, box, DHL, on a lane); a drop
    reported by the tag (DM-A, box, UPS); nothing (DM-A, crate, DHL); humidity, tilt and a low
    battery (DM-B, crate, DHL); a battery out of spec, neither excursion nor damage (DM-B)."""
    api, customer = gateway.client, unique("damage")
    first, asset = await a_trip(api, customer, sku="DM-A", packaging="box", carrier="DHL")
    await travelled(gateway, first, "51N7E", "an-hub-a", "customer_return",
                    datetime.now(UTC) - timedelta(hours=3), 2)
    await alerted(gateway, asset, first, AlertKind.OUT_OF_SPEC, "temp_c")
    await alerted(gateway, asset, first, AlertKind.OVERDUE, "due_at")
    _, dropped = await a_trip(api, customer, sku="DM-A", packaging="box", carrier="UPS",
                              profile="fragile")
    await feed(gateway, dropped, 50.0, 8.0, shock_g=9.0)  # fragile: at most 3 g
    await a_trip(api, customer, sku="DM-A", packaging="crate", carrier="DHL")
    fourth, asset = await a_trip(api, customer, sku="DM-B", packaging="crate", carrier="DHL")
    for kind, key in ((AlertKind.OUT_OF_SPEC, "humidity_pct"),
                      (AlertKind.OUT_OF_SPEC, "tilt_deg"), (AlertKind.LOW_BATTERY, "battery_pct")):
        await alerted(gateway, asset, fourth, kind, key)
    fifth, asset = await a_trip(api, customer, sku="DM-B")
    await alerted(gateway, asset, fifth, AlertKind.OUT_OF_SPEC, "battery_pct")
    return customer


DAMAGE_COLUMNS = ("trips", "alerts", "alerts_per_trip", "excursion_trips", "excursion_rate",
                  "damaged_trips", "damage_rate")


@pytest.mark.parametrize(("by", "expected"), [
    ("sku", [("DM-A", 3, 3, 1.0, 1, 0.3333, 1, 0.3333), ("DM-B", 2, 4, 2.0, 1, 0.5, 1, 0.5)]),
    ("packaging", [("box", 2, 3, 1.5, 1, 0.5, 1, 0.5), ("crate", 2, 3, 1.5, 1, 0.5, 1, 0.5),
                   (None, 1, 1, 1.0, 0, 0.0, 0, 0.0)]),
    ("carrier", [("DHL", 3, 5, 1.6667, 2, 0.6667, 1, 0.3333), ("UPS", 1, 1, 1.0, 0, 0.0, 1, 1.0),
                 (None, 1, 1, 1.0, 0, 0.0, 0, 0.0)]),
    ("lane", [("51N7E>an-hub-a", 1, 2, 2.0, 1, 1.0, 0, 0.0),
              (None, 4, 5, 1.25, 1, 0.25, 2, 0.5)]),
])
async def test_damage_rates_count_alerts_excursions_and_damage_per_trip(
        gateway: InProcessApi, damage: str, by: str, expected: list[tuple[Any, ...]]) -> None:
    body = await table(gateway.client, "damage-rates", customer=damage, by=by)
    assert body["columns"] == [by, *DAMAGE_COLUMNS] and body["window"] == "creation"
    assert figures(body["rows"], *body["columns"]) == expected
    assert figures(body["totals"], *body["columns"]) == [("*", 5, 7, 1.4, 2, 0.4, 2, 0.4)]


async def test_damage_rates_default_to_sku_and_filter_by_sku(
        gateway: InProcessApi, damage: str) -> None:
    body = await table(gateway.client, "damage-rates", customer=damage, sku="DM-B")
    assert body["by"] == "sku"
    assert figures(body["rows"], "sku", "trips", "alerts") == [("DM-B", 2, 4)]
    later = await table(gateway.client, "damage-rates", customer=damage,
                        **{"from": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                           "to": (datetime.now(UTC) + timedelta(hours=2)).isoformat()})
    assert later["rows"] == []


# Return reasons -------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def reasons(gateway: InProcessApi) -> str:
    api, customer = gateway.client, unique("reasons")
    for sku, reason, flow in (("R-A", "wrong_size", "customer_return"),
                              ("R-A", "wrong_size", "b2b_return"),
                              ("R-A", "defective", "customer_return"),
                              ("R-B", "damaged", "customer_return"),
                              ("R-B", None, "customer_return"),
                              ("R-A", "other", "rental_return"), ("R-A", "other", "recall")):
        await a_trip(api, customer, sku=sku, reason=reason, flow=flow)
    return customer


async def test_return_reasons_are_counted_by_sku_with_their_share_rentals_and_recalls_left_out(
        gateway: InProcessApi, reasons: str) -> None:
    body = await table(gateway.client, "return-reasons", customer=reasons)
    assert body["columns"] == ["sku", "reason", "trips", "share"] and body["by"] is None
    assert figures(body["rows"], *body["columns"]) == [
        ("R-A", "defective", 1, 0.3333), ("R-A", "wrong_size", 2, 0.6667),
        ("R-B", "damaged", 1, 0.5), ("R-B", None, 1, 0.5)]
    assert figures(body["totals"], *body["columns"]) == [
        ("*", "damaged", 1, 0.2), ("*", "defective", 1, 0.2), ("*", "wrong_size", 2, 0.4),
        ("*", None, 1, 0.2)]
    b2b = await table(gateway.client, "return-reasons", customer=reasons, flow="b2b_return")
    assert figures(b2b["rows"], *b2b["columns"]) == [("R-A", "wrong_size", 1, 1.0)]


# Dispositions ---------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dispositions(gateway: InProcessApi) -> str:
    """Five trips that arrive by telemetry at a hub (recommended: restock, restock, restock,
    repair, restock); four inspected (restock, refurbish, restock, repair), one waiting."""
    api, customer = gateway.client, unique("dispositions")
    centre = HUB_A["circle"]
    for flow, actual in (("customer_return", "restock"), ("customer_return", "refurbish"),
                         ("customer_return", "restock"), ("warranty_repair", "repair"),
                         ("customer_return", None)):
        trip_id, asset_id = await a_trip(api, customer, flow=flow)
        await feed(gateway, asset_id, centre["lat"], centre["lon"])
        if actual is not None:
            await inspected(api, trip_id, actual)
    return customer


async def test_dispositions_set_the_recommendation_against_the_inspection_with_match_rates(
        gateway: InProcessApi, dispositions: str) -> None:
    body = await table(gateway.client, "dispositions", customer=dispositions)
    assert body["columns"] == ["recommended", "actual", "trips", "match_rate"]
    assert figures(body["rows"], *body["columns"]) == [
        ("repair", "repair", 1, 1.0), ("restock", "refurbish", 1, 0.0),
        ("restock", "restock", 2, 1.0)]
    assert figures(body["totals"], *body["columns"]) == [
        ("repair", "*", 1, 1.0), ("restock", "*", 3, 0.6667), ("*", "*", 4, 0.75)]
    returns = await table(gateway.client, "dispositions", customer=dispositions,
                          flow="customer_return")
    assert figures(returns["totals"], *returns["columns"]) == [
        ("restock", "*", 3, 0.6667), ("*", "*", 3, 0.6667)]


# Recall recovery ------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recalls(gateway: InProcessApi) -> str:
    """From 20 November: one recall trip located, on its way, received and remedied a day
    apart; one never found; one in transit the day it was identified and received the next;
    one identified and located on the 22nd."""
    api, customer = gateway.client, unique("recalls")
    day = ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24")
    remedied, _ = await a_trip(api, customer, flow="recall", hub="an-hub-b", sku="RC-A")
    await moved(api, remedied, "located", "in_transit", "received", "remedied")
    await restamp(gateway, remedied, identified=at(day[0], 10), located=at(day[1], 9),
                  in_transit=at(day[2], 8), received=at(day[3], 12), remedied=at(day[4], 9))
    missing, _ = await a_trip(api, customer, flow="recall", hub="an-hub-b", sku="RC-A")
    await restamp(gateway, missing, identified=at(day[0], 11))
    quick, _ = await a_trip(api, customer, flow="recall", hub="an-hub-b", sku="RC-B")
    await moved(api, quick, "in_transit", "received")
    await restamp(gateway, quick, identified=at(day[1], 15), in_transit=at(day[1], 18),
                  received=at(day[2], 20))
    late, _ = await a_trip(api, customer, flow="recall", hub="an-hub-b", sku="RC-B")
    await moved(api, late, "located")
    await restamp(gateway, late, identified=at(day[2], 7), located=at(day[2], 9))
    return customer


RECOVERY = ("day", "recalled", "missing", "located", "in_transit", "received")


async def test_recall_recovery_counts_recall_trips_by_their_status_at_the_end_of_each_day(
        gateway: InProcessApi, recalls: str) -> None:
    body = await table(gateway.client, "recall-recovery", customer=recalls,
                       **{"from": "2026-11-20T00:00:00Z", "to": "2026-11-24T00:00:00Z"})
    assert body["columns"] == list(RECOVERY) and body["totals"] == []
    assert figures(body["rows"], *RECOVERY) == [
        ("2026-11-20", 2, 2, 0, 0, 0), ("2026-11-21", 3, 1, 1, 1, 0),
        ("2026-11-22", 4, 1, 1, 1, 1), ("2026-11-23", 4, 1, 1, 0, 2)]


async def test_recall_recovery_counts_what_happened_before_its_first_day(
        gateway: InProcessApi, recalls: str) -> None:
    body = await table(gateway.client, "recall-recovery", customer=recalls,
                       **{"from": "2026-11-22T00:00:00Z", "to": "2026-11-24T12:00:00Z"})
    assert figures(body["rows"], *RECOVERY) == [
        ("2026-11-22", 4, 1, 1, 1, 1), ("2026-11-23", 4, 1, 1, 0, 2),
        ("2026-11-24", 4, 1, 1, 0, 2)]  # remedied on the 24th: still recovered
    of_sku = await table(gateway.client, "recall-recovery", customer=recalls, sku="RC-B",
                         **{"from": "2026-11-21T00:00:00Z", "to": "2026-11-23T00:00:00Z"})
    assert figures(of_sku["rows"], *RECOVERY) == [
        ("2026-11-21", 1, 0, 0, 1, 0), ("2026-11-22", 2, 0, 1, 0, 1)]


# Rental utilization ---------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rentals(gateway: InProcessApi) -> str:
    """In the ten days from 1 November: two drills out 2 days and 1 day, back in service 6 h
    and 12 h after their return; a ladder out since the 2nd."""
    api, customer = gateway.client, unique("rentals")
    for out, back, ready in (("2026-11-01", "2026-11-03", 6), ("2026-11-06", "2026-11-07", 12)):
        trip_id, _ = await a_trip(api, customer, flow="rental_return", sku="RT-D",
                                  category="drill")
        await moved(api, trip_id, "returned")
        await inspected(api, trip_id, "redeploy")
        await restamp(gateway, trip_id, checked_out=at(out), returned=at(back),
                      inspected=at(back, ready / 2), available=at(back, ready))
    ladder, _ = await a_trip(api, customer, flow="rental_return", sku="RT-L", category="ladder")
    await restamp(gateway, ladder, checked_out=at("2026-11-02"))
    return customer


async def test_rental_utilization_is_the_fleet_utilization_of_each_asset_category(
        gateway: InProcessApi, rentals: str) -> None:
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-11T00:00:00Z"}
    body = await table(gateway.client, "rental-utilization", customer=rentals, **window)
    assert body["columns"] == ["category", "assets", "trips", "utilization",
                               "turnaround_h_mean", "turnaround_h_p90"]
    assert figures(body["rows"], *body["columns"]) == [
        ("drill", 2, 2, 0.15, 9.0, 12.0), ("ladder", 1, 1, 0.9, None, None)]
    assert figures(body["totals"], *body["columns"]) == [("*", 3, 3, 0.4, 9.0, 12.0)]
    ladders = await table(gateway.client, "rental-utilization", customer=rentals, sku="RT-L",
                          **window)
    assert figures(ladders["rows"], "category", "utilization") == [("ladder", 0.9)]


# Warranty turnaround --------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def warranty(gateway: InProcessApi) -> str:
    """Repairs arriving on 15 and 16 November: at hub A decided after 6 h and 12 h and closed
    after 24 h and 48 h; at hub B one decided after 2 h, one waiting; one at hub A that
    arrived on the 13th."""
    api, customer = gateway.client, unique("warranty")
    for hub, arrived, decided, closed in (("an-hub-a", at("2026-11-15", 10), 6, 24),
                                          ("an-hub-a", at("2026-11-15", 12), 12, 48),
                                          ("an-hub-b", at("2026-11-16", 8), 2, None),
                                          ("an-hub-b", at("2026-11-16", 9), None, None),
                                          ("an-hub-a", at("2026-11-13", 9), 1, None)):
        trip_id, _ = await a_trip(api, customer, flow="warranty_repair", hub=hub)
        await moved(api, trip_id, "in_transit", "arrived")
        times = {"arrived": arrived}
        if decided is not None:
            await inspected(api, trip_id, "repair")
            times["inspected"] = times["dispositioned"] = arrived + timedelta(hours=decided)
        if closed is not None:
            await moved(api, trip_id, "closed")
            times["closed"] = arrived + timedelta(hours=closed)
        await restamp(gateway, trip_id, **times)
    return customer


async def test_warranty_turnaround_times_arrival_to_disposition_and_to_closing_by_hub(
        gateway: InProcessApi, warranty: str) -> None:
    body = await table(gateway.client, "warranty-turnaround", customer=warranty,
                       **{"from": "2026-11-15T00:00:00Z", "to": "2026-11-17T00:00:00Z"})
    assert body["columns"] == [
        "hub", "arrived", "dispositioned", "to_dispositioned_p50_h", "to_dispositioned_p90_h",
        "closed", "to_closed_p50_h", "to_closed_p90_h"]
    assert figures(body["rows"], *body["columns"]) == [
        ("an-hub-a", 2, 2, 9.0, pytest.approx(11.4), 2, 36.0, pytest.approx(45.6)),
        ("an-hub-b", 2, 1, 2.0, 2.0, 0, None, None)]
    assert figures(body["totals"], *body["columns"]) == [
        ("*", 4, 3, 6.0, pytest.approx(10.8), 2, 36.0, pytest.approx(45.6))]
    hub_b = await table(gateway.client, "warranty-turnaround", customer=warranty,
                        hub="an-hub-b", **{"from": "2026-11-13T00:00:00Z",
                                           "to": "2026-11-17T00:00:00Z"})
    assert figures(hub_b["rows"], "hub", "arrived") == [("an-hub-b", 2)]


# Export and refusals --------------------------------------------------------------------


def read_csv(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(answer.text.removeprefix("\ufeff"))))


async def test_a_table_is_csv_with_format_csv_or_accept_text_csv_rows_then_totals(
        gateway: InProcessApi, damage: str) -> None:
    api = gateway.client
    answer = await api.get("/api/v1/analytics/damage-rates",
                           params={"customer": damage, "by": "packaging", "format": "csv"})
    assert answer.headers["content-disposition"] == (
        'attachment; filename="damage-rates-by-packaging.csv"')
    assert read_csv(answer) == [
        ["packaging", *DAMAGE_COLUMNS],
        ["box", "2", "3", "1.5", "1", "0.5", "1", "0.5"],
        ["crate", "2", "3", "1.5", "1", "0.5", "1", "0.5"],
        ["", "1", "1", "1.0", "0", "0.0", "0", "0.0"],
        ["*", "5", "7", "1.4", "2", "0.4", "2", "0.4"]]
    accepted = await api.get("/api/v1/analytics/recall-recovery", headers={"Accept": "text/csv"},
                             params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z",
                                     "customer": unique("nobody")})
    assert read_csv(accepted) == [list(RECOVERY), ["2026-11-20", "0", "0", "0", "0", "0"]]
    json_first = await api.get("/api/v1/analytics/damage-rates", params={"customer": damage},
                               headers={"Accept": "application/json, text/csv;q=0.5"})
    assert json_first.headers["content-type"] == "application/json"
    for accept, csv_wanted in (("text/csv;q=0.5, */*", False), ("text/*", True),
                               ("application/csv, application/json", True),
                               ("text/csv;q=0, application/json;q=0.1", False)):
        negotiated = await api.get("/api/v1/analytics/dispositions", headers={"Accept": accept})
        assert negotiated.headers["content-type"].startswith(
            "text/csv" if csv_wanted else "application/json"), accept
    overruled = await api.get("/api/v1/analytics/damage-rates",
                              params={"customer": damage, "format": "json"},
                              headers={"Accept": "text/csv"})
    assert overruled.json()["table"] == "damage-rates"


async def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted_as_text(
        gateway: InProcessApi) -> None:
    customer = unique("formula")
    await a_trip(gateway.client, customer, carrier="=HYPERLINK(\"http://x\")")
    rows = read_csv(await gateway.client.get("/api/v1/analytics/damage-rates", params={
        "customer": customer, "by": "carrier", "format": "csv"}))
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")"


async def test_the_tables_are_listed_with_their_window_groupings_and_columns(
        gateway: InProcessApi) -> None:
    answer = await gateway.client.get("/api/v1/analytics")
    assert answer.status_code == 200
    tables = {t["name"]: t for t in answer.json()["tables"]}
    assert list(tables) == ["transit-times", "damage-rates", "return-reasons", "dispositions",
                            "recall-recovery", "rental-utilization", "warranty-turnaround"]
    assert tables["transit-times"]["by"] == ["flow", "lane", "hub", "carrier"]
    assert tables["dispositions"] == {
        "name": "dispositions", "window": "recommendation", "by": [],
        "columns": ["recommended", "actual", "trips", "match_rate"]}


@pytest.mark.parametrize(("path", "params", "loc"), [
    ("no-such-table", {}, ["path", "table"]),
    ("transit-times", {"by": "sku"}, ["query", "by"]),
    ("return-reasons", {"by": "sku"}, ["query", "by"]),
    ("damage-rates", {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
     ["query", "from"]),
    ("damage-rates", {"to": "0001-01-01T00:00:00Z"}, ["query", "to"]),
    ("damage-rates", {"from": "0001-01-01T00:00:00+01:00"}, ["query", "from"]),
    ("damage-rates", {"from": "yesterday"}, ["query", "from"]),
    ("damage-rates", {"flow": "teleport"}, ["query", "flow"]),
    ("damage-rates", {"sku": ""}, ["query", "sku"]),
    ("damage-rates", {"customer": "a\x00b"}, ["query", "customer"]),
    ("damage-rates", {"format": "xlsx"}, ["query", "format"]),
    ("recall-recovery", {"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
     ["query", "from"]),
])
async def test_a_bad_parameter_is_422_naming_it(
        gateway: InProcessApi, path: str, params: dict[str, str], loc: list[str]) -> None:
    answer = await gateway.client.get(f"/api/v1/analytics/{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [loc]
