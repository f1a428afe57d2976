"""Routing: the cheapest hub, depot or quarantine geofence able to take a trip, with every
candidate's cost and why each other lost (docs/lifecycle.md, "Routing"). Pure: positions,
the day's counts and the costs are given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alerts.domain import Geofence, GeofenceKind
from alerts.geo import Zone, distance_m
from alerts.trips import Disposition

ROUTABLE = frozenset((GeofenceKind.HUB, GeofenceKind.DEPOT, GeofenceKind.QUARANTINE))


@dataclass(frozen=True, slots=True)
class Costs:
    per_km: float = 0.5
    road_factor: float = 1.3
    """Road distance over great-circle distance."""


@dataclass(frozen=True, slots=True)
class RouteRequest:
    lat: float
    lon: float
    source: str
    """Where the position comes from: `last_position` or `origin`."""
    flow: str
    category: str | None
    service: Disposition
    day: str
    """The UTC day, YYYY-MM-DD, whose capacity the trip counts against."""


@dataclass(frozen=True, slots=True)
class Candidate:
    geofence: str
    name: str
    distance_km: float
    transport_cost: float
    handling_cost: float
    cost: float
    why_not: str | None

    @property
    def eligible(self) -> bool:
        return self.why_not is None

    def data(self) -> dict[str, Any]:
        return {"geofence": self.geofence, "name": self.name,
                "distance_km": self.distance_km, "transport_cost": self.transport_cost,
                "handling_cost": self.handling_cost, "cost": self.cost,
                "eligible": self.eligible, "why_not": self.why_not}


@dataclass(frozen=True, slots=True)
class Route:
    request: RouteRequest
    candidates: tuple[Candidate, ...]
    """Cheapest first."""

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.eligible), None)

    @property
    def reason(self) -> str:
        chosen = self.chosen
        if chosen is None:
            if not self.candidates:
                return "no hub, depot or quarantine geofence is registered"
            return "no hub can take it: " + "; ".join(
                f"{c.geofence} {c.why_not}" for c in self.candidates)
        passed = [c for c in self.candidates if c.cost < chosen.cost and not c.eligible]
        why = f"cheapest able to handle {self.request.service}: {chosen.cost:.2f}"
        others = [c for c in self.candidates if c is not chosen and c.eligible]
        if others:
            why += f", next {others[0].geofence} at {others[0].cost:.2f}"
        if passed:
            why += "; passed over: " + "; ".join(f"{c.geofence} ({c.why_not})" for c in passed)
        return why

    def data(self) -> dict[str, Any]:
        chosen = self.chosen
        request = self.request
        return {
            "from": {"lat": request.lat, "lon": request.lon, "source": request.source},
            "service": str(request.service), "day": request.day,
            "chosen": chosen.geofence if chosen else None, "reason": self.reason,
            "candidates": [c.data() for c in self.candidates],
        }


def centre(zone: Zone) -> tuple[float, float]:
    """(lat, lon): a circle's centre, a polygon's centroid."""
    if zone.polygon is not None:
        point = zone.polygon.centroid
        return float(point.y), float(point.x)
    circle = zone.fence.circle
    assert circle is not None
    return circle.lat, circle.lon


def handles_service(fence: Geofence, service: Disposition) -> bool:
    """A quarantine geofence quarantines (and what else it lists); a hub or depot does what
    it lists, everything but quarantine when it lists nothing."""
    if service in fence.services:
        return True
    if fence.kind is GeofenceKind.QUARANTINE:
        return service is Disposition.QUARANTINE
    return not fence.services and service is not Disposition.QUARANTINE


def _why_not(zone: Zone, request: RouteRequest, routed_today: int) -> str | None:
    fence = zone.fence
    if fence.flows and request.flow not in fence.flows:
        return f"does not handle flow {request.flow}"
    if fence.categories and request.category not in fence.categories:
        return f"does not handle category {request.category or '(none)'}"
    needs = request.service
    if needs is not Disposition.INSPECT and not handles_service(fence, needs):
        return f"does not handle service {needs}"
    if fence.daily_capacity is not None and routed_today >= fence.daily_capacity:
        return (f"over capacity: {routed_today} of {fence.daily_capacity} trips on "
                f"{request.day}")
    return None


def route(request: RouteRequest, zones: Iterable[Zone], routed: Mapping[str, int],
          costs: Costs) -> Route:
    """`routed`: trips already routed on `request.day`, by geofence id."""
    candidates = []
    for zone in zones:
        fence = zone.fence
        if fence.kind not in ROUTABLE:
            continue
        lat, lon = centre(zone)
        km = distance_m(request.lat, request.lon, lat, lon) / 1000
        transport = costs.per_km * costs.road_factor * km
        candidates.append(Candidate(
            geofence=fence.id, name=fence.name, distance_km=round(km, 3),
            transport_cost=round(transport, 2), handling_cost=fence.handling_cost,
            cost=round(transport + fence.handling_cost, 2),
            why_not=_why_not(zone, request, routed.get(fence.id, 0))))
    candidates.sort(key=lambda c: (c.cost, c.geofence))
    return Route(request, tuple(candidates))


def can_quarantine(zone: Zone | None) -> bool:
    if zone is None:
        return False
    return handles_service(zone.fence, Disposition.QUARANTINE)
