"""Trips: one return authorization, rental period or recall recovery of an asset, and the
status machine of each kind of flow (docs/lifecycle.md). Plain data and pure functions: the
engine moves trips on telemetry, the gateway's trip service on API calls, both through
`TripMachine.check`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from alerts.domain import Asset, AssetState, Flow, Location
from alerts.eta import Eta, Transit
from alerts.geo import Zone


class TripStatus(StrEnum):
    # Returns
    AUTHORIZED = "authorized"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    INSPECTED = "inspected"
    DISPOSITIONED = "dispositioned"
    CLOSED = "closed"
    # Rentals (and `inspected`)
    CHECKED_OUT = "checked_out"
    RETURNED = "returned"
    AVAILABLE = "available"
    # Recalls (and `in_transit`)
    IDENTIFIED = "identified"
    LOCATED = "located"
    RECEIVED = "received"
    REMEDIED = "remedied"
    DESTROYED = "destroyed"


class Disposition(StrEnum):
    RESTOCK = "restock"
    REFURBISH = "refurbish"
    REPAIR = "repair"
    RECYCLE = "recycle"
    QUARANTINE = "quarantine"
    REDEPLOY = "redeploy"
    RETURN_TO_VENDOR = "return_to_vendor"
    DISPOSE = "dispose"
    INSPECT = "inspect"
    """Decide after a manual check."""


SERVICES = tuple(d for d in Disposition if d is not Disposition.INSPECT)
"""What a hub can handle: every disposition but `inspect`."""


class Sighting(StrEnum):
    """What telemetry tells of a trip."""

    LOCATED = "located"
    DEPARTED = "departed"
    ARRIVED = "arrived"


S = TripStatus


@dataclass(frozen=True, slots=True)
class TripMachine:
    """The statuses of one kind of flow and the moves allowed between them."""

    name: str
    initial: TripStatus
    moves: Mapping[TripStatus, tuple[TripStatus, ...]]
    on_telemetry: Mapping[Sighting, TripStatus]
    on_the_way: frozenset[TripStatus]
    """Not arrived yet: routing may still change the destination."""

    @property
    def final(self) -> frozenset[TripStatus]:
        return frozenset(status for status, after in self.moves.items() if not after)

    @property
    def statuses(self) -> tuple[TripStatus, ...]:
        return tuple(self.moves)

    def allowed(self, status: TripStatus) -> tuple[TripStatus, ...]:
        return self.moves.get(status, ())

    def check(self, status: TripStatus, to: TripStatus) -> None:
        """Raises IllegalMove unless `status` may move to `to`."""
        if to not in self.allowed(status):
            raise IllegalMove(self, status, to)

    def after(self, status: TripStatus, event: Sighting) -> TripStatus | None:
        """The status telemetry's `event` moves a trip in `status` to, None if it does not
        move it (an event the machine ignores, or one that would go backwards)."""
        to = self.on_telemetry.get(event)
        return to if to is not None and to in self.allowed(status) else None

    def asset_state(self, status: TripStatus) -> AssetState:
        """The v1 asset state a trip in `status` implies."""
        if status in self.on_the_way:
            return AssetState.IN_TRANSIT
        return AssetState.RETURNED if self is RENTAL else AssetState.RECEIVED


class IllegalMove(Exception):
    def __init__(self, machine: TripMachine, status: TripStatus, to: TripStatus) -> None:
        allowed = ", ".join(machine.allowed(status)) or "none: the trip is closed"
        super().__init__(f"a {machine.name} trip cannot move from {status} to {to}; "
                         f"allowed: {allowed}")
        self.machine, self.status, self.to = machine, status, to
        self.allowed = machine.allowed(status)


RETURN = TripMachine(
    name="return",
    initial=S.AUTHORIZED,
    moves={
        S.AUTHORIZED: (S.IN_TRANSIT, S.ARRIVED, S.CLOSED),
        S.IN_TRANSIT: (S.ARRIVED,),
        S.ARRIVED: (S.INSPECTED,),
        S.INSPECTED: (S.DISPOSITIONED,),
        S.DISPOSITIONED: (S.CLOSED,),
        S.CLOSED: (),
    },
    on_telemetry={Sighting.DEPARTED: S.IN_TRANSIT, Sighting.ARRIVED: S.ARRIVED},
    on_the_way=frozenset((S.AUTHORIZED, S.IN_TRANSIT)),
)
RENTAL = TripMachine(
    name="rental",
    initial=S.CHECKED_OUT,
    moves={
        S.CHECKED_OUT: (S.RETURNED,),
        S.RETURNED: (S.INSPECTED,),
        S.INSPECTED: (S.AVAILABLE,),
        S.AVAILABLE: (),
    },
    on_telemetry={Sighting.ARRIVED: S.RETURNED},
    on_the_way=frozenset((S.CHECKED_OUT,)),
)
RECALL = TripMachine(
    name="recall",
    initial=S.IDENTIFIED,
    moves={
        S.IDENTIFIED: (S.LOCATED, S.IN_TRANSIT, S.RECEIVED),
        S.LOCATED: (S.IN_TRANSIT, S.RECEIVED),
        S.IN_TRANSIT: (S.RECEIVED,),
        S.RECEIVED: (S.REMEDIED, S.DESTROYED),
        S.REMEDIED: (),
        S.DESTROYED: (),
    },
    on_telemetry={Sighting.LOCATED: S.LOCATED, Sighting.DEPARTED: S.IN_TRANSIT,
                  Sighting.ARRIVED: S.RECEIVED},
    on_the_way=frozenset((S.IDENTIFIED, S.LOCATED, S.IN_TRANSIT)),
)
MACHINES = (RETURN, RENTAL, RECALL)


def machine_of(flow: Flow | str) -> TripMachine:
    if flow == Flow.RENTAL_RETURN:
        return RENTAL
    if flow == Flow.RECALL:
        return RECALL
    return RETURN


def after_inspection(machine: TripMachine, disposition: Disposition) -> TripStatus | None:
    """Where an inspection that names `disposition` moves an `inspected` trip (a recall's
    `received` one) on to, None when it stays for a person to decide."""
    if disposition is Disposition.INSPECT:
        return None
    if machine is RETURN:
        return S.DISPOSITIONED
    if machine is RENTAL:
        return S.AVAILABLE if disposition is Disposition.REDEPLOY else None
    if disposition is Disposition.QUARANTINE:
        return None
    return S.DESTROYED if disposition in (Disposition.RECYCLE, Disposition.DISPOSE) else \
        S.REMEDIED


def inspected_from(machine: TripMachine) -> TripStatus:
    """The status an inspection is recorded in (arrived, returned, received)."""
    return machine.on_telemetry[Sighting.ARRIVED]


@dataclass(frozen=True, slots=True)
class Origin:
    lat: float
    lon: float
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    disposition: Disposition
    rule: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Inspection:
    disposition: Disposition
    at: datetime
    grade: str | None = None
    notes: str | None = None
    inspector: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One move of a trip, as its history keeps it and `trip.status_changed` tells it."""

    trip_id: str
    status: TripStatus
    previous_status: TripStatus | None
    at: datetime
    location: Location | None = None
    reason: str = ""


