"""`late_predicted`, and the estimate of arrival it comes from (alerts.eta, docs/eta.md):
on each located reading of a trip on its way, when it will reach its destination and the
chance that this is after its due date. The alert opens when that chance passes the
threshold before the due date, and resolves when the trip is back on track or arrives.

The trip's last leg starts where it was last at its farthest from the destination (a
return's customer, a rental's site): time spent there before leaving is not travel, and a
rental going out to its customer is not on its way back. Dwell on the way (a carrier's
depot) stays travel: the lanes' speeds include the dwell of their trips, so the estimate
slips steadily while an item waits, rather than jumping when it stops and starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.eta import (
    TRIP_SPEED_MIN_H,
    TRIP_SPEED_MIN_KM,
    Eta,
    Lane,
    Transit,
    estimate,
    region,
)
from alerts.geo import distance_m
from alerts.routing import centre
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from alerts.rules._state import evolve
from alerts.trips import TripStatus, machine_of
from ingest.readings import Reading

if TYPE_CHECKING:
    from alerts.rules.arrival import Arrival

NAME = "eta"
ESTIMATE_EVERY = timedelta(minutes=5)
"""An asset's estimate is made again at most this often (by reading time): a tag reporting
every few seconds need not pay for it each time, and nothing it decides is that urgent."""
MARK_EVERY = timedelta(minutes=15)
MOVING_KMH = 5.0
"""Coming nearer slower than this between two marks is waiting, not travelling."""
PRIOR_CERTAINTY = 0.9
"""Before a trip has shown its own speed (its estimate is still mostly its lane's or the
default), the chance of lateness it takes to open: a lane mixes express and slow carriers,
and an express trip must not be called late for the slow ones' sake. An item still waiting
at its customer's is called late once even a fast trip could not make it."""
LATE_HYSTERESIS = 0.2
"""A late prediction resolves only once the chance of lateness is this far below the
threshold: an estimate hovering at it must not open and resolve the alert over and over."""


@dataclass(frozen=True, slots=True)
class EtaState:
    destination: str | None = None
    """The destination the leg below is measured to: a re-routed trip starts afresh."""
    far_km: float = 0.0
    """The farthest the trip has been from its destination."""
    leg_lat: float | None = None
    leg_lon: float | None = None
    leg_at: datetime | None = None
    """The last reading at (within the departure radius of) that farthest distance: where
    and when the last leg started."""
    mark_km: float | None = None
    mark_at: datetime | None = None
    """Distance left at the last time its progress was measured (every MARK_EVERY)."""
    moving_h: float = 0.0
    moved_km: float = 0.0
    """Hours spent coming nearer since the leg started, and how much nearer: the trip's
    own speed leaves its stops out, so that it does not fall while the item waits and
    jump back once it goes on."""
    announced: datetime | None = None
    """The median arrival last announced (`trip.eta_changed`)."""
    late: bool = False
    """A late_predicted alert is open."""


def on_the_way(asset: Asset) -> bool:
    if asset.trip_status is None:
        return not asset.state.arrived
    return TripStatus(asset.trip_status) in machine_of(asset.flow).on_the_way


def follow_leg(state: EtaState, location: Location, remaining_km: float, slack_km: float
               ) -> EtaState:
    """Fold a located reading `remaining_km` from the destination into the leg: where it
    started, and how fast it has come nearer while it moved."""
    if state.leg_at is None or remaining_km > state.far_km + slack_km or (
            remaining_km >= state.far_km - slack_km
            and location.ts - state.leg_at >= MARK_EVERY):
        # At its farthest (still at the customer's): the leg starts here, or later. Moved
        # on every MARK_EVERY only, so that an item waiting there does not change its state
        # (a write) with every reading; the leg's start is then up to that much early.
        return evolve(state, far_km=max(state.far_km, remaining_km), leg_lat=location.lat,
                      leg_lon=location.lon, leg_at=location.ts, mark_km=remaining_km,
                      mark_at=location.ts, moving_h=0.0, moved_km=0.0)
    if remaining_km >= state.far_km - slack_km:
        return state
    if state.mark_at is None or state.mark_km is None:
        return evolve(state, mark_km=remaining_km, mark_at=location.ts)
    if location.ts - state.mark_at < MARK_EVERY:
        return state
    hours = (location.ts - state.mark_at).total_seconds() / 3600
    progress = state.mark_km - remaining_km
    if progress / hours < MOVING_KMH:
        return evolve(state, mark_km=remaining_km, mark_at=location.ts)
    return evolve(state, mark_km=remaining_km, mark_at=location.ts,
                  moving_h=state.moving_h + hours, moved_km=state.moved_km + progress)


def lane_of(asset: Asset, state: EtaState) -> Lane | None:
    if state.leg_lat is None or state.leg_lon is None or asset.destination is None:
        return None
    return Lane(region(state.leg_lat, state.leg_lon), asset.destination, str(asset.flow))


