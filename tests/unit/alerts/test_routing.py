"""Routing (docs/lifecycle.md): the cheapest geofence able to take a trip, every candidate's
cost by hand-computed figures, and why each other lost."""

from __future__ import annotations

import pytest

from alerts.domain import Circle, Geofence, GeofenceKind
from alerts.geo import Zone, distance_m
from alerts.routing import Costs, RouteRequest, can_quarantine, route
from alerts.trips import Disposition

ORIGIN = (50.0, 8.0)


def hub(fence_id: str, lat: float, lon: float, kind: GeofenceKind = GeofenceKind.HUB,
        **handles: object) -> Zone:
    return Zone.of(Geofence(id=fence_id, name=fence_id.title(), kind=kind,
                            circle=Circle(lat, lon, 1000), **handles))  # type: ignore[arg-type]


def request(service: Disposition, flow: str = "customer_return",
            category: str | None = None) -> RouteRequest:
    return RouteRequest(lat=ORIGIN[0], lon=ORIGIN[1], source="origin", flow=flow,
                        category=category, service=service, day="2026-12-05")


def test_the_cheapest_eligible_wins_and_each_cost_is_handling_plus_distance() -> None:
    near = hub("near", 50.1, 8.0, services=("restock",), handling_cost=20.0)
    far = hub("far", 51.0, 8.0, services=("restock",), handling_cost=0.0)
    found = route(request(Disposition.RESTOCK), [near, far], {}, Costs(0.5, 1.3))
    km_near = distance_m(*ORIGIN, 50.1, 8.0) / 1000
    km_far = distance_m(*ORIGIN, 51.0, 8.0) / 1000
    costs = {c.geofence: c.cost for c in found.candidates}
    assert costs["near"] == pytest.approx(20 + 0.65 * km_near, abs=0.01)  # 27.23
    assert costs["far"] == pytest.approx(0.65 * km_far, abs=0.01)  # 72.28
    assert found.chosen is not None and found.chosen.geofence == "near"
    assert [c.geofence for c in found.candidates] == ["near", "far"]  # cheapest first


def test_what_a_hub_does_not_handle_or_has_no_room_for_passes_it_over() -> None:
    zones = [hub("repairs", 50.05, 8.0, services=("repair",)),
             hub("returns", 50.02, 8.0, flows=("customer_return",)),
             hub("laptops", 50.01, 8.0, categories=("laptop",)),
             hub("full", 50.0, 8.0, daily_capacity=2),
             hub("cage", 50.0, 8.0, GeofenceKind.QUARANTINE),
             hub("area", 50.0, 8.0, GeofenceKind.AREA)]
    found = route(request(Disposition.REPAIR, flow="warranty_repair", category="phone"),
                  zones, {"full": 2}, Costs())
    why = {c.geofence: c.why_not for c in found.candidates}
    assert "area" not in why  # an area is no destination
    assert why == {"full": "over capacity: 2 of 2 trips on 2026-12-05",
                   "cage": "does not handle service repair",
                   "laptops": "does not handle category phone",
                   "returns": "does not handle flow warranty_repair",
                   "repairs": None}
    assert found.chosen is not None and found.chosen.geofence == "repairs"
    assert "; full (over capacity: 2 of 2 trips on 2026-12-05);" in found.reason


def test_nothing_eligible_says_why_each_was_passed_over() -> None:
    found = route(request(Disposition.QUARANTINE), [hub("plain", 50.1, 8.0)], {}, Costs())
    assert found.chosen is None
    assert found.reason == "no hub can take it: plain does not handle service quarantine"
    assert route(request(Disposition.RESTOCK), [], {}, Costs()).reason == (
        "no hub, depot or quarantine geofence is registered")


def test_inspect_needs_no_particular_service() -> None:
    found = route(request(Disposition.INSPECT), [hub("x", 50.1, 8.0, services=("recycle",))],
                  {}, Costs())
    assert found.chosen is not None


def test_who_can_quarantine() -> None:
    assert can_quarantine(hub("cage", 50.0, 8.0, GeofenceKind.QUARANTINE))
    assert can_quarantine(hub("h", 50.0, 8.0, services=("quarantine", "restock")))
    assert not can_quarantine(hub("h", 50.0, 8.0))  # a hub listing nothing: all but that
    assert not can_quarantine(None)
