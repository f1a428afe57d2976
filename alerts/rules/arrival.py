"""Arrival: a shipment entering its destination is `received`, a rental entering its return
depot `returned`; the trip it ends is summed up and a disposition recommended. On the way,
the trip's first located reading and its departure from its origin are reported too: the
trip's status machine moves on them (alerts.trips)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.dispositions import DispositionRule, TripFacts
from alerts.domain import Alert, Asset, AssetKind, AssetState, Location
from alerts.geo import Zone, distance_m
from alerts.rules._base import NOTHING, EnginePolicy, Rule, RuleContext, Transition
from alerts.rules._state import evolve
from alerts.trips import Sighting
from ingest.readings import Reading

NAME = "trip"

# Which reading values a trip summary keeps the worst of: (field, "max" or "min", the
# TripState field).
WORST_OF = tuple((metric, worst, f"{metric}_{worst}") for metric, worst in (
    ("temp_c", "max"), ("temp_c", "min"), ("humidity_pct", "max"), ("shock_g", "max"),
    ("tilt_deg", "max"), ("light_lux", "max"), ("battery_pct", "min")))


@dataclass(frozen=True, slots=True)
class TripState:
    started_at: datetime | None = None
    start_lat: float | None = None
    start_lon: float | None = None
    last_lat: float | None = None
    last_lon: float | None = None
    distance_m: float = 0.0
    temp_c_max: float | None = None
    temp_c_min: float | None = None
    humidity_pct_max: float | None = None
    shock_g_max: float | None = None
    tilt_deg_max: float | None = None
    light_lux_max: float | None = None
    battery_pct_min: float | None = None
    departed: bool = False
    """A located reading was farther than the departure radius from the trip's origin."""
    left: bool = False
    """A located reading of the trip was outside its destination. A rental arrives only
    then: one checked out at the depot it returns to is not back on its first reading
    there. (A return starts at the customer; one first seen at its hub has arrived.)"""

    def worst(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for _, _, name in WORST_OF}


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the arrival rule reports (`RuleContext.arrived`) and the engine records."""

    state: AssetState
    at: datetime
    location: Location
    trip: TripState
    destination: Zone

    def recommend(self, asset: Asset, alerts: Sequence[Alert], policy: EnginePolicy
                  ) -> DispositionRule:
        """The disposition policy's rule for this trip, given its alerts."""
        return policy.dispositions.recommend(
            TripFacts.of(asset, alerts, self.trip.worst(), self.at))

    def report(self, asset: Asset, alerts: Sequence[Alert], rule: DispositionRule
               ) -> dict[str, Any]:
        """`data` of `asset.arrived`, given the trip's alerts and the recommendation."""
        data = summary(asset, self, self.destination, alerts, str(rule.disposition))
        data["disposition_rule"] = rule.name
        data["trip_id"] = asset.trip_id
        return data


def follow(state: TripState, reading: Reading, location: Location | None) -> TripState:
    """Fold one reading, newer than any before it, into the trip."""
    changes: dict[str, Any] = {}
    if state.started_at is None:
        changes["started_at"] = reading.ts
    for metric, worst, name in WORST_OF:
        value = reading.values.get(metric)
        if value is None:
            continue
        current = getattr(state, name)
        if current is None or (value > current if worst == "max" else value < current):
            changes[name] = value
    if location is not None and reading.position is not None:
        if state.start_lat is None:
            changes.update(start_lat=location.lat, start_lon=location.lon)
        if state.last_lat is not None and state.last_lon is not None:
            changes["distance_m"] = state.distance_m + distance_m(
                state.last_lat, state.last_lon, location.lat, location.lon)
        changes.update(last_lat=location.lat, last_lon=location.lon)
    return evolve(state, **changes) if changes else state


def departed(asset: Asset, trip: TripState, location: Location, radius_m: float) -> bool:
    """Farther than `radius_m` from the trip's origin: its own, else its first position."""
    lat, lon = asset.origin_lat, asset.origin_lon
    if lat is None or lon is None:
        lat, lon = trip.start_lat, trip.start_lon
    if lat is None or lon is None:
        return False
    return distance_m(lat, lon, location.lat, location.lon) > radius_m


def judge(
    asset: Asset, destination: Zone, trip: TripState, location: Location
) -> Arrival | None:
    """A located reading (already folded into `trip`): has the asset arrived?"""
    if asset.state.arrived or not destination.contains(location.lat, location.lon):
        return None
    state = AssetState.RETURNED if asset.kind == AssetKind.RENTAL else AssetState.RECEIVED
    return Arrival(state=state, at=location.ts, location=location, trip=trip,
                   destination=destination)


def summary(asset: Asset, arrival: Arrival, destination: Zone, alerts: Sequence[Alert],
            disposition: str) -> dict[str, Any]:
    """`data` of the `asset.arrived` event."""
    trip = arrival.trip
    worst = {name: getattr(trip, name) for _, _, name in WORST_OF}
    return {
        "asset": {"id": asset.id, "tag_id": asset.tag_id, "kind": str(asset.kind),
                  "flow": str(asset.flow), "sku": asset.sku, "serial": asset.serial,
                  "lot": asset.lot, "customer": asset.customer},
        "state": str(arrival.state),
        "arrived_at": arrival.at.isoformat(),
        "destination": {"id": destination.fence.id, "name": destination.fence.name,
                        "kind": str(destination.fence.kind)},
        "location": {"lat": arrival.location.lat, "lon": arrival.location.lon,
                     "ts": arrival.location.ts.isoformat()},
        "trip": {
            "started_at": trip.started_at.isoformat() if trip.started_at else None,
            "arrived_at": arrival.at.isoformat(),
            "duration_s": (arrival.at - trip.started_at).total_seconds()
            if trip.started_at else None,
            "start": {"lat": trip.start_lat, "lon": trip.start_lon}
            if trip.start_lat is not None else None,
            "distance_km": round(trip.distance_m / 1000, 3),
            "worst": {k: v for k, v in worst.items() if v is not None},
            "alerts": [{"id": a.id, "kind": str(a.kind), "key": a.key,
                        "severity": str(a.severity), "state": str(a.state),
                        "opened_at": a.opened_at.isoformat()} for a in alerts],
        },
        "disposition": disposition,
    }


class ArrivalRule(Rule):
    """Follows the trip on every reading newer than any before, and reports the arrival of
    a located one inside the asset's destination. What arrival resolves, each rule says for
    its own alerts (`on_arrival`)."""

    name = NAME
    state_type = TripState
    per_trip = True

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if not context.newer:
            return NOTHING
        before = context.state(asset.id, "", TripState)
        trip = follow(before, reading, location)
        if location is None:
            context.put(asset.id, "", trip)
            return NOTHING
        if before.start_lat is None:
            context.sighted(Sighting.LOCATED, location)
        if not trip.departed and departed(asset, trip, location,
                                          context.policy.departure_radius_m):
            trip = evolve(trip, departed=True)
            context.sighted(Sighting.DEPARTED, location)
        destination = context.zones.get(asset.destination or "")
        if destination is not None:
            if not destination.contains(location.lat, location.lon):
                if not trip.left:
                    trip = evolve(trip, left=True)
            elif trip.left or asset.kind != AssetKind.RENTAL:
                arrived = judge(asset, destination, trip, location)
                if arrived is not None:
                    context.arrived(arrived)
        context.put(asset.id, "", trip)
        return NOTHING


RULE = ArrivalRule()
