"""A lifecycle scenario compiles into API calls between the emissions (trips opened,
inspected, closed; a recall announced) and a ground truth of trips: the shipped
`lifecycle.yaml` has the shape it promises, whatever the seed, and its truth is what its
own wire and calls say."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from scenario_wire import compile_text, deliveries, shipped

from device_sim._lifecycle import (
    ARRIVED_STATUS,
    INITIAL_STATUS,
    ExpectedStatus,
    can_quarantine,
    machine_of,
)
from device_sim._routes import distance_m
from device_sim.scenario import ScenarioError
from device_sim.timeline import Timeline

NAME = "lifecycle.yaml"
TRIP_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def changes_of(timeline: Timeline, trip_id: str) -> list[ExpectedStatus]:
    return sorted((c for c in timeline.trip_changes if c.trip_id == trip_id),
                  key=lambda c: (c.at, c.by == "api"))


def fence(timeline: Timeline, key: str) -> str:
    return f"sim-lifecycle-{key}"


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_the_shipped_scenario_has_every_flow_rentals_a_capacity_pass_and_two_reroutes(
        seed: int | None) -> None:
    scenario, timeline, _ = shipped(NAME, seed)
    flows = Counter(trip.flow for trip in timeline.trips)
    assert set(flows) == {"customer_return", "warranty_repair", "trade_in", "b2b_return",
                          "end_of_life", "recall", "rental_return"}
    rentals = Counter(t.asset_id for t in timeline.trips if t.flow == "rental_return")
    assert sorted(rentals.values()) == [2, 2, 3, 3, 3]
    # The Hamburg hub takes one trip a day: the other local return is passed over.
    hamburg = [t for t in timeline.trips if t.asset_id.startswith("asset-lh-")]
    assert sorted(t.destination for t in hamburg) == [fence(timeline, "hamburg"),
                                                      fence(timeline, "hersfeld")]
    [passed] = [t for t in hamburg if t.destination == fence(timeline, "hersfeld")]
    [candidate] = [c for c in passed.routings[0]["candidates"]
                   if c["geofence"] == fence(timeline, "hamburg")]
    assert candidate["why_not"] == f"over capacity: 1 of 1 trips on {timeline.start:%Y-%m-%d}"
    # The recall finds both batteries on the road and sends them to the nearest quarantine.
    rerouted = {t.id: (t.rerouted_from, t.destination) for t in timeline.trips
                if t.rerouted_from}
    assert rerouted == {
        "trp-lx-0001-1": (fence(timeline, "venlo"), fence(timeline, "venlo-q")),
        "trp-lx-0002-1": (fence(timeline, "hersfeld"), fence(timeline, "leipzig-q"))}
    assert (timeline.end - timeline.start).total_seconds() / scenario.time_scale < 90


def test_every_disposition_a_hub_carries_out_is_decided_somewhere() -> None:
    _, timeline, _ = shipped(NAME)
    decided = {t.disposition for t in timeline.trips}
    assert {"restock", "repair", "refurbish", "recycle", "quarantine", "redeploy",
            "dispose", "return_to_vendor"} <= decided
    recommended = {(t.id, t.recommendation, t.rule) for t in timeline.trips}
    assert {("trp-lc-0001-1", "inspect", "default:out-of-spec"),  # the hot van
            ("trp-lw-0001-1", "repair", "default:warranty"),  # dropped, but warranty first
            ("trp-lr-0002-2", "inspect", "default:out-of-spec"),  # knocked about
            ("trp-lx-0001-1", "quarantine", "default:recall-alert"),
            ("trp-lk-0001-1", "quarantine", "default:recall")} <= recommended
    by_id = {t.id: t for t in timeline.trips}
    assert by_id["trp-lc-0001-1"].disposition == "refurbish"  # on_inspect for returns
    assert by_id["trp-lr-0002-2"].disposition == "repair"  # on_inspect for rentals


def test_the_end_of_life_items_go_where_their_category_is_taken() -> None:
    _, timeline, _ = shipped(NAME)
    by_id = {t.id: t for t in timeline.trips}
    assert by_id["trp-le-0001-1"].destination == fence(timeline, "duisburg")  # electronics
    appliance = by_id["trp-le-0002-1"]
    assert appliance.destination == fence(timeline, "magdeburg")
    [duisburg] = [c for c in appliance.routings[0]["candidates"]
                  if c["geofence"] == fence(timeline, "duisburg")]
    assert duisburg["why_not"] == "does not handle category appliance"


def test_each_trip_goes_through_its_machine_in_order() -> None:
    _, timeline, _ = shipped(NAME)
    paths = {t.id: [c.status for c in changes_of(timeline, t.id)] for t in timeline.trips}
    assert paths["trp-lh-0001-1"] == ["authorized", "in_transit", "arrived", "inspected",
                                      "dispositioned", "closed"]
    assert paths["trp-lr-0001-1"] == ["checked_out", "returned", "inspected", "available"]
    assert paths["trp-lk-0001-1"] == ["identified", "located", "in_transit", "received",
                                      "destroyed"]
    assert paths["trp-lk-0002-1"][-1] == "remedied"
    for trip in timeline.trips:
        changes = changes_of(timeline, trip.id)
        assert changes[0].status == INITIAL_STATUS[machine_of(trip.flow)]
        assert changes[0].previous_status is None and changes[0].by == "api"
        for before, after in itertools.pairwise(changes):
            assert after.previous_status == before.status, trip.id
        arrived = [c for c in changes if c.status == ARRIVED_STATUS[machine_of(trip.flow)]]
        assert [c.by for c in arrived] == ["telemetry"], trip.id
        assert TRIP_ID.fullmatch(trip.id)


def test_a_repaired_rental_is_made_available_before_its_next_check_out() -> None:
    _, timeline, _ = shipped(NAME)
    second = [c.status for c in changes_of(timeline, "trp-lr-0002-2")]
    assert second == ["checked_out", "returned", "inspected", "available"]
    [patch] = [a for a in timeline.actions if a.trip_id == "trp-lr-0002-2"
               and a.method == "PATCH"]
    assert patch.body == {"status": "available"} and patch.purpose == "make_available"
    [third] = [a for a in timeline.actions if a.trip_id == "trp-lr-0002-3"
               and a.purpose == "check_out"]
    assert third.at > patch.at
    for tag_trips in _trips_by_asset(timeline).values():
        for earlier, later in itertools.pairwise(tag_trips):
            # One open trip an asset: the next check-out follows the last one's end.
            end = max(c.at for c in changes_of(timeline, earlier))
            opened = changes_of(timeline, later)[0].at
            assert opened > end, (earlier, later)


def test_calls_are_data_in_time_order_each_trip_opened_before_its_tag_reports() -> None:
    _, timeline, tags = shipped(NAME)
    assert [a.at for a in timeline.actions] == sorted(a.at for a in timeline.actions)
    assert all(timeline.start <= a.at <= timeline.end for a in timeline.actions)
    purposes = Counter(a.purpose for a in timeline.actions)
    assert purposes["recall"] == 1 and purposes["make_available"] >= 1
    assert purposes["authorize"] + purposes["check_out"] == len(timeline.trips)
    first_reading = {}
    for emission in timeline.emissions:
        first_reading.setdefault(emission.username, emission.at)
    for tag in tags:
        if tag.life is None:
            continue  # a long-term rental of before trips: it reports from the start
        opened = min(a.at for a in timeline.actions if a.asset_id == tag.asset_id)
        assert opened < first_reading[tag.wire.username], tag.tag_id
    # ...and those long-term rentals report before the first call, so that the gateway's
    # event clock has a reading to go by.
    assert timeline.emissions[0].at < timeline.actions[0].at
    for action in timeline.actions:
        if action.purpose == "inspect":
            trip = next(t for t in timeline.trips if t.id == action.trip_id)
            waited = ARRIVED_STATUS[machine_of(trip.flow)]
            assert action.wait_for == (waited,)
            [arrival] = [c for c in changes_of(timeline, trip.id) if c.status == waited]
            assert arrival.at < action.at
        else:
            assert action.wait_for == ()


def test_routed_trips_leave_the_destination_out_and_start_at_their_origin() -> None:
    _, timeline, _ = shipped(NAME)
    routed = {t.id for t in timeline.trips if t.routed}
    assert {t.id for t in timeline.trips if not t.routed} == {
        t.id for t in timeline.trips if t.id.startswith("trp-lr-")}
    creations = [a for a in timeline.actions if a.path == "/api/v1/trips"]
    by_tag = deliveries(timeline)
    for action in creations:
        assert ("destination" in action.body) == (action.body["id"] not in routed)
        origin = action.body["origin"]
        tag_id = action.asset_id.removeprefix("asset-")
        first = next(r for d in by_tag[tag_id] for r in d.readings
                     if d.at > action.at)
        if action.purpose == "authorize":
            # A return's tag starts where its trip starts, within the departure radius.
            assert distance_m(origin["lat"], origin["lon"], first.values["lat"],
                              first.values["lon"]) < 100


def test_the_recall_comes_while_the_batteries_travel_and_its_alerts_are_expected() -> None:
    _, timeline, _ = shipped(NAME)
    [recall] = [a for a in timeline.actions if a.purpose == "recall"]
    assert recall.at == timeline.start + timedelta(hours=3)
    assert recall.body == {"sku": "EBIKE-BAT-500", "lots": ["R2549K"], "serials": [],
                           "reason": "Cells may overheat while charging"}
    alerts = [e for e in timeline.expected if e.kind == "recall"]
    assert {e.asset_id for e in alerts} == {"asset-lx-0001", "asset-lx-0002"}
    assert all(e.at == recall.at for e in alerts)
    places = {f"sim-lifecycle-{p.key}": p for p in shipped(NAME)[0].places}
    for trip in timeline.trips:
        if trip.rerouted_from is not None:
            assert trip.service == "quarantine"
            assert can_quarantine(places[trip.destination])
            assert not can_quarantine(places[trip.rerouted_from])
            arrived = [c for c in changes_of(timeline, trip.id) if c.status == "arrived"]
            assert arrived[0].at > recall.at


def test_assets_are_registered_without_a_trip_and_with_their_category() -> None:
    _, timeline, _ = shipped(NAME)
    trip_assets = {t.asset_id for t in timeline.trips}
    for body in timeline.assets:
        if body["id"] not in trip_assets:
            assert "open_trip" not in body  # registered as before trips, its trip open
            continue
        assert body["open_trip"] is False
        assert "destination" not in body and "customer" not in body
        assert body["category"]
    assert all("handles" in g for g in timeline.geofences)
    [hamburg] = [g for g in timeline.geofences if g["id"].endswith("-hamburg")]
    assert hamburg["daily_capacity"] == 1 and hamburg["handling_cost"] == 1
    assert hamburg["handles"] == {"flows": ["customer_return"], "categories": [],
                                  "services": ["restock"]}


def test_the_run_starts_at_midnight_whenever_it_is_played() -> None:
    scenario, timeline, _ = shipped(NAME)
    assert (timeline.start.hour, timeline.start.minute) == (0, 0)
    assert scenario.align_start == "day"


def _trips_by_asset(timeline: Timeline) -> dict[str, list[str]]:
    trips: dict[str, list[str]] = defaultdict(list)
    for trip in timeline.trips:
        trips[trip.asset_id].append(trip.id)
    return trips


# Small scenarios: what the compiler refuses, and why --------------------------------------

SMALL = """
name: small
seed: 3
start: -2d
duration: 1d
align_start: day
time_scale: 2400
profiles:
  sim-small: {metrics: {shock_g: {max: 8}}}
