"""The shipped scenarios compile into timelines that keep the wire contract, deterministically,
with a ground truth that the wire itself bears out."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from scenario_wire import (
    BROKEN,
    NOW,
    REFUSED,
    SHIPPED,
    compiled,
    decode,
    deliveries,
    recalls_during_run,
    shipped,
    watched_assets,
)

from device_sim._routes import distance_m
from device_sim._truth import Clocks, judge_asset
from device_sim.scenario import FAULT_METRIC, FAULTS, FaultSpec, ProfileSpec, load_scenario
from device_sim.timeline import MAX_SPEED_FACTOR, compile_scenario
from gateway.api.schemas import (
    AssetIn,
    GeofenceIn,
    InspectionIn,
    ProfileIn,
    RecallIn,
    TripIn,
    TripPatch,
)

NAMES = [path.name for path in SHIPPED]
FIVE_MINUTES = timedelta(minutes=5)
# Which fault may explain an expected alert: kind (and metric) -> fault names.
EXPLAINED_BY = {
    ("out_of_spec", "temp_c"): {"temp_excursion"},
    ("out_of_spec", "humidity_pct"): {"humidity_excursion"},
    ("out_of_spec", "shock_g"): {"drop"},
    ("out_of_spec", "light_lux"): {"opened"},
    ("out_of_spec", "tilt_deg"): {"tilt"},
    ("low_battery", ""): {"dying_battery"},
    ("silent", ""): {"silent", "offline_burst"},
    ("overdue", ""): {"overdue"},
    ("recall", ""): {"recalled_lot"},
    ("geofence", ""): {"geofence_exit"},
}


def test_the_promised_scenarios_ship() -> None:
    assert {"cold_chain_returns.yaml", "rentals.yaml", "recall_sweep.yaml",
            "all_faults.yaml"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_scenario_compiles_into_a_small_run_in_the_past(name: str) -> None:
    scenario, timeline, _ = shipped(name)
    assert timeline.scenario == scenario.name
    assert timedelta(days=1) <= timeline.end - timeline.start <= timedelta(days=3)
    assert timeline.end <= NOW
    assert len(timeline.assets) <= 40
    assert timeline.emissions and timeline.expected
    assert timeline.time_scale == scenario.time_scale


def test_all_faults_injects_every_fault_in_every_format() -> None:
    scenario, timeline, tags = shipped("all_faults.yaml")
    assert set(timeline.faults) == set(FAULTS)
    assert all(count > 0 for count in timeline.faults.values())
    assert {g.format for g in scenario.fleet} == {
        "native", "native_batch", "owntracks", "things_stack"}
    assert 25 <= len(tags) <= 35


@pytest.mark.parametrize("name", NAMES)
def test_compiling_twice_gives_the_same_timeline_byte_for_byte(name: str) -> None:
    scenario = load_scenario(Path(SHIPPED[0]).parent / name)
    first = compile_scenario(scenario, now=NOW)
    again = compile_scenario(scenario, now=NOW)
    assert first == again
    assert [e.payload for e in first.emissions] == [e.payload for e in again.emissions]


@pytest.mark.parametrize("name", NAMES)
def test_a_different_seed_gives_a_different_timeline(name: str) -> None:
    _, timeline, _ = shipped(name)
    _, other, _ = shipped(name, seed=timeline.seed + 1)
    assert other.seed == timeline.seed + 1
    assert [e.payload for e in other.emissions] != [e.payload for e in timeline.emissions]


@pytest.mark.parametrize("name", NAMES)
def test_emissions_are_in_time_order_within_the_run(name: str) -> None:
    _, timeline, _ = shipped(name)
    times = [e.at for e in timeline.emissions]
    assert times == sorted(times)
    assert timeline.start <= times[0] and times[-1] <= timeline.end
    assert all(e.qos in (0, 1) for e in timeline.emissions)


@pytest.mark.parametrize("name", NAMES)
def test_no_reading_is_more_than_five_minutes_in_the_future(name: str) -> None:
    _, timeline, _ = shipped(name)
    for emission in timeline.emissions:
        if emission.fault in BROKEN:
            continue
        for reading in decode(emission).readings:
            assert reading.ts - emission.at <= FIVE_MINUTES
            assert reading.ts - NOW <= FIVE_MINUTES


@pytest.mark.parametrize("name", NAMES)
def test_every_listed_fault_is_injected_and_marks_its_emissions(name: str) -> None:
    scenario, timeline, _ = shipped(name)
    marked = {e.fault for e in timeline.emissions}
    for fault in scenario.faults:
        assert timeline.faults.get(fault.name, 0) > 0, fault.name
        # silent publishes nothing; recalled_lot changes what is registered, not published.
        if fault.name not in ("silent", "recalled_lot"):
            assert fault.name in marked, fault.name
    assert marked - {""} <= set(FAULTS)


@pytest.mark.parametrize("name", NAMES)
def test_every_message_keeps_the_contract_unless_a_fault_breaks_it(name: str) -> None:
    _, timeline, _ = shipped(name)
    for emission in timeline.emissions:
        decoded = decode(emission)
        if emission.fault in BROKEN:
            assert decoded.dead_letters and not decoded.readings, emission.payload[:200]
        else:
            assert not decoded.dead_letters, (emission.topic, decoded.dead_letters)
            assert decoded.readings
            assert len(emission.payload) <= 256 * 1024
            assert decoded.readings[0].values.keys() >= {"lat", "lon", "battery_pct"}


@pytest.mark.parametrize("name", NAMES)
def test_the_ground_truth_is_what_the_wire_says(name: str) -> None:
    """Judge what the gateway's decoders make of the messages, from the REST bodies alone:
    the same alerts at the same times as the compiler's ground truth."""
    scenario, timeline, _ = shipped(name)
    clocks = Clocks(end=timeline.end, now=NOW, overdue_grace=scenario.overdue_grace,
                    timer_tolerance=timedelta(minutes=1))
    by_tag = deliveries(timeline)
    from_wire = recalls_during_run(timeline)
    for tag_id, asset in watched_assets(timeline).items():
        for found in judge_asset(asset, by_tag.get(tag_id, []), clocks):
            from_wire.add((found.kind, asset.asset_id, found.key, found.at))
    assert from_wire == {(e.kind, e.asset_id, e.key, e.at) for e in timeline.expected}


