"""arrival: the trip summed up, arrival detected, disposition recommended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.domain import (
    Asset,
    AssetKind,
    AssetState,
    Circle,
    Flow,
    Geofence,
    GeofenceKind,
    Location,
)
from alerts.geo import Zone
from alerts.rules.arrival import TripState, follow, judge
from ingest.readings import Reading

T0 = datetime(2026, 11, 29, tzinfo=UTC)
HUB = Zone.of(Geofence("hub", "Returns hub", GeofenceKind.HUB, circle=Circle(50.0, 8.0, 500)))


def reading(minute: int, **values: float) -> tuple[Reading, Location | None]:
    r = Reading("t", T0 + timedelta(minutes=minute), None, dict(values))
    position = r.position
    return r, Location(position[0], position[1], r.ts) if position else None


def test_the_trip_keeps_start_distance_and_worst_values() -> None:
    trip = TripState()
    for minute, values in enumerate([
        {"lat": 50.0, "lon": 9.0, "temp_c": 5.0, "battery_pct": 90.0},
        {"temp_c": 11.0, "shock_g": 4.0},
        {"lat": 50.0, "lon": 8.5, "temp_c": 3.0, "battery_pct": 70.0},
        {"lat": 50.0, "lon": 8.0, "shock_g": 1.0},
    ]):
        trip = follow(trip, *reading(minute, **values))
    assert trip.started_at == T0
    assert (trip.start_lat, trip.start_lon) == (50.0, 9.0)
    assert trip.distance_m == pytest.approx(71_500, rel=0.01)  # 1 degree of longitude at 50 N
    assert (trip.temp_c_max, trip.temp_c_min, trip.shock_g_max, trip.battery_pct_min) == (
        11.0, 3.0, 4.0, 70.0)


def test_a_shipment_entering_its_destination_is_received() -> None:
    asset = Asset(id="a", kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN)
    assert judge(asset, HUB, TripState(), Location(50.01, 8.0, T0)) is None  # 1.1 km away
    arrived = judge(asset, HUB, TripState(), Location(50.004, 8.0, T0))
    assert arrived is not None and arrived.state is AssetState.RECEIVED


def test_a_rental_entering_its_depot_is_returned_and_arrives_once() -> None:
    rental = Asset(id="r", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN)
    arrived = judge(rental, HUB, TripState(), Location(50.0, 8.0, T0))
    assert arrived is not None and arrived.state is AssetState.RETURNED
    rental.state = AssetState.RETURNED
    assert judge(rental, HUB, TripState(), Location(50.0, 8.0, T0)) is None