def trip_speed_kmh(state: EtaState) -> float | None:
    """How fast the trip has come nearer while it moved, once that tells anything."""
    if state.moving_h < TRIP_SPEED_MIN_H or state.moved_km < TRIP_SPEED_MIN_KM:
        return None
    return state.moved_km / state.moving_h


def late_transition(asset: Asset, eta: Eta, location: Location, threshold: float,
                    late: bool) -> Transition | None:
    """Opens or resolves the alert on the estimate's chance of lateness."""
    probability = eta.late_probability
    due_at = asset.due_at
    if not late:
        needed = threshold if eta.basis == "trip" else max(threshold, PRIOR_CERTAINTY)
        if probability is None or due_at is None or probability < needed or eta.at >= due_at:
            return None
        hours_late = (eta.p50 - due_at).total_seconds() / 3600
        lateness = f"{hours_late:.0f} h late" if hours_late >= 1 else "at risk of being late"
        return Transition(
            Action.OPEN, AlertKind.LATE_PREDICTED, key="", at=eta.at, severity=Severity.WARNING,
            summary=f"predicted {lateness}: expected {eta.p50:%Y-%m-%d %H:%M}, "
                    f"due {due_at:%Y-%m-%d %H:%M} UTC",
            value=probability, location=location,
            details={"due_at": due_at.isoformat(), "eta": eta.data(),
                     "destination": asset.destination, "customer": asset.customer})
    if probability is None or probability < threshold - LATE_HYSTERESIS:
        return Transition(Action.RESOLVE, AlertKind.LATE_PREDICTED, key="", at=eta.at,
                          summary="back on track" if probability is not None
                          else "no due date any more",
                          value=probability, location=location,
                          details={"eta": eta.data()})
    return None


class EtaRule(Rule):
    name = NAME
    state_type = EtaState
    per_trip = True

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if location is None or not context.newer or not on_the_way(asset):
            return NOTHING
        last = context.estimate(asset.id)
        if last is not None and location.ts - last.at < ESTIMATE_EVERY:
            return NOTHING
        zone = context.zones.get(asset.destination or "")
        if zone is None:
            return NOTHING
        lat, lon = centre(zone)
        remaining_m = distance_m(location.lat, location.lon, lat, lon)
        circle = zone.fence.circle
        if (remaining_m <= circle.radius_m if circle is not None and zone.polygon is None
                else zone.contains(location.lat, location.lon)):
            return NOTHING  # arriving: the arrival rule's
        remaining_km = remaining_m / 1000
        policy = context.policy
        slack_km = policy.departure_radius_m / 1000
        before = context.state(asset.id, "", EtaState)
        state = before
        if state.destination != asset.destination:
            state = EtaState(destination=asset.destination, late=state.late)
        state = follow_leg(state, location, remaining_km, slack_km)
        lane = lane_of(asset, state)
        eta = estimate(location.ts, remaining_km, asset.due_at,
                       lane=context.lanes.of(lane) if lane is not None else None,
                       trip_kmh=trip_speed_kmh(state), trip_hours=state.moving_h,
                       default_kmh=policy.eta_default_speed_kmh)
        # Announced once the trip comes nearer: an item waiting at its customer (or a
        # rental out) would otherwise announce its slipping estimate every so often.
        coming = state.far_km - remaining_km > slack_km
        announce = coming and (state.announced is None
                               or abs(eta.p50 - state.announced) >= policy.eta_change)
        if announce:
            state = evolve(state, announced=eta.p50)
        context.estimated(eta, announce=announce)
        transitions: Sequence[Transition] = NOTHING
        found = late_transition(asset, eta, location, policy.late_probability, state.late)
        if found is not None:
            state = evolve(state, late=found.action is Action.OPEN)
            transitions = (found,)
        context.put(asset.id, "", state if state != before else before)
        return transitions

    def on_arrival(self, context: RuleContext, asset: Asset, arrival: Arrival
                   ) -> Sequence[Transition]:
        """Arrival ends the prediction; the leg it ends teaches its lane."""
        state = context.state(asset.id, "", EtaState)
        lane = lane_of(asset, state)
        if lane is not None and state.leg_at is not None and state.leg_lat is not None \
                and state.leg_lon is not None:
            lat, lon = centre(arrival.destination)
            km = distance_m(state.leg_lat, state.leg_lon, lat, lon) / 1000
            context.travelled(Transit(lane, state.leg_at, arrival.at, km))
        if not state.late:
            return NOTHING
        context.put(asset.id, "", evolve(state, late=False))
        return [Transition(Action.RESOLVE, AlertKind.LATE_PREDICTED, key="", at=arrival.at,
                           location=arrival.location,
                           summary=f"arrived at {arrival.destination.fence.name}")]


RULE = EtaRule()