places:
  near: {kind: hub, name: Near, lat: 51.0, lon: 10.0, radius_m: 1000,
         handles: {services: [restock]}, handling_cost: HANDLING, daily_capacity: 5}
  far: {kind: hub, name: Far, lat: 52.0, lon: 10.0, radius_m: 1000,
        handles: {services: [restock]}}
fleet:
  - group: sr
    count: 1
    kind: shipment
    profile: sim-small
    origins: [{name: Between, lat: 51.4, lon: 10.0}]
    depart_after: 30m
    lifecycle: {start_after: 1h}
BEACON
FAULTS
"""
# A tag reporting from the start, so that the gateway's event clock runs before the first
# call.
BEACON = """
  - group: sb
    count: 1
    kind: rental
    origins: [{name: Site, lat: 50.0, lon: 8.0}]
    destination: far
"""


def small(handling: float = 0, faults: str = "", beacon: bool = True) -> str:
    return (SMALL.replace("HANDLING", str(handling)).replace("FAULTS", faults)
            .replace("BEACON\n", BEACON.lstrip("\n") if beacon else ""))


def _great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = (math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def test_a_small_routed_return_goes_to_the_cheaper_hub_and_arrives_there() -> None:
    # The customer is about 0.4 degrees (44 km) from `near` and 0.6 (67 km) from `far`:
    # 0.5 x 1.3 per km makes about 29 and 43; a handling cost of 10 leaves `near` cheaper.
    _, timeline, _ = compile_text(small(handling=10))
    [trip] = timeline.trips
    [opened] = [a for a in timeline.actions if a.purpose == "authorize"]
    origin = opened.body["origin"]
    wanted = {"sim-small-near": 10 + 0.65 * _great_circle_km(origin["lat"], origin["lon"],
                                                             51.0, 10.0),
              "sim-small-far": 0.65 * _great_circle_km(origin["lat"], origin["lon"], 52.0,
                                                       10.0)}
    assert trip.destination == "sim-small-near" and trip.routed
    costs = {c["geofence"]: c["cost"] for c in trip.routings[0]["candidates"]}
    assert costs == pytest.approx(wanted, abs=0.01)
    assert 38 < costs["sim-small-near"] < 40 and 42 < costs["sim-small-far"] < 45
    assert trip.routings[0]["from"]["source"] == "origin"
    assert [c.status for c in changes_of(timeline, trip.id)] == [
        "authorized", "in_transit", "arrived", "inspected", "dispositioned"]


def test_two_hubs_priced_too_alike_are_refused_as_ambiguous() -> None:
    _, timeline, _ = compile_text(small(handling=0))
    costs = {c["geofence"]: c["cost"] for c in timeline.trips[0].routings[0]["candidates"]}
    close = costs["sim-small-far"] - costs["sim-small-near"] - 1
    with pytest.raises(ScenarioError, match=r"cost within 3 of each other"):
        compile_text(small(handling=close))


@pytest.mark.parametrize(("old", "new", "message"), [
    ("align_start: day\n", "",
     "places.near.daily_capacity: a daily capacity counts trips per UTC day"),
    ("lifecycle: {start_after: 1h}", "lifecycle: {start_after: 1h, cycles: 2}",
     "fleet[0]: lifecycle.cycles applies to rentals only"),
    ("depart_after: 30m", "depart_after: 10m",
     "fleet[0].depart_after: a lifecycle return waits at its customer"),
    ("sim-small: {metrics", "sim-small: {silent_after: 2h, metrics",
     "fleet[0].profile: profile sim-small has silent_after"),
    ("  far: {kind: hub", "  far: {kind: area", "places.far: handles: an area is never"),
    ("kind: shipment", "kind: rental", "fleet[0]: a rental group's `destination` is its home"),
])
def test_a_lifecycle_mistake_is_refused_by_file_and_field(old: str, new: str,
                                                          message: str) -> None:
    text = small()
    assert old in text
    with pytest.raises(ScenarioError) as caught:
        compile_text(text.replace(old, new, 1))
    assert str(caught.value).startswith(f"test.yaml: {message}"), caught.value


@pytest.mark.parametrize(("fault", "message"), [
    ("{fault: silent, tags: [sr-0001], at: 3h}", "silent changes when or where"),
    ("{fault: recalled_lot, tags: [sr-0001]}", "say `at`, when the recall is announced"),
    ("{fault: drop, tags: [sr-0001], trip: 2, at: 1h}", "makes 1 trip per tag"),
    ("{fault: duplicates, tags: [sr-0001], trip: 1}", "duplicates is not tied to a trip"),
])
def test_faults_a_lifecycle_group_cannot_take_are_refused(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        compile_text(small(faults=f"faults:\n  - {fault}"))


def test_a_call_before_any_tag_reports_is_refused() -> None:
    # The only tag's trip opens at 1h, and it reports only from then on.
    with pytest.raises(ScenarioError, match=r"^test\.yaml: fleet: the first REST call, at "):
        compile_text(small(beacon=False))


def test_a_drop_tied_to_a_trip_counts_from_its_opening() -> None:
    _, timeline, _ = compile_text(small(faults="faults:\n  - {fault: drop, tags: [sr-0001], "
                                        "trip: 1, at: 45m, value: 20}"))
    [opened] = [c for c in timeline.trip_changes if c.status == "authorized"]
    [alert] = [e for e in timeline.expected if e.kind == "out_of_spec"]
    assert opened.at + timedelta(minutes=45) <= alert.at <= opened.at + timedelta(minutes=56)
    [trip] = timeline.trips
    assert (trip.recommendation, trip.rule) == ("inspect", "default:out-of-spec")
    assert trip.disposition == "refurbish"
