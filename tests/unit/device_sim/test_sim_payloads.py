"""Readings the simulator builds are valid contract readings; malformed ones are not."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from device_sim import TagPlan, plan_fleet
from device_sim._places import distance_km
from device_sim._readings import MALFORMED_VARIANTS, encode, make_malformed, make_reading

NOW = datetime(2026, 11, 29, 8, 15, tzinfo=UTC)
PLAN = plan_fleet(40, now=NOW)
RANGES: dict[str, tuple[float, float]] = {
    "lat": (-90, 90),
    "lon": (-180, 180),
    "accuracy_m": (0, math.inf),
    "speed_kmh": (0, math.inf),
    "temp_c": (-80, 150),
    "humidity_pct": (0, 100),
    "shock_g": (0, 500),
    "tilt_deg": (0, 180),
    "light_lux": (0, math.inf),
    "battery_pct": (0, 100),
}
MEASUREMENTS = set(RANGES)


def contract_violations(raw: bytes, received_at: datetime) -> list[str]:
    """Why a payload breaks the contract's reading rules (empty when it is valid)."""
    try:
        reading: Any = json.loads(raw)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(reading, dict):
        return ["not an object"]
    problems = []
    if not MEASUREMENTS & reading.keys():
        problems.append("no measurement")
    if ("lat" in reading) != ("lon" in reading):
        problems.append("lat and lon not together")
    for field, (low, high) in RANGES.items():
        value = reading.get(field)
        if value is not None and not (
            isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        ):
            problems.append(f"{field}={value!r} outside [{low}, {high}]")
    seq = reading.get("seq")
    if seq is not None and not (isinstance(seq, int) and seq >= 0):
        problems.append(f"seq={seq!r}")
    ts = reading.get("ts")
    if ts is not None:
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            problems.append("ts without offset")
        elif parsed > received_at + timedelta(minutes=5):
            problems.append("ts too far in the future")
    return problems


def tag_where(predicate: Any) -> TagPlan:
    return next(t for t in PLAN.tags if predicate(t))


@pytest.mark.parametrize("tag", PLAN.tags, ids=lambda t: t.tag_id)
def test_every_reading_is_valid_per_the_contract(tag: TagPlan) -> None:
    for seq, elapsed in enumerate([0.0, 1.0, 15.0, 60.0, 600.0, 3600.0, 86400.0, 30 * 86400.0]):
        reading = make_reading(tag, seq, elapsed, NOW)
        assert contract_violations(encode(reading), NOW) == []
        assert reading["seq"] == seq
        assert reading["ts"] == "2026-11-29T08:15:00.000Z"


def test_reading_is_a_pure_function_of_its_inputs() -> None:
    tag = PLAN.tags[0]
    assert make_reading(tag, 3, 12.5, NOW) == make_reading(tag, 3, 12.5, NOW)


def test_shipments_move_toward_their_destination_at_road_speed() -> None:
    tag = tag_where(lambda t: t.kind == "shipment")
    left = [
        distance_km(_at(tag, s, hours * 3600.0), tag.destination)
        for s, hours in enumerate([0, 0.5, 1, 1.5])
    ]
    assert left == sorted(left, reverse=True)
    assert 20 < left[0] - left[2] < 120  # an hour of driving at 65-95 km/h, roads wind
    first = make_reading(tag, 0, 0.0, NOW)
    assert 50 <= float(first["speed_kmh"]) <= 110


def test_shipments_stop_at_their_destination() -> None:
    tag = tag_where(lambda t: t.kind == "shipment")
    reading = make_reading(tag, 9, 7 * 86400.0, NOW)
    assert reading["speed_kmh"] == 0.0
    assert distance_km(_at(tag, 9, 7 * 86400.0), tag.destination) < 0.1


def test_time_scale_speeds_up_the_trip() -> None:
    tag = tag_where(lambda t: t.kind == "shipment")
    fast = make_reading(tag, 1, 600.0, NOW, time_scale=1000.0)
    assert fast["speed_kmh"] == 0.0


def test_rentals_sit_at_the_customer_site() -> None:
    tag = tag_where(lambda t: t.kind == "rental")
    for seq, elapsed in enumerate([0.0, 3600.0, 86400.0]):
        assert distance_km(_at(tag, seq, elapsed), tag.origin) < 0.05
        assert make_reading(tag, seq, elapsed, NOW)["speed_kmh"] == 0.0


def test_cold_chain_tags_stay_cold_and_others_at_room_temperature() -> None:
    cold = tag_where(lambda t: t.profile is not None and not t.faults)
    warm = tag_where(lambda t: t.profile is None)
    for seq in range(50):
        assert 4.0 <= float(make_reading(cold, seq, seq * 5.0, NOW)["temp_c"]) <= 6.0
        assert 17.0 <= float(make_reading(warm, seq, seq * 5.0, NOW)["temp_c"]) <= 23.0


def test_excursion_tag_warms_up_inside_its_window_only() -> None:
    tag = tag_where(lambda t: "excursion" in t.faults)

    def temp(elapsed: float) -> float:
        reading = make_reading(tag, 1, elapsed, NOW, excursion_start_s=10, excursion_length_s=90)
        return float(reading["temp_c"])

    assert temp(5.0) < 6.5
    assert 11.0 <= temp(10.0) <= 13.0
    assert 11.0 <= temp(99.0) <= 13.0
    assert temp(100.0) < 6.5


def test_battery_slowly_decreases() -> None:
    tag = PLAN.tags[0]
    levels = [float(make_reading(tag, 0, h * 3600.0, NOW)["battery_pct"]) for h in range(0, 10)]
    assert levels == sorted(levels, reverse=True)
    assert 0 < levels[0] - levels[-1] < 20


@pytest.mark.parametrize("variant", range(len(MALFORMED_VARIANTS)))
def test_malformed_payloads_break_the_contract(variant: int) -> None:
    tag = tag_where(lambda t: "malformed" in t.faults)
    raw = make_malformed(tag, 7, variant, NOW)
    assert contract_violations(raw, NOW) != []


def test_malformed_variants_are_the_three_promised_kinds() -> None:
    tag = tag_where(lambda t: "malformed" in t.faults)
    raw = [make_malformed(tag, 7, v, NOW) for v in range(3)]
    with pytest.raises(ValueError):
        json.loads(raw[0])
    lat_only = json.loads(raw[1])
    assert "lat" in lat_only and "lon" not in lat_only
    assert json.loads(raw[2])["temp_c"] == 400.0
    assert make_malformed(tag, 7, 3, NOW) == raw[0]  # cycles


def test_contract_check_accepts_the_contract_example() -> None:
    example = (
        b'{"ts":"2026-11-29T08:15:00Z","seq":812,"lat":52.5200,"lon":13.4050,"accuracy_m":8,'
        b'"temp_c":6.4,"humidity_pct":55,"shock_g":0.2,"battery_pct":81}'
    )
    assert contract_violations(example, NOW) == []
    assert contract_violations(encode({"seq": 1}), NOW) == ["no measurement"]


def _at(tag: TagPlan, seq: int, elapsed: float) -> Any:
    reading = make_reading(tag, seq, elapsed, NOW)
    return replace(tag.origin, lat=float(reading["lat"]), lon=float(reading["lon"]))
