"""The ground truth of trips: docs/lifecycle.md's status machines, default disposition policy
and routing rule, modelled from the document and not from the gateway's code (as _truth.py
models the contract's alert rules), plus the data a timeline carries about trips: the API
calls the player makes and what the gateway should answer.

Plain data and pure functions; planning a scenario's trips around them is _trip_plan.py."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from device_sim._routes import distance_m
from device_sim._truth import AmbiguousTruth
from device_sim.scenario import ROUTABLE_KINDS, PlaceSpec

# The document's defaults (BOOMERANG_ROUTING_COST_PER_KM, BOOMERANG_ROUTING_ROAD_FACTOR,
# BOOMERANG_DEPARTURE_RADIUS_M).
COST_PER_KM = 0.5
ROAD_FACTOR = 1.3
DEPARTURE_RADIUS_M = 1000.0
# Two candidates closer in cost than this are a coin toss for the truth: a position known
# to a few metres, another earth radius or rounding could swap them. 3 units is 4.6 km of road.
COST_MARGIN = 3.0

RETURN, RENTAL, RECALL = "return", "rental", "recall"
INITIAL_STATUS = {RETURN: "authorized", RENTAL: "checked_out", RECALL: "identified"}
ARRIVED_STATUS = {RETURN: "arrived", RENTAL: "returned", RECALL: "received"}
FINAL_STATUSES = {RETURN: frozenset({"closed"}), RENTAL: frozenset({"available"}),
                  RECALL: frozenset({"remedied", "destroyed"})}


def machine_of(flow: str) -> str:
    """rental_return uses the rental machine, recall the recall machine, every other flow
    the return machine."""
    return RENTAL if flow == "rental_return" else RECALL if flow == "recall" else RETURN


def inspection_moves(flow: str, disposition: str) -> tuple[str, ...]:
    """The statuses an inspection naming `disposition` moves a trip through, in order, from
    its arrival status (arrived, returned, received). The recall machine has no `inspected`:
    its inspection moves it straight on, or leaves it `received` (quarantine, inspect)."""
    machine = machine_of(flow)
    if machine == RECALL:
        if disposition in ("inspect", "quarantine"):
            return ()
        return ("destroyed",) if disposition in ("recycle", "dispose") else ("remedied",)
    if disposition == "inspect":
        return ("inspected",)
    if machine == RENTAL:
        return ("inspected", "available") if disposition == "redeploy" else ("inspected",)
    return ("inspected", "dispositioned")


# Disposition policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recommendation:
    disposition: str
    rule: str


# The defaults, in order: (rule, the alert kind or flow it needs, disposition). An alert
# kind is one raised during the trip (from its creation to its arrival).
_DEFAULT_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("default:recall-alert", "alert", "recall", "quarantine"),
    ("default:recall", "flow", "recall", "quarantine"),
    ("default:warranty", "flow", "warranty_repair", "repair"),
    ("default:trade-in", "flow", "trade_in", "refurbish"),
    ("default:end-of-life", "flow", "end_of_life", "recycle"),
    ("default:out-of-spec", "alert", "out_of_spec", "inspect"),
    ("default:rental", "flow", "rental_return", "redeploy"),
)


def recommend(flow: str, alert_kinds: Collection[str]) -> Recommendation:
    """The first default rule that matches a trip of `flow` during which alerts of
    `alert_kinds` were raised (no operator rules: a scenario sets none)."""
    for rule, what, value, disposition in _DEFAULT_RULES:
        if (what == "flow" and flow == value) or (what == "alert" and value in alert_kinds):
            return Recommendation(disposition, rule)
    return Recommendation("restock", "default:in-spec")


def service_for(flow: str) -> str | None:
    """The service routing asks for: the disposition recommended for the trip in spec;
    None for `inspect`, which needs no particular service."""
    disposition = recommend(flow, ()).disposition
    return None if disposition == "inspect" else disposition


# Routing --------------------------------------------------------------------------------


def is_candidate(place: PlaceSpec) -> bool:
    return place.kind in ROUTABLE_KINDS


def can_quarantine(place: PlaceSpec) -> bool:
    """A quarantine geofence always handles quarantine; another place when it lists it, or
    lists no services at all (an empty list: any)."""
    return place.kind == "quarantine" or not place.services or "quarantine" in place.services


def why_not(place: PlaceSpec, flow: str, category: str | None, service: str | None,
            routed_today: int, day: str) -> str | None:
    """Why `place` cannot take the trip, in the document's words; None when it can."""
    if place.flows and flow not in place.flows:
        return f"does not handle flow {flow}"
    if place.categories and category not in place.categories:
        return f"does not handle category {category or '(none)'}"
    if service is not None and place.services and service not in place.services and not (
            service == "quarantine" and place.kind == "quarantine"):
        return f"does not handle service {service}"
    if place.daily_capacity is not None and routed_today >= place.daily_capacity:
        return f"over capacity: {routed_today} of {place.daily_capacity} trips on {day}"
    return None


