"""The status machines of trips: the moves each allows, what telemetry and inspections move,
and the refusal naming what is allowed (docs/lifecycle.md)."""

from __future__ import annotations

import itertools

import pytest

from alerts.domain import AssetState, Flow
from alerts.trips import (
    RECALL,
    RENTAL,
    RETURN,
    Disposition,
    IllegalMove,
    Sighting,
    TripMachine,
    TripStatus,
    after_inspection,
    inspected_from,
    machine_of,
)

S = TripStatus


@pytest.mark.parametrize(("flow", "machine"), [
    (Flow.CUSTOMER_RETURN, RETURN), (Flow.WARRANTY_REPAIR, RETURN), (Flow.TRADE_IN, RETURN),
    (Flow.B2B_RETURN, RETURN), (Flow.END_OF_LIFE, RETURN), (Flow.RENTAL_RETURN, RENTAL),
    (Flow.RECALL, RECALL),
])
def test_each_flow_has_its_machine(flow: Flow, machine: object) -> None:
    assert machine_of(flow) is machine


def test_a_return_goes_the_whole_way_and_no_step_back() -> None:
    path = [S.AUTHORIZED, S.IN_TRANSIT, S.ARRIVED, S.INSPECTED, S.DISPOSITIONED, S.CLOSED]
    for here, there in itertools.pairwise(path):
        RETURN.check(here, there)
    with pytest.raises(IllegalMove) as refused:
        RETURN.check(S.ARRIVED, S.IN_TRANSIT)
    assert str(refused.value) == ("a return trip cannot move from arrived to in_transit; "
                                  "allowed: inspected")
    assert RETURN.final == {S.CLOSED}


def test_a_closed_trip_allows_nothing() -> None:
    with pytest.raises(IllegalMove, match="allowed: none: the trip is closed"):
        RENTAL.check(S.AVAILABLE, S.CHECKED_OUT)


@pytest.mark.parametrize(("machine", "status", "sighting", "to"), [
    (RETURN, S.AUTHORIZED, Sighting.DEPARTED, S.IN_TRANSIT),
    (RETURN, S.AUTHORIZED, Sighting.ARRIVED, S.ARRIVED),  # a departure nobody saw
    (RETURN, S.AUTHORIZED, Sighting.LOCATED, None),
    (RETURN, S.IN_TRANSIT, Sighting.DEPARTED, None),
    (RETURN, S.ARRIVED, Sighting.ARRIVED, None),
    (RENTAL, S.CHECKED_OUT, Sighting.DEPARTED, None),
    (RENTAL, S.CHECKED_OUT, Sighting.ARRIVED, S.RETURNED),
    (RECALL, S.IDENTIFIED, Sighting.LOCATED, S.LOCATED),
    (RECALL, S.LOCATED, Sighting.DEPARTED, S.IN_TRANSIT),
    (RECALL, S.IDENTIFIED, Sighting.ARRIVED, S.RECEIVED),
    (RECALL, S.RECEIVED, Sighting.LOCATED, None),
])
def test_telemetry_moves_only_forward(machine: TripMachine, status: TripStatus,
                                      sighting: Sighting, to: TripStatus | None) -> None:
    assert machine.after(status, sighting) == to


@pytest.mark.parametrize(("flow", "disposition", "to"), [
    (Flow.CUSTOMER_RETURN, Disposition.RESTOCK, S.DISPOSITIONED),
    (Flow.CUSTOMER_RETURN, Disposition.INSPECT, None),
    (Flow.RENTAL_RETURN, Disposition.REDEPLOY, S.AVAILABLE),
    (Flow.RENTAL_RETURN, Disposition.REPAIR, None),
    (Flow.RECALL, Disposition.RECYCLE, S.DESTROYED),
    (Flow.RECALL, Disposition.DISPOSE, S.DESTROYED),
    (Flow.RECALL, Disposition.REPAIR, S.REMEDIED),
    (Flow.RECALL, Disposition.QUARANTINE, None),
])
def test_an_inspection_moves_on_by_its_disposition(flow: Flow, disposition: Disposition,
                                                   to: TripStatus | None) -> None:
    assert after_inspection(machine_of(flow), disposition) == to


def test_a_trip_is_inspected_where_it_arrives() -> None:
    assert [inspected_from(m) for m in (RETURN, RENTAL, RECALL)] == [
        S.ARRIVED, S.RETURNED, S.RECEIVED]


def test_the_v1_asset_state_follows_the_trip() -> None:
    assert RETURN.asset_state(S.IN_TRANSIT) is AssetState.IN_TRANSIT
    assert RETURN.asset_state(S.INSPECTED) is AssetState.RECEIVED
    assert RENTAL.asset_state(S.CHECKED_OUT) is AssetState.IN_TRANSIT
    assert RENTAL.asset_state(S.AVAILABLE) is AssetState.RETURNED
    assert RECALL.asset_state(S.LOCATED) is AssetState.IN_TRANSIT
