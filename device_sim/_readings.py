"""Builds the payloads a simulated tag publishes: contract readings from a tag's plan and
the time since the simulation started, and the deliberately malformed ones.

Pure functions: the same (tag, seq, elapsed time, now) always gives the same payload.
"""

from __future__ import annotations

import functools
import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from device_sim._fleet import TagPlan
from device_sim._places import distance_km

# Roads are longer than the great circle; trips take that much longer.
_ROAD_FACTOR = 1.25
_BATTERY_DRAIN_PCT_PER_H = 0.8
_EXCURSION_TEMP_C = 12.0
_COLD_TEMP_C = 5.0
_AMBIENT_TEMP_C = 20.0
MALFORMED_VARIANTS = ("invalid_json", "lat_without_lon", "temp_out_of_range")

Reading = dict[str, float | int | str]


@dataclass(frozen=True)
class _Traits:
    """Per-tag constants, derived from the tag id so they never change within a run."""

    speed_kmh: float
    battery_pct: float
    bow: float


@functools.lru_cache(maxsize=16384)
def _traits(tag_id: str) -> _Traits:
    rng = random.Random(f"traits/{tag_id}")
    return _Traits(
        speed_kmh=rng.uniform(65.0, 95.0),
        battery_pct=rng.uniform(55.0, 100.0),
        # Bend routes a little so a track does not look ruler-drawn.
        bow=rng.uniform(-0.08, 0.08),
    )


def rfc3339(t: datetime) -> str:
    """UTC time as RFC 3339 with milliseconds and a Z suffix."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_excursing(tag: TagPlan, t_elapsed: float, start_s: float, length_s: float) -> bool:
    """Whether an excursion tag is in its warm window at t_elapsed."""
    return "excursion" in tag.faults and start_s <= t_elapsed < start_s + length_s


def make_reading(
    tag: TagPlan,
    seq: int,
    t_elapsed: float,
    now: datetime,
    *,
    excursion_start_s: float = 10.0,
    excursion_length_s: float = 90.0,
    time_scale: float = 1.0,
) -> Reading:
    """The contract reading tag `tag` sends as message `seq`, t_elapsed seconds into the run.

    time_scale is simulated travel seconds per real second (1.0 = real road speed).
    """
    rng = random.Random(f"{tag.tag_id}/{seq}")
    traits = _traits(tag.tag_id)
    lat, lon, speed = _position(tag, traits, t_elapsed * time_scale, rng)
    moving = speed > 0
    if is_excursing(tag, t_elapsed, excursion_start_s, excursion_length_s):
        temp = _EXCURSION_TEMP_C + rng.uniform(-0.5, 0.5)
    elif tag.profile is not None:
        temp = _COLD_TEMP_C + rng.uniform(-0.6, 0.6)
    else:
        temp = _AMBIENT_TEMP_C + rng.uniform(-1.5, 1.5)
    # Road vibration while driving; next to nothing while parked.
    shock = min(abs(rng.gauss(0.25, 0.15)), 2.0) if moving else rng.uniform(0.0, 0.05)
    battery = traits.battery_pct - t_elapsed / 3600.0 * _BATTERY_DRAIN_PCT_PER_H
    return {
        "ts": rfc3339(now),
        "seq": seq,
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "accuracy_m": round(rng.uniform(3.0, 12.0) if moving else rng.uniform(5.0, 25.0), 1),
        "speed_kmh": round(speed, 1),
        "temp_c": round(temp, 2),
        "humidity_pct": round(rng.uniform(40.0, 55.0), 1),
        "shock_g": round(shock, 2),
        "battery_pct": round(min(100.0, max(0.0, battery)), 1),
    }


def _position(
    tag: TagPlan, traits: _Traits, travel_s: float, rng: random.Random
) -> tuple[float, float, float]:
    """(lat, lon, speed_kmh): shipments drive origin -> destination, rentals stay on site."""
    o, d = tag.origin, tag.destination
    if tag.kind == "rental":
        return o.lat + rng.uniform(-5e-5, 5e-5), o.lon + rng.uniform(-5e-5, 5e-5), 0.0
    road_km = distance_km(o, d) * _ROAD_FACTOR
    driven_km = traits.speed_kmh * travel_s / 3600.0
    f = 1.0 if road_km <= 0.1 else min(1.0, driven_km / road_km)
    dlat, dlon = d.lat - o.lat, d.lon - o.lon
    # Perpendicular bow, zero at both ends, so the path curves but still arrives.
    bow = traits.bow * math.sin(math.pi * f)
    lat = o.lat + f * dlat - bow * dlon + rng.uniform(-5e-5, 5e-5)
    lon = o.lon + f * dlon + bow * dlat + rng.uniform(-5e-5, 5e-5)
    speed = 0.0 if f >= 1.0 else max(0.0, traits.speed_kmh + rng.uniform(-8.0, 8.0))
    return max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lon)), speed


def make_malformed(tag: TagPlan, seq: int, variant: int, now: datetime) -> bytes:
    """A payload the gateway must dead-letter, cycling through MALFORMED_VARIANTS."""
    reading = make_reading(tag, seq, 0.0, now)
    kind = MALFORMED_VARIANTS[variant % len(MALFORMED_VARIANTS)]
    if kind == "invalid_json":
        # A truncated message, as from a tag that lost power mid-write.
        return encode(reading)[:-20]
    if kind == "lat_without_lon":
        del reading["lon"]
    else:
        reading["temp_c"] = 400.0
    return encode(reading)


def encode(reading: Reading) -> bytes:
    """Compact JSON bytes for a reading."""
    return json.dumps(reading, separators=(",", ":")).encode()
