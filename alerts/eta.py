"""Arrival prediction (docs/eta.md): the speeds of each lane learnt from the trips that
arrived on it, when a trip on its way will arrive (a median and a late case), and the chance
that it arrives after its due date. Plain data and pure functions: the `eta` rule applies
them to each located reading, the engine keeps the lanes."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

REGION_DEG = 1
"""A lane starts in a cell of whole degrees of latitude and longitude (about 110 by 70 km in
central Europe): near enough that trips from it share a road network to the hub, wide
enough that a lane gathers trips."""
LANE_KEEPS = 200
"""The last trips a lane's speeds are drawn from: old enough trips stop counting as carriers
and roads change."""
LANE_MIN_TRIPS = 3
"""Fewer trips than this and a lane is not trusted: the trip's own speed, else the default."""
SPREAD = 1.6
"""The late case (p90) over the median time left when no lane tells the spread: measured
on the lanes of the `eta` scenario, whose 10th-percentile speed is 0.55 to 0.7 of the
median."""
TRIP_SPREAD = 1.3
"""The same, from the trip's own speed: a trip differs less from itself than from its lane."""
TRUST_H = 1.0
"""Hours on the move after which a trip's own speed weighs as much as its lane's (or the
default): an express and a slow carrier share a lane, and it soon shows which one it is."""
MIN_SIGMA = 0.05
Z90 = 1.2815515655446004
"""The standard normal's 90th percentile."""
TRIP_SPEED_MIN_KM = 5.0
TRIP_SPEED_MIN_H = 0.5
"""A trip's own speed is trusted once it has come this much nearer, over this long."""


def region(lat: float, lon: float) -> str:
    """The cell a lane starts in, named like `51N7E` (51 to 52 north, 7 to 8 east)."""
    la, lo = math.floor(lat / REGION_DEG) * REGION_DEG, math.floor(lon / REGION_DEG) * REGION_DEG
    return f"{abs(la)}{'N' if la >= 0 else 'S'}{abs(lo)}{'E' if lo >= 0 else 'W'}"


@dataclass(frozen=True, slots=True)
class Lane:
    """Trips of one flow from one region to one hub or depot."""

    origin: str
    """The region (`region`) the trip's last leg started in."""
    destination: str
    """The geofence id."""
    flow: str

    @property
    def name(self) -> str:
        return f"{self.origin}>{self.destination}"


@dataclass(frozen=True, slots=True)
class Transit:
    """The last leg of a trip that arrived: from where it last was farthest from its
    destination (the customer, a rental's site) to its arrival."""

    lane: Lane
    started_at: datetime
    arrived_at: datetime
    km: float
    """Great-circle distance from the leg's start to the destination's centre."""

    @property
    def hours(self) -> float:
        return (self.arrived_at - self.started_at).total_seconds() / 3600

    @property
    def kmh(self) -> float | None:
        """Effective speed, stops and dwell included; None for a leg too short to tell."""
        hours = self.hours
        if hours <= 0 or self.km < TRIP_SPEED_MIN_KM:
            return None
        return self.km / hours


@dataclass(frozen=True, slots=True)
class LaneSpeed:
    median_kmh: float
    slow_kmh: float
    """The 10th percentile: nine trips in ten were faster."""
    trips: int


class LaneSpeeds:
    """The effective speeds of the last LANE_KEEPS trips of each lane, as the engine learns
    them from arrivals (and the gateway loads them from the trips at start)."""

    def __init__(self, keep: int = LANE_KEEPS, min_trips: int = LANE_MIN_TRIPS) -> None:
        self._keep = keep
        self._min_trips = min_trips
        self._speeds: dict[Lane, deque[float]] = {}
        self._made: dict[Lane, LaneSpeed | None] = {}

    def learn(self, transit: Transit) -> None:
        kmh = transit.kmh
        if kmh is None:
            return
        self._speeds.setdefault(transit.lane, deque(maxlen=self._keep)).append(kmh)
        self._made.pop(transit.lane, None)

    def learn_all(self, transits: Iterable[Transit]) -> None:
        for transit in transits:
            self.learn(transit)

    def of(self, lane: Lane) -> LaneSpeed | None:
        """The lane's speeds, None while it has fewer than the trips it takes to trust."""
        try:
            return self._made[lane]
        except KeyError:
            pass
        speeds = sorted(self._speeds.get(lane, ()))
        made = None
        if len(speeds) >= self._min_trips:
            made = LaneSpeed(_quantile(speeds, 0.5), _quantile(speeds, 0.1), len(speeds))
        self._made[lane] = made
        return made

    def lanes(self) -> dict[str, LaneSpeed]:
        """The trusted lanes, by `flow:origin>destination`."""
        found = {}
        for lane in self._speeds:
            speed = self.of(lane)
            if speed is not None:
                found[f"{lane.flow}:{lane.name}"] = speed
        return found


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Eta:
    """When a trip on its way is expected at its destination."""

    at: datetime
    """The reading time it was made at."""
    p50: datetime
    p90: datetime
    """Nine trips in ten like it arrive by then."""
    basis: str
    """What the speed came from: `lane`, `trip` (its own speed so far) or `default`."""
    remaining_km: float
    """Great-circle distance left to the destination's centre."""
    late_probability: float | None
    """The chance of arriving after the due date; None without one."""

    def data(self) -> dict[str, Any]:
        return {"p50": self.p50.isoformat(), "p90": self.p90.isoformat(),
                "basis": self.basis, "remaining_km": round(self.remaining_km, 1),
                "late_probability": None if self.late_probability is None
                else round(self.late_probability, 3),
                "at": self.at.isoformat()}


def estimate(now: datetime, remaining_km: float, due_at: datetime | None, *,
             lane: LaneSpeed | None, trip_kmh: float | None, trip_hours: float = 0.0,
             default_kmh: float) -> Eta:
    """The arrival of a trip `remaining_km` from its destination at `now`: from its lane's
    speeds when the lane has enough trips, else from the default, weighed against the
    trip's own moving speed (`trip_kmh` over `trip_hours` on the move) more and more as it
    travels; the time left is taken as log-normal between the median and the late case."""
    if lane is not None:
        basis, prior_kmh, prior_spread = "lane", lane.median_kmh, \
            lane.median_kmh / max(lane.slow_kmh, 1e-3)
    else:
        basis, prior_kmh, prior_spread = "default", default_kmh, SPREAD
    median_h, spread = remaining_km / prior_kmh, prior_spread
    if trip_kmh is not None:
        trust = trip_hours / (trip_hours + TRUST_H)
        # Weighed in time, not speed: hours left add up, speeds do not.
        median_h = (1 - trust) * median_h + trust * remaining_km / trip_kmh
        spread = (1 - trust) * prior_spread + trust * TRIP_SPREAD
        basis = "trip" if trust >= 0.5 else basis
    late_h = median_h * spread
    probability = None
    if due_at is not None:
        probability = late_probability(median_h, late_h,
                                       (due_at - now).total_seconds() / 3600)
    return Eta(at=now, p50=now + timedelta(hours=median_h), p90=now + timedelta(hours=late_h),
               basis=basis, remaining_km=remaining_km, late_probability=probability)


def late_probability(median_h: float, late_h: float, left_h: float) -> float:
    """P(time to arrive > `left_h`) for a log-normal time with that median and 90th
    percentile."""
    if left_h <= 0:
        return 1.0
    if median_h <= 0:
        return 0.0
    sigma = max(MIN_SIGMA, math.log(max(late_h, median_h) / median_h) / Z90)
    z = (math.log(left_h) - math.log(median_h)) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2))
