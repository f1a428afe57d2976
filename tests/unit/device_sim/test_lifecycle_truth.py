"""The ground truth of trips, from docs/lifecycle.md: the default disposition policy, the
status moves an inspection makes, and routing, with costs worked out by hand."""

from __future__ import annotations

import math

import pytest

from device_sim._lifecycle import (
    COST_MARGIN,
    Routing,
    can_quarantine,
    decisive_choice,
    inspection_moves,
    machine_of,
    recommend,
    route,
    service_for,
)
from device_sim._routes import TrackBuilder
from device_sim._truth import AmbiguousTruth
from device_sim.scenario import PlaceSpec

# One degree of latitude on the mean earth radius (6371.0088 km): 111.19508 km.
KM_PER_DEGREE = 2 * math.pi * 6371.0088 / 360
DAY = "2026-11-27"


def place(key: str, lat: float, *, kind: str = "hub", cost: float = 0.0,
          flows: tuple[str, ...] = (), categories: tuple[str, ...] = (),
          services: tuple[str, ...] = (), capacity: int | None = None) -> PlaceSpec:
    return PlaceSpec(key, f"fence-{key}", key.title(), kind, lat, 10.0, 1000.0, flows,
                     categories, services, cost, capacity, for_routing=True)


@pytest.mark.parametrize(("flow", "alerts", "disposition", "rule"), [
    ("customer_return", (), "restock", "default:in-spec"),
    ("b2b_return", (), "restock", "default:in-spec"),
    ("warranty_repair", (), "repair", "default:warranty"),
    ("trade_in", (), "refurbish", "default:trade-in"),
    ("end_of_life", (), "recycle", "default:end-of-life"),
    ("recall", (), "quarantine", "default:recall"),
    ("rental_return", (), "redeploy", "default:rental"),
    # An out-of-spec alert asks for a manual check, unless the flow decides first...
    ("customer_return", ("out_of_spec",), "inspect", "default:out-of-spec"),
    ("rental_return", ("out_of_spec",), "inspect", "default:out-of-spec"),
    ("warranty_repair", ("out_of_spec",), "repair", "default:warranty"),
    ("end_of_life", ("out_of_spec", "low_battery"), "recycle", "default:end-of-life"),
    # ...and a recall alert beats everything, even the flow's own rule.
    ("trade_in", ("recall", "out_of_spec"), "quarantine", "default:recall-alert"),
    ("rental_return", ("recall",), "quarantine", "default:recall-alert"),
    ("customer_return", ("low_battery", "silent"), "restock", "default:in-spec"),
])
def test_the_first_default_rule_that_matches_recommends(
        flow: str, alerts: tuple[str, ...], disposition: str, rule: str) -> None:
    recommendation = recommend(flow, alerts)
    assert (recommendation.disposition, recommendation.rule) == (disposition, rule)


def test_routing_asks_for_the_service_the_flow_gets_in_spec() -> None:
    assert {flow: service_for(flow) for flow in (
        "customer_return", "warranty_repair", "recall", "trade_in", "rental_return",
        "b2b_return", "end_of_life")} == {
        "customer_return": "restock", "warranty_repair": "repair", "recall": "quarantine",
        "trade_in": "refurbish", "rental_return": "redeploy", "b2b_return": "restock",
        "end_of_life": "recycle"}


@pytest.mark.parametrize(("flow", "disposition", "moves"), [
    ("customer_return", "restock", ("inspected", "dispositioned")),
    ("warranty_repair", "inspect", ("inspected",)),
    ("rental_return", "redeploy", ("inspected", "available")),
    ("rental_return", "repair", ("inspected",)),
    ("recall", "dispose", ("destroyed",)),
    ("recall", "recycle", ("destroyed",)),
    ("recall", "return_to_vendor", ("remedied",)),
    ("recall", "quarantine", ()),
])
def test_an_inspection_moves_a_trip_as_its_machine_allows(
        flow: str, disposition: str, moves: tuple[str, ...]) -> None:
    assert inspection_moves(flow, disposition) == moves


def test_the_machine_follows_the_flow() -> None:
    assert [machine_of(f) for f in ("rental_return", "recall", "trade_in")] == [
        "rental", "recall", "return"]


def test_the_cheapest_eligible_place_wins_at_handling_plus_road_cost() -> None:
    # From 50.5 N both hubs lie half a degree away, 55.598 km: 0.5 x 1.3 x 55.598 = 36.14
    # of transport each; `a` charges 5 to handle the item, `b` nothing.
    a, b = place("a", 50.0, cost=5), place("b", 51.0)
    area = place("area", 50.5, kind="area")
    routing = route(50.5, 10.0, "origin", "customer_return", None, "restock", DAY,
                    [a, b, area], {})
    half = KM_PER_DEGREE / 2
    assert [c.geofence for c in routing.candidates] == ["fence-b", "fence-a"]
    assert routing.candidates[0].distance_km == pytest.approx(half, abs=1e-3)
    assert routing.candidates[0].cost == pytest.approx(36.138, abs=1e-3)
    assert routing.candidates[1].cost == pytest.approx(41.138, abs=1e-3)
    chosen = routing.chosen
    assert chosen is not None and chosen.geofence == "fence-b"
    assert routing.data()["from"] == {"lat": 50.5, "lon": 10.0, "source": "origin"}