@dataclass(slots=True)
class Trip:
    id: str
    asset_id: str
    flow: Flow
    status: TripStatus
    customer: str | None = None
    reason: str | None = None
    fault: str | None = None
    reference: str | None = None
    origin: Origin | None = None
    destination: str | None = None
    allowed_area: str | None = None
    due_at: datetime | None = None
    carrier: str | None = None
    packaging: str | None = None
    routing: dict[str, Any] | None = None
    recommendation: Recommendation | None = None
    inspection: Inspection | None = None
    routed_on: str | None = None
    """The UTC day (YYYY-MM-DD) routing chose `destination` on; counts against its capacity."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    eta: Eta | None = None
    """The estimate of arrival last announced (`trip.eta_changed`), while on its way."""
    transit: Transit | None = None
    """Once arrived: its last leg, which its lane learnt from (docs/eta.md)."""
    history: list[StatusChange] = field(default_factory=list)

    @property
    def machine(self) -> TripMachine:
        return machine_of(self.flow)

    @property
    def open(self) -> bool:
        return self.closed_at is None


class TripLedger(Protocol):
    """Where the engine keeps the trips it moves (the gateway's trip store), in the engine's
    transaction."""

    def moved(self, asset: Asset, change: StatusChange,
              recommendation: Recommendation | None) -> Trip:
        """Record the move of the asset's open trip (and the recommendation made at its
        arrival); returns the trip as it now is."""
        ...

    def reroute(self, asset: Asset, position: Location | None, now: datetime,
                zones: Mapping[str, Zone]) -> tuple[Trip, str | None] | None:
        """Route the asset's open trip again to a hub that can quarantine (a recall hit it on
        its way); returns the trip and its previous destination, None when no hub can."""
        ...

    def estimated(self, asset: Asset, eta: Eta) -> tuple[Trip, Eta | None]:
        """Keep `eta` on the asset's open trip; returns the trip and its estimate before."""
        ...

    def travelled(self, asset: Asset, transit: Transit) -> None:
        """Keep, on the asset's open trip, the last leg that brought it (at arrival)."""
        ...


def location_data(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"lat": location.lat, "lon": location.lon, "ts": location.ts.isoformat()}


def recommendation_data(recommendation: Recommendation | None) -> dict[str, Any] | None:
    if recommendation is None:
        return None
    return {"disposition": str(recommendation.disposition), "rule": recommendation.rule,
            "at": recommendation.at.isoformat()}


def inspection_data(inspection: Inspection | None) -> dict[str, Any] | None:
    if inspection is None:
        return None
    return {"disposition": str(inspection.disposition), "grade": inspection.grade,
            "notes": inspection.notes, "inspector": inspection.inspector,
            "at": inspection.at.isoformat()}


def trip_event_data(trip: Trip, change: StatusChange, tag_id: str | None) -> dict[str, Any]:
    """`data.trip` of `trip.status_changed` (CONTRACT.md section 7): `eta` while the trip
    is on its way and has one."""
    eta = trip.eta if change.status in trip.machine.on_the_way else None
    return {
        "id": trip.id, "asset_id": trip.asset_id, "tag_id": tag_id, "flow": str(trip.flow),
        "status": str(change.status),
        "previous_status": str(change.previous_status) if change.previous_status else None,
        "at": change.at.isoformat(), "location": location_data(change.location),
        "reason": change.reason, "eta": eta.data() if eta else None,
        "customer": trip.customer, "reference": trip.reference,
        "destination": trip.destination,
        "recommendation": recommendation_data(trip.recommendation),
        "inspection": inspection_data(trip.inspection),
    }


def trip_summary_data(trip: Trip, tag_id: str | None) -> dict[str, Any]:
    """`data.trip` of `trip.eta_changed`, before its `eta` and `previous_eta`."""
    return {
        "id": trip.id, "asset_id": trip.asset_id, "tag_id": tag_id, "flow": str(trip.flow),
        "status": str(trip.status), "customer": trip.customer, "reference": trip.reference,
        "destination": trip.destination,
        "due_at": trip.due_at.isoformat() if trip.due_at else None,
    }
