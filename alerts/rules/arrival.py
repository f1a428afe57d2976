"""Arrival: a shipment entering its destination is `received`, a rental entering its return
depot `returned`; the trip it ends is summed up and a disposition recommended."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.domain import Alert, Asset, AssetKind, AssetState, Location
from alerts.geo import Zone, distance_m
from alerts.rules._base import NOTHING, EnginePolicy, Rule, RuleContext, Transition
from alerts.rules._state import evolve
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


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the arrival rule reports (`RuleContext.arrived`) and the engine records."""

    state: AssetState
    at: datetime
    location: Location
    trip: TripState
    destination: Zone

    def report(self, asset: Asset, alerts: Sequence[Alert], policy: EnginePolicy
               ) -> dict[str, Any]:
        """`data` of `asset.arrived`, given the trip's alerts."""
        disposition = recommend_disposition(alerts, policy.disposition_quarantine_on,
                                            policy.disposition_inspect_on)
        return summary(asset, self, self.destination, alerts, disposition)


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


def judge(
    asset: Asset, destination: Zone, trip: TripState, location: Location
) -> Arrival | None:
    """A located reading (already folded into `trip`): has the asset arrived?"""
    if asset.state.arrived or not destination.contains(location.lat, location.lon):
        return None
    state = AssetState.RETURNED if asset.kind == AssetKind.RENTAL else AssetState.RECEIVED
    return Arrival(state=state, at=location.ts, location=location, trip=trip,
                   destination=destination)


def recommend_disposition(
    alerts: Iterable[Alert], quarantine_on: Sequence[str], inspect_on: Sequence[str]
) -> str:
    """`quarantine_on` and `inspect_on` hold alert kinds, or `kind:key` (`out_of_spec:shock_g`)."""
    raised = set()
    for alert in alerts:
        raised.add(str(alert.kind))
        raised.add(f"{alert.kind}:{alert.key}")
    if raised & set(quarantine_on):
        return "quarantine"
    if raised & set(inspect_on):
        return "inspect"
    return "restock"


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

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if not context.newer:
            return NOTHING
        trip = follow(context.state(asset.id, "", TripState), reading, location)
        context.put(asset.id, "", trip)
        if location is None:
            return NOTHING
        destination = context.zones.get(asset.destination or "")
        if destination is not None:
            arrived = judge(asset, destination, trip, location)
            if arrived is not None:
                context.arrived(arrived)
        return NOTHING


RULE = ArrivalRule()
