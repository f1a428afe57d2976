"""Arrival prediction (alerts/eta.py, alerts/rules/eta.py): lanes learnt from arrivals, the
estimate's bases and spread, the chance of lateness, dwell that does not make the estimate
jump, and `late_predicted` opened before the due date and resolved at arrival."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts import AlertStore, EnginePolicy, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import (
    AlertState,
    Asset,
    AssetKind,
    AssetState,
    Circle,
    Flow,
    Geofence,
    GeofenceKind,
)
from alerts.eta import Lane, LaneSpeed, LaneSpeeds, Transit, estimate, late_probability, region
from alerts.geo import distance_m
from alerts.store import AlertFilter
from gateway.migrations import upgrade
from ingest.readings import Reading
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
HUB = Geofence("hub", "Returns hub Kassel", GeofenceKind.HUB, circle=Circle(51.3127, 9.4797, 2000))
COLOGNE = (50.9375, 6.9603)
LANE = Lane("50N6E", "hub", "customer_return")


def transit(hours: float, km: float = 180.0) -> Transit:
    return Transit(LANE, T0, T0 + timedelta(hours=hours), km)


def test_a_region_is_a_cell_of_whole_degrees() -> None:
    assert region(*COLOGNE) == "50N6E"
    assert region(-33.9, -70.6) == "34S71W"
    assert region(0.5, -0.5) == "0N1W"


def test_a_lane_is_trusted_from_three_trips_and_keeps_the_newest() -> None:
    lanes = LaneSpeeds(keep=4)
    lanes.learn(transit(2))
    lanes.learn(transit(3))
    assert lanes.of(LANE) is None
    lanes.learn(transit(4))
    speed = lanes.of(LANE)
    assert speed is not None and speed.trips == 3
    assert speed.median_kmh == pytest.approx(60.0)  # 180 km in 3 h
    for _ in range(4):
        lanes.learn(transit(1))  # the three slow trips are forgotten
    assert lanes.of(LANE) == LaneSpeed(180.0, 180.0, 4)
    assert list(lanes.lanes()) == ["customer_return:50N6E>hub"]


def test_a_leg_too_short_to_tell_a_speed_teaches_nothing() -> None:
    lanes = LaneSpeeds(min_trips=1)
    lanes.learn(transit(1, km=2.0))
    lanes.learn(Transit(LANE, T0, T0, 100.0))
    assert lanes.of(LANE) is None


def test_an_estimate_weighs_the_trips_own_speed_against_its_lane_or_the_default() -> None:
    lane = LaneSpeed(median_kmh=60.0, slow_kmh=40.0, trips=10)
    by_lane = estimate(T0, 120.0, None, lane=lane, trip_kmh=None, default_kmh=50.0)
    assert (by_lane.basis, by_lane.p50, by_lane.p90) == (
        "lane", T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert by_lane.late_probability is None
    # An hour on the move at 30 km/h: half the lane's 2 h, half its own 4 h.
    blended = estimate(T0, 120.0, None, lane=lane, trip_kmh=30.0, trip_hours=1.0,
                       default_kmh=50.0)
    assert (blended.basis, blended.p50) == ("trip", T0 + timedelta(hours=3))
    assert blended.p90 == T0 + timedelta(hours=3 * (1.5 + 1.3) / 2)
    barely = estimate(T0, 120.0, None, lane=lane, trip_kmh=30.0, trip_hours=0.5,
                      default_kmh=50.0)
    assert barely.basis == "lane" and blended.p50 > barely.p50 > by_lane.p50
    by_default = estimate(T0, 100.0, None, lane=None, trip_kmh=None, default_kmh=50.0)
    assert (by_default.basis, by_default.p50) == ("default", T0 + timedelta(hours=2))
    assert by_default.p90 == T0 + timedelta(hours=2 * 1.6)


def test_the_chance_of_lateness_follows_the_spread() -> None:
    assert late_probability(10, 20, 10) == pytest.approx(0.5)
    assert late_probability(10, 20, 20) == pytest.approx(0.1)
    assert late_probability(10, 20, 5) > 0.9
    assert late_probability(10, 20, -1) == 1.0  # due already
    chances = [late_probability(10, 15, left) for left in (6, 8, 10, 12, 14, 20)]
    assert chances == sorted(chances, reverse=True)


class Fleet:
    """A RuleEngine over a migrated SQLite state db, with one hub, on event time."""

    def __init__(self, path: Path) -> None:
        self.db = StateDb.open(f"sqlite:///{path}/state.db")
        upgrade(self.db)
        self.now = T0
        self.alerts = AlertStore(self.db)
        self.engine = RuleEngine(self.alerts, WebhookOutbox(self.db), SubscriptionStore(self.db),
                                 lambda: self.now, policy=EnginePolicy(eta_default_speed_kmh=50))
        self.engine.upsert_geofence(HUB)

    def ship(self, asset_id: str, due_in: timedelta | None = None) -> Asset:
        asset = Asset(id=asset_id, kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN,
                      tag_id=f"tag-{asset_id}", destination="hub", created_at=T0,
                      due_at=T0 + due_in if due_in else None)
        self.engine.upsert_asset(asset)
        return asset

    def feed(self, asset_id: str, at: datetime, lat: float, lon: float) -> None:
        self.now = at
        failed = self.engine.judge_readings([Reading(f"tag-{asset_id}", at, None,
                                                     {"lat": lat, "lon": lon})])
        assert failed == []

    def drive(self, asset_id: str, start: datetime, *, kmh: float, dwell_at_km: float = -1,
              dwell: timedelta = timedelta(0), wait: timedelta = timedelta(0),
              every: timedelta = timedelta(minutes=10)) -> list[tuple[datetime, datetime]]:
        """From Cologne to the hub at `kmh`, after `wait` at the start, with a `dwell` at
        `dwell_at_km` (a carrier's depot); (reading time, median estimate) on the way."""
        hub_lat, hub_lon = HUB.circle.lat, HUB.circle.lon  # type: ignore[union-attr]
        total_km = distance_m(*COLOGNE, hub_lat, hub_lon) / 1000
        estimates = []
        at, km, dwelt = start, 0.0, timedelta(0)
        while True:
            f = km / total_km
            self.feed(asset_id, at, COLOGNE[0] + (hub_lat - COLOGNE[0]) * f,
                      COLOGNE[1] + (hub_lon - COLOGNE[1]) * f)
            eta = self.engine.estimate(asset_id)
            if eta is not None:
                estimates.append((at, eta.p50))
            if km >= total_km:
                break
            if at - start < wait:
                pass
            elif dwell_at_km <= km and dwelt < dwell:
                dwelt += every
            else:
                km = min(total_km, km + kmh * every.total_seconds() / 3600)
            at += every
        return estimates

    def alerts_of(self, asset_id: str) -> list[tuple[str, AlertState, datetime]]:
        return [(str(a.kind), a.state, a.opened_at)
                for a in self.alerts.list(AlertFilter(asset_id=asset_id))]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.db.close()


def test_a_trip_learns_its_lane_and_the_next_ones_are_estimated_from_it(fleet: Fleet) -> None:
    start = T0
    for n in range(3):
        fleet.ship(f"a{n}")
        fleet.drive(f"a{n}", start, kmh=60)
        assert fleet.engine.asset(f"a{n}").state is AssetState.RECEIVED  # type: ignore[union-attr]
        assert fleet.engine.estimate(f"a{n}") is None  # arrived: nothing to estimate
        start += timedelta(hours=6)
    speed = fleet.engine.lanes.of(Lane("50N6E", "hub", "customer_return"))
    assert speed is not None and speed.median_kmh == pytest.approx(60, rel=0.1)
    fleet.ship("a3")
    estimates = fleet.drive("a3", start, kmh=60)
    arrived = estimates[-1][0]
    # From the lane, the first estimate is within 10 minutes of the truth.
    assert abs((estimates[0][1] - arrived).total_seconds()) < 600 + 600
    assert fleet.engine.estimate("a3") is None


def test_dwell_on_the_way_makes_the_estimate_slip_steadily_and_is_no_arrival(
        fleet: Fleet) -> None:
    fleet.ship("d")
    estimates = fleet.drive("d", T0, kmh=60, dwell_at_km=60, dwell=timedelta(hours=4))
    assert fleet.engine.asset("d").state is AssetState.RECEIVED  # type: ignore[union-attr]
    # Reading after reading, the estimate never moves back by more than a few minutes, nor
    # later by more than the time that passed: no jump either way, dwell or not.
    # (Past its first hour: the default speed gives way to the trip's own at half an hour.)
    settled = [(at, p50) for at, p50 in estimates if at >= T0 + timedelta(hours=1)]
    assert len(settled) > 30
    for (at, p50), (next_at, next_p50) in itertools.pairwise(settled):
        slip = (next_p50 - p50).total_seconds()
        assert -300 <= slip <= (next_at - at).total_seconds() + 60, (at, p50, next_p50)


def test_late_predicted_opens_before_the_due_date_and_resolves_at_arrival(
        fleet: Fleet) -> None:
    # 190 km at 50 km/h is nearly 4 h; the item waits 3 h at the customer, due in 5 h.
    fleet.ship("late", due_in=timedelta(hours=5))
    fleet.drive("late", T0, kmh=50, wait=timedelta(hours=3))
    ((kind, state, opened_at),) = fleet.alerts_of("late")
    assert (kind, state) == ("late_predicted", AlertState.RESOLVED)
    assert opened_at < T0 + timedelta(hours=5)
    resolved = fleet.alerts.list(AlertFilter(asset_id="late"))[0]
    assert "arrived" in resolved.details["resolution"]


def test_an_item_on_time_raises_nothing(fleet: Fleet) -> None:
    fleet.ship("early", due_in=timedelta(hours=12))
    fleet.drive("early", T0, kmh=50)
    assert fleet.alerts_of("early") == []


def test_a_rental_far_from_home_near_its_due_date_is_predicted_late_and_quiet_till_then(
        fleet: Fleet) -> None:
    rental = Asset(id="r", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, tag_id="tag-r",
                   destination="hub", created_at=T0, due_at=T0 + timedelta(hours=12))
    fleet.engine.upsert_asset(rental)
    hub_lat, hub_lon = HUB.circle.lat, HUB.circle.lon  # type: ignore[union-attr]
    fleet.feed("r", T0, hub_lat, hub_lon)  # checked out at the depot: nothing to estimate
    assert fleet.engine.estimate("r") is None
    # Out to its customer in Cologne (190 km), where it stays.
    for step in range(1, 7):
        f = step / 6
        fleet.feed("r", T0 + timedelta(minutes=30 * step), hub_lat + (COLOGNE[0] - hub_lat) * f,
                   hub_lon + (COLOGNE[1] - hub_lon) * f)
    at = T0 + timedelta(hours=3)
    while fleet.alerts_of("r") == [] and at < rental.due_at:  # type: ignore[operator]
        fleet.feed("r", at, *COLOGNE)
        at += timedelta(minutes=10)
    ((kind, state, opened_at),) = fleet.alerts_of("r")
    assert (kind, state) == ("late_predicted", AlertState.OPEN)
    # 190 km at the default 50 km/h is 3.8 h: even a fast trip would not make it with
    # about 2.5 h left, and it was called late before its due date, not at it.
    assert T0 + timedelta(hours=8) < opened_at < T0 + timedelta(hours=10)
    # Going out and waiting is no coming back: no estimate was announced.
    fleet.engine.save_state()
    assert fleet.engine.estimate("r") is not None
    assert fleet.alerts.load_rule_states("eta")[("r", "")]["announced"] is None
