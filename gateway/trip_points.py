"""`trips` points: one per trip status change, tagged with what return analytics group by
(flow, hub, carrier, packaging, sku, category, lane, reason, dispositions), so that the
Returns and Rentals dashboards chart transit times, excursion and damage rates, return
reasons, the disposition mix and turnarounds with plain InfluxQL (docs/dashboards.md). The
API's analytics read the state store instead (docs/analytics.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from alerts import ArrivalEvent, EngineEvent, RuleEngine, TripChanged
from alerts.conditions import DAMAGE_METRICS, EXCURSION_METRICS
from alerts.domain import AlertKind, Asset
from alerts.trips import MACHINES, Sighting, Trip
from ingest.sinks import Point
from ingest.sinks._points import FieldValue

TRIPS = "trips"
ARRIVED = frozenset(str(machine.on_telemetry[Sighting.ARRIVED]) for machine in MACHINES)
"""The statuses an arrival moves a trip to: arrived, returned, received."""


def trip_point(trip: Trip, status: str, at: datetime, asset: Asset | None,
               arrival: Mapping[str, Any] | None) -> Point:
    """The point of `trip`'s change to `status` at `at`; `arrival`: `asset.arrived`'s data
    when the change is its arrival."""
    tags = {"asset_id": trip.asset_id, "flow": str(trip.flow), "status": status}
    optional = {"hub": trip.destination, "carrier": trip.carrier, "packaging": trip.packaging,
                "reason": trip.reason, "customer": trip.customer,
                "lane": trip.transit.lane.name if trip.transit else None,
                "sku": asset.sku if asset else None,
                "category": asset.category if asset else None,
                "recommended": str(trip.recommendation.disposition)
                if trip.recommendation else None,
                "actual": str(trip.inspection.disposition) if trip.inspection else None}
    tags.update({name: value for name, value in optional.items() if value})
    fields: dict[str, FieldValue] = {"trip_id": trip.id, "changes": 1.0}
    if trip.transit is not None:
        if status in ARRIVED:
            fields["transit_h"] = round(trip.transit.hours, 4)
            fields["transit_km"] = round(trip.transit.km, 2)
        else:  # after arrival: how long since (a warranty repair's turnaround, say)
            fields["since_arrival_h"] = round(
                (at - trip.transit.arrived_at).total_seconds() / 3600, 4)
    if status in ARRIVED and trip.due_at is not None:
        fields["late"] = float(at > trip.due_at)
    if arrival is not None:
        alerts = arrival.get("trip", {}).get("alerts", [])
        fields["alerts"] = float(len(alerts))
        fields["excursion"] = float(any(
            a["kind"] == AlertKind.OUT_OF_SPEC and a["key"] in EXCURSION_METRICS for a in alerts))
        fields["damage"] = float(any(
            a["kind"] == AlertKind.OUT_OF_SPEC and a["key"] in DAMAGE_METRICS for a in alerts))
        fields["late_predicted"] = float(any(a["kind"] == AlertKind.LATE_PREDICTED
                                             for a in alerts))
    if trip.recommendation is not None and trip.inspection is not None:
        fields["matched"] = float(trip.recommendation.disposition == trip.inspection.disposition)
    return Point(TRIPS, tags, fields, at)


class TripPoints:
    """An engine listener: a `trips` point for each `trip.status_changed`."""

    def __init__(self, engine: RuleEngine, offer: Callable[[Sequence[Point]], None]) -> None:
        self._engine = engine
        self._offer = offer
        # asset.arrived comes just before the status change of the same arrival, and sums
        # up the trip's alerts.
        self._arrivals: dict[str, Mapping[str, Any]] = {}

    def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, ArrivalEvent):
            self._arrivals[event.asset_id] = event.data
            return
        if not isinstance(event, TripChanged) or event.type != "trip.status_changed" \
                or event.trip is None:
            return
        data = event.data["trip"]
        status = data["status"]
        arrival = self._arrivals.pop(event.asset_id, None) if status in ARRIVED else None
        self._offer([trip_point(event.trip, status, datetime.fromisoformat(data["at"]),
                                self._engine.asset(event.asset_id), arrival)])