@pytest.mark.parametrize("name", NAMES)
def test_every_expected_alert_comes_from_a_fault_on_that_asset(name: str) -> None:
    _, timeline, tags = shipped(name)
    faults_of = {t.asset_id: {f.name for f in t.faults} for t in tags}
    for expected in timeline.expected:
        if expected.kind == "arrival":
            continue
        causes = EXPLAINED_BY[(expected.kind, expected.key)]
        assert causes & faults_of[expected.asset_id], expected


@pytest.mark.parametrize("seed", [None, 1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_each_fault_long_enough_to_raise_an_alert_does(name: str, seed: int | None) -> None:
    _, timeline, tags = shipped(name, seed)
    raised = {(e.asset_id, e.kind, e.key) for e in timeline.expected}
    for tag in tags:
        for fault in tag.faults:
            wanted = _must_raise(tag.profile, tag.group.report_every, fault)
            if wanted is not None:
                assert (tag.asset_id, *wanted) in raised, (tag.tag_id, fault)


def _must_raise(profile: ProfileSpec | None, report_every: timedelta,
                fault: FaultSpec) -> tuple[str, str] | None:
    """The alert a fault cannot fail to raise, whatever the seed: a window that holds
    readings spanning the metric's min_duration, and so on."""
    if fault.name in FAULT_METRIC:
        metric = FAULT_METRIC[fault.name]
        limits = profile.limits(metric) if profile else None
        assert limits is not None
        long_enough = fault.duration is None or (
            fault.duration >= limits.min_duration + 2 * report_every)
        return ("out_of_spec", metric) if fault.name == "drop" or long_enough else None
    return {"dying_battery": ("low_battery", ""), "overdue": ("overdue", ""),
            "recalled_lot": ("recall", ""), "geofence_exit": ("geofence", "")}.get(fault.name)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_expected_comes_from_a_message_the_broker_refuses_or_the_gateway_drops(
    name: str,
) -> None:
    _, timeline, tags = shipped(name)
    quiet = [t for t in tags if {f.name for f in t.faults} <= BROKEN | REFUSED | {"duplicates"}]
    for tag in quiet:
        assert {e.kind for e in timeline.expected if e.asset_id == tag.asset_id} <= {
            "arrival"}, tag.tag_id


@pytest.mark.parametrize("name", NAMES)
def test_shipments_that_reach_their_hub_are_expected_to_arrive(name: str) -> None:
    _, timeline, tags = shipped(name)
    arrivals = {e.asset_id for e in timeline.expected if e.kind == "arrival"}
    # A lifecycle shipment's arrival is its trip's (at whichever hub routing chose).
    arrivals |= {c.asset_id for c in timeline.trip_changes
                 if c.status in ("arrived", "received")}
    silenced = {t.asset_id for t in tags if any(f.name == "silent" for f in t.faults)}
    for tag in tags:
        if tag.group.kind == "shipment" and tag.asset_id not in silenced:
            assert tag.asset_id in arrivals, tag.tag_id


@pytest.mark.parametrize("name", NAMES)
def test_positions_change_no_faster_than_the_speed_allows(name: str) -> None:
    _, timeline, tags = shipped(name)
    speed_of = {t.tag_id: t.group.speed_kmh * MAX_SPEED_FACTOR for t in tags}
    skewed = {t.tag_id for t in tags if any(f.name == "clock_skew" for f in t.faults)}
    for tag_id, tag_deliveries in deliveries(timeline).items():
        if tag_id in skewed:
            continue  # its reading times jump where the skew starts and ends
        readings = sorted({r.ts: r for d in tag_deliveries for r in d.readings}.values(),
                          key=lambda r: r.ts)
        for a, b in itertools.pairwise(readings):
            hours = (b.ts - a.ts).total_seconds() / 3600
            moved_km = distance_m(a.values["lat"], a.values["lon"],
                                  b.values["lat"], b.values["lon"]) / 1000
            # GPS noise is tens of metres each way.
            assert moved_km <= speed_of[tag_id] * hours + 0.1, (tag_id, a.ts, b.ts, moved_km)


@pytest.mark.parametrize("name", NAMES)
def test_shipments_travel_a_bending_road_not_a_straight_line(name: str) -> None:
    _, timeline, tags = shipped(name)
    by_tag = deliveries(timeline)
    for tag in tags:
        readings = sorted((r for d in by_tag.get(tag.tag_id, []) for r in d.readings),
                          key=lambda r: r.ts)
        if tag.group.kind != "shipment" or tag.group.stops or len(readings) < 2:
            continue
        first, last = readings[0].values, readings[-1].values
        straight_km = distance_m(first["lat"], first["lon"], last["lat"], last["lon"]) / 1000
        if straight_km < 100:
            continue
        assert sum(1 for r in readings if r.values.get("speed_kmh", 0) > 0) >= 3, tag.tag_id
        off_km = max(_off_line_km(first, last, r.values) for r in readings)
        assert off_km >= 0.01 * straight_km, (tag.tag_id, off_km, straight_km)


def test_a_stop_on_the_way_is_a_dwell_at_that_place() -> None:
    scenario, timeline, tags = shipped("cold_chain_returns.yaml")
    xdock = scenario.place("leipzig-xdock")
    by_tag = deliveries(timeline)
    for tag in (t for t in tags if t.group.stops):
        parked = [r for d in by_tag[tag.tag_id] for r in d.readings
                  if r.values["speed_kmh"] == 0 and distance_m(
                      xdock.lat, xdock.lon, r.values["lat"], r.values["lon"]) < xdock.radius_m]
        assert parked, tag.tag_id
        assert max(r.ts for r in parked) - min(r.ts for r in parked) >= timedelta(minutes=50)


def _off_line_km(a: Mapping[str, float], b: Mapping[str, float],
                 p: Mapping[str, float]) -> float:
    """How far p lies from the straight line a-b, on a local flat map."""
    scale = math.cos(math.radians(a["lat"]))
    ax, ay = a["lon"] * scale * 111.32, a["lat"] * 110.57
    bx, by = b["lon"] * scale * 111.32, b["lat"] * 110.57
    px, py = p["lon"] * scale * 111.32, p["lat"] * 110.57
    return abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / math.hypot(bx - ax, by - ay)


@pytest.mark.parametrize("name", NAMES)
def test_the_rest_bodies_are_what_the_gateway_api_accepts(name: str) -> None:
    _, timeline, _ = shipped(name)
    for body in timeline.profiles:
        ProfileIn.model_validate(body)
        assert body["name"].startswith("sim-")
    for body in timeline.geofences:
        GeofenceIn.model_validate(body)
    for body in timeline.assets:
        AssetIn.model_validate(body)
        assert body["id"] == f"asset-{body['tag_id']}"
    for body in timeline.recalls:
        RecallIn.model_validate(body)
    fences = {body["id"] for body in timeline.geofences}
    profiles = {body["name"] for body in timeline.profiles}
    for body in timeline.assets:
        # Registered without a trip, an asset's destination is each trip's.
        assert body["destination"] in fences if body.get("open_trip", True) else (
            "destination" not in body)
        assert body.get("allowed_area") is None or body["allowed_area"] in fences
        assert body["profile"] is None or body["profile"] in profiles
    assets = {body["id"] for body in timeline.assets}
    for action in timeline.actions:
        model = {"POST /api/v1/trips": TripIn, "POST /api/v1/recalls": RecallIn}.get(
            f"{action.method} {action.path}")
        if action.path.endswith("/inspection"):
            model = InspectionIn
        elif action.method == "PATCH":
            model = TripPatch
        assert model is not None, action
        model.model_validate(action.body)
        assert action.asset_id in assets or action.purpose == "recall"
        destination = action.body.get("destination")
        assert destination is None or destination in fences


@pytest.mark.parametrize("name", NAMES)
def test_every_login_is_a_tag_of_the_run_or_a_tts_application(name: str) -> None:
    _, timeline, tags = shipped(name)
    assert set(timeline.logins) == {e.username for e in timeline.emissions}
    tag_ids = {t.tag_id for t in tags}
    for user, tag_id in timeline.logins.items():
        assert tag_id in tag_ids or (re.fullmatch(r"[a-z0-9-]+@[a-z0-9-]+", user)
                                     and tag_id == "")
    for emission in timeline.emissions:
        if emission.fault in REFUSED:
            continue
        # A tag publishes only under its own login's topics, which the broker's ACL allows.
        assert acl_lets_write(emission.username, emission.topic), emission


def acl_lets_write(user: str, topic: str) -> bool:
    """mosquitto/acl's patterns for tags, OwnTracks logins and The Things Stack applications."""
    levels = topic.split("/")
    return (levels in (["tags", user, "telemetry"], ["tags", user, "status"])
            or (len(levels) == 3 and levels[:2] == ["owntracks", user])
            or (len(levels) == 5 and levels[:3] == ["v3", user, "devices"]
                and levels[4] == "up"))


def test_a_later_now_moves_the_run_but_not_its_shape() -> None:
    scenario, timeline, _ = shipped("rentals.yaml")
    _, later, _ = compiled(scenario, now=NOW + timedelta(days=1))
    assert later.start == timeline.start + timedelta(days=1)
    assert len(later.emissions) == len(timeline.emissions)
    assert [(e.kind, e.asset_id) for e in later.expected] == [
        (e.kind, e.asset_id) for e in timeline.expected]


def test_the_caller_may_replay_faster_than_the_scenario_says() -> None:
    _, timeline, _ = shipped("cold_chain_returns.yaml")
    assert replace(timeline, time_scale=10_000).time_scale == 10_000