def test_a_full_place_is_passed_over_for_the_next_cheapest() -> None:
    a, b = place("a", 50.0, cost=5), place("b", 51.0, capacity=1)
    routing = route(50.5, 10.0, "origin", "customer_return", None, "restock", DAY, [a, b],
                    {"fence-b": 1})
    assert routing.candidates[0].why_not == f"over capacity: 1 of 1 trips on {DAY}"
    assert routing.chosen is not None and routing.chosen.geofence == "fence-a"
    # Another day's count does not fill it.
    fresh = route(50.5, 10.0, "origin", "customer_return", None, "restock", DAY, [a, b], {})
    assert fresh.chosen is not None and fresh.chosen.geofence == "fence-b"


@pytest.mark.parametrize(("b", "flow", "category", "service", "why"), [
    (place("b", 51.0, flows=("warranty_repair",)), "customer_return", None, "restock",
     "does not handle flow customer_return"),
    (place("b", 51.0, categories=("laptop",)), "trade_in", "phone", "refurbish",
     "does not handle category phone"),
    (place("b", 51.0, categories=("laptop",)), "trade_in", None, "refurbish",
     "does not handle category (none)"),
    (place("b", 51.0, services=("restock",)), "warranty_repair", None, "repair",
     "does not handle service repair"),
])
def test_a_place_that_does_not_handle_the_trip_says_why(
        b: PlaceSpec, flow: str, category: str | None, service: str, why: str) -> None:
    a = place("a", 50.0, cost=5)
    routing = route(50.5, 10.0, "origin", flow, category, service, DAY, [a, b], {})
    assert routing.candidates[0].why_not == why
    assert routing.chosen is not None and routing.chosen.geofence == "fence-a"


def test_a_quarantine_geofence_always_quarantines_and_inspect_needs_no_service() -> None:
    cage = place("cage", 51.0, kind="quarantine", services=("dispose",))
    hub = place("hub", 50.0, services=("restock",), cost=50)
    quarantine = route(50.5, 10.0, "last_position", "customer_return", None, "quarantine",
                       DAY, [cage, hub], {})
    assert [c.eligible for c in quarantine.candidates] == [True, False]
    assert can_quarantine(cage) and not can_quarantine(hub)
    assert can_quarantine(place("any", 50.0))  # no services listed: it handles any
    anything = route(50.5, 10.0, "origin", "customer_return", None, None, DAY, [cage, hub], {})
    assert all(c.eligible for c in anything.candidates)


def test_equal_costs_go_to_the_smaller_geofence_id_but_are_too_close_to_call() -> None:
    north, south = place("north", 51.0), place("south", 50.0)
    routing = route(50.5, 10.0, "origin", "customer_return", None, "restock", DAY,
                    [south, north], {})
    assert [c.geofence for c in routing.candidates] == ["fence-north", "fence-south"]
    with pytest.raises(AmbiguousTruth, match="within 3 of each other"):
        decisive_choice([routing], "trip t")


def test_a_choice_is_decisive_when_clear_by_the_margin_from_every_position() -> None:
    a, b = place("a", 50.0, cost=COST_MARGIN + 0.5), place("b", 51.0)
    routings = [route(50.5, 10.0, "last_position", "customer_return", None, "restock", DAY,
                      [a, b], {})]
    assert decisive_choice(routings, "trip t").geofence == "fence-b"
    # Believed a little further south, the asset is nearer `a`: which one depends on
    # which reading the gateway had.
    routings.append(route(50.4, 10.0, "last_position", "customer_return", None, "restock",
                          DAY, [a, b], {}))
    with pytest.raises(AmbiguousTruth, match="depending on which reading"):
        decisive_choice(routings, "trip t")


def test_nowhere_to_go_is_a_scenario_mistake_naming_each_reason() -> None:
    only = place("only", 51.0, flows=("recall",))
    routing: Routing = route(50.5, 10.0, "origin", "trade_in", None, "refurbish", DAY, [only],
                             {})
    with pytest.raises(AmbiguousTruth, match="fence-only does not handle flow trade_in"):
        decisive_choice([routing], "trip t")


def test_a_track_stopped_mid_leg_goes_on_from_where_the_vehicle_was() -> None:
    import random

    builder = TrackBuilder(50.0, 10.0, 60.0, random.Random(1))
    builder.park_until(600)
    builder.drive_to(51.0, 10.0)
    before = builder.build()
    lat, lon, _ = before.at(3600)
    builder.stop_at(3600)
    builder.drive_to(50.0, 11.0)
    after = builder.build()
    assert after.at(1800) == before.at(1800)
    assert after.at(3600)[:2] == pytest.approx((lat, lon))
    assert after.at(after.arrival() + 60)[:2] == pytest.approx((50.0, 11.0))