@dataclass(frozen=True, slots=True)
class Candidate:
    geofence: str
    distance_km: float
    cost: float
    why_not: str | None

    @property
    def eligible(self) -> bool:
        return self.why_not is None

    def data(self) -> dict[str, Any]:
        return {"geofence": self.geofence, "distance_km": round(self.distance_km, 3),
                "cost": round(self.cost, 2), "eligible": self.eligible,
                "why_not": self.why_not}


@dataclass(frozen=True, slots=True)
class Routing:
    """One routing decision: from where, for which service, on which UTC day, and every
    candidate, cheapest first."""

    lat: float
    lon: float
    source: str
    """`origin` or `last_position`."""
    service: str | None
    day: str
    candidates: tuple[Candidate, ...]

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.eligible), None)

    def data(self) -> dict[str, Any]:
        chosen = self.chosen
        return {"from": {"lat": self.lat, "lon": self.lon, "source": self.source},
                "service": self.service, "day": self.day,
                "chosen": chosen.geofence if chosen else None,
                "candidates": [c.data() for c in self.candidates]}


def route(lat: float, lon: float, source: str, flow: str, category: str | None,
          service: str | None, day: str, places: Iterable[PlaceSpec],
          routed_today: Mapping[str, int]) -> Routing:
    """Every hub, depot and quarantine geofence priced from (lat, lon): handling cost plus
    cost per km x road factor x great-circle km to its centre; `routed_today` counts the
    trips already routed to each on `day`. Ties go to the smaller geofence id."""
    candidates = []
    for place in places:
        if not is_candidate(place):
            continue
        km = distance_m(lat, lon, place.lat, place.lon) / 1000
        cost = place.handling_cost + COST_PER_KM * ROAD_FACTOR * km
        reason = why_not(place, flow, category, service,
                         routed_today.get(place.geofence_id, 0), day)
        candidates.append(Candidate(place.geofence_id, km, cost, reason))
    candidates.sort(key=lambda c: (c.cost, c.geofence))
    return Routing(lat, lon, source, service, day, tuple(candidates))


def decisive_choice(routings: Iterable[Routing], what: str) -> Candidate:
    """The one hub every routing in `routings` chooses (they differ only in where the trip
    is believed to be) by more than COST_MARGIN over the runner-up; AmbiguousTruth otherwise:
    the gateway's choice would hang on rounding or on which reading it had seen."""
    chosen: Candidate | None = None
    for routing in routings:
        winner = routing.chosen
        if winner is None:
            reasons = "; ".join(f"{c.geofence} {c.why_not}" for c in routing.candidates)
            raise AmbiguousTruth(f"{what}: no hub can take it ({reasons or 'no candidates'})")
        runner_up = next((c for c in routing.candidates if c.eligible and c is not winner), None)
        if runner_up is not None and runner_up.cost - winner.cost < COST_MARGIN:
            raise AmbiguousTruth(
                f"{what}: {winner.geofence} ({winner.cost:.1f}) and {runner_up.geofence} "
                f"({runner_up.cost:.1f}) cost within {COST_MARGIN:g} of each other: move a "
                "customer or change a handling cost")
        if chosen is not None and winner.geofence != chosen.geofence:
            raise AmbiguousTruth(
                f"{what}: {chosen.geofence} or {winner.geofence}, depending on which reading "
                "the gateway had when it routed; move the recall or the customers")
        chosen = winner
    if chosen is None:
        raise AmbiguousTruth(f"{what}: nowhere to route from")
    return chosen


# What a timeline carries --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiAction:
    """A REST call the player makes at a simulated time, between the MQTT emissions."""

    at: datetime
    method: str
    path: str
    body: dict[str, Any]
    purpose: str
    """check_out, authorize, inspect, close, make_available or recall."""
    asset_id: str = ""
    trip_id: str = ""
    wait_for: tuple[str, ...] = ()
    """Statuses the trip must have reached before the call (the player polls
    `GET /api/v1/trips/{trip_id}`): an inspection waits for the arrival the gateway sees
    from telemetry. () to call at once."""


@dataclass(frozen=True, slots=True)
class ExpectedStatus:
    """One status change the gateway should record in a trip's history."""

    trip_id: str
    asset_id: str
    status: str
    previous_status: str | None
    at: datetime
    tolerance: timedelta
    by: str
    """`telemetry` (at the reading's time) or `api` (when the simulator made the call)."""


@dataclass(frozen=True, slots=True)
class ExpectedTrip:
    """What a trip should look like once played: where it goes and what is recommended."""

    id: str
    asset_id: str
    flow: str
    destination: str
    """The geofence id it ends up bound for (after any re-routing)."""
    routed: bool
    """The simulator left the destination out: `routing` should name this one."""
    service: str | None = None
    """The service the (last) routing asked for."""
    rerouted_from: str | None = None
    """The destination before a recall re-routed it."""
    recommendation: str | None = None
    """The disposition recommended at arrival; None when it does not arrive in the run."""
    rule: str | None = None
    disposition: str | None = None
    """What the simulator's inspection records; None when it is not inspected in the run."""
    routings: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    """The truth's routing decisions (Routing.data()), first to last, for people reading."""


def utc_day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")

