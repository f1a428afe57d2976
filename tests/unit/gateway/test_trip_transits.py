"""The trip store's side of arrival prediction: the estimate last announced and the last leg
kept on the trip, and the legs the engine's lanes learn from at start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from alerts.domain import Flow
from alerts.eta import Eta, Lane, Transit
from alerts.trips import Trip, TripStatus
from gateway.registry.trips import TripStore
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(state_url: str) -> Iterator[TripStore]:
    db = StateDb.open(state_url)
    yield TripStore(db)
    db.close()


def a_trip(n: int, destination: str, transit: Transit | None = None) -> Trip:
    return Trip(id=f"trp_{n}", asset_id=f"a{n}", flow=Flow.CUSTOMER_RETURN,
                status=TripStatus.ARRIVED, destination=destination, transit=transit,
                created_at=T0, updated_at=T0)


def test_a_trip_keeps_its_estimate_and_its_last_leg(store: TripStore) -> None:
    with store.db.transaction():
        store.create([a_trip(1, "hub")], [])
    eta = Eta(at=T0, p50=T0 + timedelta(hours=3), p90=T0 + timedelta(hours=5), basis="lane",
              remaining_km=180.5, late_probability=0.25)
    leg = Transit(Lane("50N6E", "hub", "customer_return"), T0, T0 + timedelta(hours=4), 190.0)
    with store.db.transaction():
        store.estimated("trp_1", eta)
        store.travelled("trp_1", leg)
    trip = store.get("trp_1")
    assert trip is not None and trip.eta == eta and trip.transit == leg


def test_the_lanes_learn_from_the_newest_legs_of_each_lane_since_a_time(
        store: TripStore) -> None:
    def leg(region: str, hours_ago: float) -> Transit:
        arrived = T0 - timedelta(hours=hours_ago)
        return Transit(Lane(region, "hub", "customer_return"), arrived - timedelta(hours=3),
                       arrived, 150.0)

    legs = [leg("50N6E", 1), leg("50N6E", 2), leg("50N6E", 3), leg("51N7E", 5),
            leg("51N7E", 500)]
    with store.db.transaction():
        store.create([a_trip(n, "hub", t) for n, t in enumerate(legs)]
                     + [a_trip(99, "hub")], [])
    found = store.transits(T0 - timedelta(hours=100), per_lane=2)
    # The two newest of the first lane, the one recent enough of the second; oldest first.
    assert found == [legs[3], legs[1], legs[0]]
