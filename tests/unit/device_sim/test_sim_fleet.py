"""plan_fleet: deterministic, shaped as promised, every requested fault present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_sim import ALL_FAULTS, FleetPlan, plan_fleet
from device_sim._places import CITIES, DEPOTS, HUBS, distance_km

NOW = datetime(2026, 11, 29, 8, 15, tzinfo=UTC)
CONTRACT_FLOWS = {
    "customer_return",
    "warranty_repair",
    "recall",
    "trade_in",
    "rental_return",
    "b2b_return",
    "end_of_life",
}


def with_fault(plan: FleetPlan, fault: str) -> list[str]:
    return [t.tag_id for t in plan.tags if fault in t.faults]


def test_same_seed_gives_the_same_plan() -> None:
    assert plan_fleet(50, seed=7, now=NOW) == plan_fleet(50, seed=7, now=NOW)


def test_different_seed_gives_a_different_plan() -> None:
    assert plan_fleet(50, seed=7, now=NOW) != plan_fleet(50, seed=8, now=NOW)


def test_ids_are_unique_and_numbered() -> None:
    plan = plan_fleet(30, now=NOW)
    assert [t.tag_id for t in plan.tags][:2] == ["tag-0001", "tag-0002"]
    assert plan.tags[0].asset_id == "asset-0001"
    assert len({t.tag_id for t in plan.tags}) == 30
    assert len({t.asset_id for t in plan.tags}) == 30
    assert len({t.serial for t in plan.tags}) == 30


def test_about_seventy_percent_shipments_thirty_percent_rentals() -> None:
    plan = plan_fleet(100, now=NOW)
    rentals = [t for t in plan.tags if t.kind == "rental"]
    assert len(rentals) == 30
    assert all(t.kind in ("shipment", "rental") for t in plan.tags)
    assert all(t.flow == "rental_return" for t in rentals)


def test_shipments_use_several_contract_flows() -> None:
    plan = plan_fleet(100, now=NOW)
    flows = {t.flow for t in plan.tags if t.kind == "shipment"}
    assert flows <= CONTRACT_FLOWS - {"rental_return"}
    assert len(flows) >= 4


def test_a_handful_of_shipments_are_cold_chain_with_the_given_profile() -> None:
    plan = plan_fleet(40, now=NOW, cold_chain_profile="vaccines")
    cold = [t for t in plan.tags if t.profile is not None]
    assert 1 <= len(cold) <= 10
    assert {t.profile for t in cold} == {"vaccines"}
    assert all(t.kind == "shipment" for t in cold)


def test_every_fault_is_exhibited_when_requested() -> None:
    plan = plan_fleet(20, now=NOW)
    for fault in sorted(ALL_FAULTS):
        assert with_fault(plan, fault), fault


def test_excursion_tags_are_cold_chain() -> None:
    plan = plan_fleet(20, now=NOW)
    assert all(t.profile == "cold_chain" for t in plan.tags if "excursion" in t.faults)


def test_recall_plan_matches_the_recall_tags() -> None:
    plan = plan_fleet(20, now=NOW)
    (recall,) = plan.recalls
    assert len(recall.lots) == 1 and recall.reason
    hit = [t for t in plan.tags if t.sku == recall.sku and t.lot in recall.lots]
    assert hit
    assert {t.tag_id for t in hit} == set(with_fault(plan, "recall"))


def test_overdue_rental_is_past_due_and_other_rentals_are_not() -> None:
    plan = plan_fleet(20, now=NOW)
    for t in plan.tags:
        if t.kind != "rental":
            continue
        assert t.due_at is not None and t.due_at.tzinfo is not None
        if "overdue" in t.faults:
            assert t.due_at <= NOW - timedelta(days=1)
        else:
            assert t.due_at > NOW


def test_exactly_one_malformed_tag() -> None:
    assert len(with_fault(plan_fleet(20, now=NOW), "malformed")) == 1


def test_no_faults_when_none_requested() -> None:
    plan = plan_fleet(20, now=NOW, faults=frozenset())
    assert plan.recalls == ()
    assert all(not t.faults for t in plan.tags)
    assert all(t.due_at is None or t.due_at > NOW for t in plan.tags)


@pytest.mark.parametrize("tags", [1, 2, 3, 5])
def test_tiny_fleets_still_exhibit_every_fault(tags: int) -> None:
    plan = plan_fleet(tags, now=NOW)
    assert len(plan.tags) == tags
    for fault in sorted(ALL_FAULTS):
        assert with_fault(plan, fault), (tags, fault)


def test_routes_run_from_a_customer_city_to_a_hub_or_depot() -> None:
    plan = plan_fleet(60, now=NOW)
    for t in plan.tags:
        city = next(c for c in CITIES if c.name == t.origin.name)
        assert distance_km(city, t.origin) < 5.0
        if t.kind == "rental":
            assert t.destination in DEPOTS
        else:
            assert t.destination in HUBS
            assert distance_km(t.origin, t.destination) >= 50.0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tags"):
        plan_fleet(0)
    with pytest.raises(ValueError, match="unknown faults"):
        plan_fleet(5, faults=frozenset({"meteor"}))
    with pytest.raises(ValueError, match="timezone"):
        plan_fleet(5, now=datetime(2026, 1, 1))
