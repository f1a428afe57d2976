"""Where a simulated asset is at any moment of a scenario: parked, or driving a road-like
polyline (waypoints bowed off the great circle) at its own speed, segment by segment."""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
_KM_PER_DEG_LAT = 110.574
# One waypoint per this many km of a leg, within [1, 10]: enough bends to look like roads.
_KM_PER_WAYPOINT = 40.0
# Each segment is driven at the vehicle's speed times a factor in this range.
SEGMENT_SPEED_FACTORS = (0.9, 1.08)
# Each tag's cruising speed is its group's times a factor in this range.
TAG_SPEED_FACTORS = (0.93, 1.05)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the mean Earth radius, as the gateway measures geofences."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def offset(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    """The point north_km/east_km from (lat, lon); flat-earth, fine over tens of km."""
    km_per_deg_lon = 111.320 * max(0.05, math.cos(math.radians(lat)))
    return lat + north_km / _KM_PER_DEG_LAT, lon + east_km / km_per_deg_lon


@dataclass(frozen=True, slots=True)
class Segment:
    """From t0 to t1 (seconds from the run's start) the vehicle goes from a to b; a == b and
    speed 0 while parked."""

    t0: float
    t1: float
    lat0: float
    lon0: float
    lat1: float
    lon1: float
    speed_kmh: float


class Track:
    """An asset's whereabouts over the run, built by TrackBuilder."""

    def __init__(self, segments: list[Segment], lat: float, lon: float) -> None:
        self.segments = segments
        self._t0 = [s.t0 for s in segments]
        self._rest = (lat, lon)

    def at(self, t: float) -> tuple[float, float, float]:
        """(lat, lon, speed_kmh) at t seconds from the start; parked at the end after it."""
        i = bisect.bisect_right(self._t0, t) - 1
        if i < 0:
            first = self.segments[0] if self.segments else None
            return (first.lat0, first.lon0, 0.0) if first else (*self._rest, 0.0)
        s = self.segments[i]
        if t >= s.t1:
            return s.lat1, s.lon1, 0.0
        f = (t - s.t0) / (s.t1 - s.t0) if s.t1 > s.t0 else 1.0
        return s.lat0 + f * (s.lat1 - s.lat0), s.lon0 + f * (s.lon1 - s.lon0), s.speed_kmh

    def arrival(self) -> float:
        """When the last drive ends (0 for an asset that never moves)."""
        moving = [s.t1 for s in self.segments if s.speed_kmh > 0]
        return moving[-1] if moving else 0.0


class TrackBuilder:
    """Parks and drives one vehicle; `speed_kmh` is its cruising speed."""

    def __init__(self, lat: float, lon: float, speed_kmh: float, rng: random.Random) -> None:
        self.lat, self.lon = lat, lon
        self.t = 0.0
        self.speed_kmh = speed_kmh
        self.rng = rng
        self.segments: list[Segment] = []

    def park_until(self, t: float) -> None:
        if t > self.t:
            self.segments.append(Segment(self.t, t, self.lat, self.lon, self.lat, self.lon, 0.0))
            self.t = t

    def drive_to(self, lat: float, lon: float) -> float:
        """Drive along a road-like path to (lat, lon); returns the arrival time."""
        low, high = SEGMENT_SPEED_FACTORS
        for wlat, wlon in road_waypoints(self.lat, self.lon, lat, lon, self.rng):
            km = distance_m(self.lat, self.lon, wlat, wlon) / 1000
            speed = self.speed_kmh * self.rng.uniform(low, high)
            t1 = self.t + km / speed * 3600
            self.segments.append(Segment(self.t, t1, self.lat, self.lon, wlat, wlon, speed))
            self.t, self.lat, self.lon = t1, wlat, wlon
        return self.t

    def stop_at(self, t: float) -> None:
        """Forget everything planned from `t` on: the vehicle is wherever it was at `t`,
        ready for a new leg (a trip re-routed on its way)."""
        if t >= self.t:
            self.park_until(t)
            return
        kept = []
        for segment in self.segments:
            if segment.t1 <= t:
                kept.append(segment)
            elif segment.t0 < t:
                f = (t - segment.t0) / (segment.t1 - segment.t0)
                lat = segment.lat0 + f * (segment.lat1 - segment.lat0)
                lon = segment.lon0 + f * (segment.lon1 - segment.lon0)
                kept.append(Segment(segment.t0, t, segment.lat0, segment.lon0, lat, lon,
                                    segment.speed_kmh))
        self.segments = kept
        last = kept[-1] if kept else None
        if last is not None:
            self.lat, self.lon = last.lat1, last.lon1
        self.t = t

    def build(self) -> Track:
        return Track(list(self.segments), self.lat, self.lon)


def spot_inside(lat: float, lon: float, radius_m: float,
                rng: random.Random) -> tuple[float, float]:
    """A parking spot well inside a circular geofence: within a quarter of its radius of the
    centre, each way."""
    reach_km = 0.25 * radius_m / 1000
    return offset(lat, lon, rng.uniform(-reach_km, reach_km), rng.uniform(-reach_km, reach_km))


def road_waypoints(lat0: float, lon0: float, lat1: float, lon1: float,
                   rng: random.Random) -> list[tuple[float, float]]:
    """Points from just after (lat0, lon0) to (lat1, lon1) inclusive, bowed off the straight
    line the way roads are: a smooth sideways bend (zero at both ends) plus a little
    wiggle, so that a track neither jumps nor looks ruler-drawn."""
    leg_km = distance_m(lat0, lon0, lat1, lon1) / 1000
    if leg_km < 1.0:
        return [(lat1, lon1)]
    n = max(1, min(10, round(leg_km / _KM_PER_WAYPOINT)))
    # The leg's direction in local km, for the sideways unit vector.
    km_per_deg_lon = 111.320 * max(0.05, math.cos(math.radians((lat0 + lat1) / 2)))
    north, east = (lat1 - lat0) * _KM_PER_DEG_LAT, (lon1 - lon0) * km_per_deg_lon
    norm = math.hypot(north, east) or 1.0
    side_n, side_e = -east / norm, north / norm
    # Never (almost) straight: at least 2 % of the leg to one side.
    bow1 = rng.choice((-1, 1)) * rng.uniform(0.02, 0.07)
    bow2 = rng.uniform(-0.03, 0.03)
    points = []
    for i in range(1, n + 1):
        f = (i + rng.uniform(-0.25, 0.25)) / (n + 1)
        sideways = leg_km * (bow1 * math.sin(math.pi * f) + bow2 * math.sin(2 * math.pi * f))
        sideways += rng.uniform(-0.01, 0.01) * leg_km / n
        lat = lat0 + f * (lat1 - lat0)
        lon = lon0 + f * (lon1 - lon0)
        points.append(offset(lat, lon, sideways * side_n, sideways * side_e))
    points.append((lat1, lon1))
    return points
