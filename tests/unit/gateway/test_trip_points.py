"""`trips` points: what return analytics in Grafana group by and count, one per change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.domain import Asset, AssetKind, Flow
from alerts.eta import Lane, Transit
from alerts.trips import Disposition, Inspection, Recommendation, Trip, TripStatus
from gateway.trip_points import trip_point

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
ASSET = Asset(id="a1", kind=AssetKind.SHIPMENT, flow=Flow.WARRANTY_REPAIR, sku="DRILL-9",
              category="tools")


def warranty_trip() -> Trip:
    return Trip(id="trp_1", asset_id="a1", flow=Flow.WARRANTY_REPAIR, status=TripStatus.ARRIVED,
                destination="repair-kassel", carrier="DHL", packaging="box-m", reason="defective",
                due_at=T0 + timedelta(hours=3),
                transit=Transit(Lane("50N6E", "repair-kassel", "warranty_repair"),
                                T0 - timedelta(hours=1), T0 + timedelta(hours=4), 190.0),
                recommendation=Recommendation(Disposition.REPAIR, "default:warranty", T0))


def test_the_arrival_point_carries_transit_lateness_and_the_trips_alerts() -> None:
    arrival = {"trip": {"alerts": [
        {"kind": "out_of_spec", "key": "shock_g"}, {"kind": "late_predicted", "key": ""},
        {"kind": "overdue", "key": ""}]}}
    point = trip_point(warranty_trip(), "arrived", T0 + timedelta(hours=4), ASSET, arrival)
    assert point.measurement == "trips" and point.ts == T0 + timedelta(hours=4)
    assert point.tags == {
        "asset_id": "a1", "flow": "warranty_repair", "status": "arrived",
        "hub": "repair-kassel", "carrier": "DHL", "packaging": "box-m", "reason": "defective",
        "lane": "50N6E>repair-kassel", "sku": "DRILL-9", "category": "tools",
        "recommended": "repair"}
    assert point.fields == {
        "trip_id": "trp_1", "changes": 1.0, "transit_h": 5.0, "transit_km": 190.0,
        "late": 1.0, "alerts": 3.0, "excursion": 0.0, "damage": 1.0, "late_predicted": 1.0}


def test_the_inspection_point_tells_whether_the_recommendation_held_and_how_long_it_took(
) -> None:
    trip = warranty_trip()
    trip.inspection = Inspection(Disposition.RETURN_TO_VENDOR, T0 + timedelta(hours=28))
    point = trip_point(trip, "dispositioned", T0 + timedelta(hours=28), None, None)
    assert point.tags["actual"] == "return_to_vendor" and "sku" not in point.tags
    assert point.fields == {"trip_id": "trp_1", "changes": 1.0, "since_arrival_h": 24.0,
                            "matched": 0.0}
