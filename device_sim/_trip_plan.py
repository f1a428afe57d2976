"""Plans the trips of a scenario's lifecycle groups: when each trip is opened, inspected and
closed through the API, where routing sends it (the truth model's choice, which the tag then
drives to), where a recall re-routes it, when each tag reports; and, once the readings exist,
the status changes the gateway should record and what it should recommend.

Trips of different tags meet at the hubs (a daily capacity counts every trip routed there,
in the order the calls are made) and at a recall (it re-routes whatever is on its way), so
the plan is made in one pass over time, every tag's next call in a queue. Every choice that
timing could swing (two hubs priced alike, a reading the gateway may not have seen yet when
a call arrives, a routing call at midnight) raises AmbiguousTruth: the scenario is refused
rather than given a ground truth that depends on luck.

Ordering between the player's calls and the tag's readings: the player makes a call only
after publishing every reading due before it, and publishes the next reading only once the
call is answered, so a call always precedes the readings after it. A reading published just
before a call may still be on its way through the gateway's ingest when the call arrives,
for up to `tolerance` of simulated time: that is the window checked for ambiguity.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from device_sim._lifecycle import (
    ARRIVED_STATUS,
    DEPARTURE_RADIUS_M,
    INITIAL_STATUS,
    RECALL,
    RENTAL,
    RETURN,
    ApiAction,
    ExpectedStatus,
    ExpectedTrip,
    Recommendation,
    Routing,
    can_quarantine,
    decisive_choice,
    inspection_moves,
    machine_of,
    recommend,
    route,
    service_for,
    utc_day,
)
from device_sim._readings import rfc3339
from device_sim._routes import (
    TAG_SPEED_FACTORS,
    Track,
    TrackBuilder,
    distance_m,
    offset,
    spot_inside,
)
from device_sim._truth import READING_SLACK, AmbiguousTruth, Delivery, Finding
from device_sim.scenario import (
    FAULT_METRIC,
    SITE_SPREAD_KM,
    FaultSpec,
    FleetGroup,
    LifecycleSpec,
    PlaceSpec,
    Scenario,
)

# A return's tag is switched on with its return label: its first reading comes at least this
# long after the trip is created.
FIRST_READING_AFTER_S = 60
# A rental's tag sleeps while parked in its depot with no trip open, and wakes when it moves:
# its first reading of a trip comes at least this long after the check-out...
WAKE_AFTER_S = 300
# ...and at least this far outside the depot, so that the gateway never sees a rental inside
# its destination before it has left (whether that would count as "entering" it is the
# gateway's business, not a question a scenario should ask).
DEPOT_CLEARANCE_M = 300.0
RETURN_DUE_IN = timedelta(days=7)
_GRADES = {"restock": "A", "redeploy": "A", "refurbish": "B", "return_to_vendor": "B",
           "repair": "C", "inspect": "C", "recycle": "D", "dispose": "D", "quarantine": "D"}
_DEFAULT_REASONS = {"customer_return": "changed_mind", "warranty_repair": "defective",
                    "trade_in": "other", "b2b_return": "other", "end_of_life": "other",
                    "recall": "other"}
# Event kinds, in the order they go when due at the same second: a recall announced at the
# very second a trip is opened applies to it.
_CREATE, _RECALL, _INSPECT, _PATCH = 0, 1, 2, 3


@dataclass(slots=True)
class TripPlan:
    """One trip while it is planned; `destination` changes if a recall re-routes it."""

    id: str
    number: int
    flow: str
    created_s: int
    origin: tuple[float, float]
    origin_name: str
    customer: str
    destination: PlaceSpec
    routed: bool
    service: str | None = None
    routings: list[Routing] = field(default_factory=list)
    rerouted_from: PlaceSpec | None = None
    rerouted_s: int | None = None
    recall_s: int | None = None
    """A recall alert opened during the trip (the recall's call)."""
    wake_s: int | None = None
    """The tag's first reading of the trip."""
    arrival_s: int | None = None
    """Planned: the first reading inside the destination (positions without GPS noise)."""
    inspect_s: int | None = None
    recommendation: Recommendation | None = None
    disposition: str | None = None
    patch: str | None = None
    """`close` or `make_available`: the PATCH after the inspection."""
    patch_s: int | None = None

    @property
    def machine(self) -> str:
        return machine_of(self.flow)

    def destination_at(self, t: float) -> PlaceSpec:
        if self.rerouted_from is not None and self.rerouted_s is not None and t < self.rerouted_s:
            return self.rerouted_from
        return self.destination


@dataclass(slots=True)
class LifeTag:
    """A tag of a lifecycle group and the trips planned for it."""

    tag_id: str
    asset_id: str
    group: FleetGroup
    number: int
    flow: str
    category: str | None
    site: tuple[float, float]
    """A return's customer site, where its tag starts: every trip's origin."""
    customer: str
    faults: list[FaultSpec]
    schedule: list[int] = field(default_factory=list)
    """Every time the tag would take a reading, awake or asleep."""
    builder: TrackBuilder | None = None
    home: PlaceSpec | None = None
    """A rental's depot, where it is parked between trips."""
    trips: list[TripPlan] = field(default_factory=list)
    awake: list[list[int]] = field(default_factory=list)
    """[from, to] windows in which it reports, in order."""
    version: int = 0
    """Bumped when a queued call of this tag is replaced (a re-routed trip's inspection)."""

    @property
    def life(self) -> LifecycleSpec:
        assert self.group.lifecycle is not None
        return self.group.lifecycle

    def track(self) -> Track:
        if self.builder is None:
            return Track([], *self.site)
        return self.builder.build()

    def is_awake(self, t: int) -> bool:
        return any(begin <= t <= end for begin, end in self.awake)

    def reading_times(self) -> list[int]:
        return [t for t in self.schedule if self.is_awake(t)]

    def fault_at(self, fault: FaultSpec) -> int | None:
        """When a fault starts, seconds from the run's start; None when it is tied to a trip
        the tag does not make in the run."""
        at = int(fault.at.total_seconds())
        if fault.trip is None:
            return at
        if fault.trip > len(self.trips):
            return None
        return self.trips[fault.trip - 1].created_s + at


@dataclass(frozen=True, slots=True)
class PlannedRecall:
    fault: FaultSpec
    at_s: int
    body: dict[str, Any]
    asset_ids: frozenset[str]


class TripPlanner:
    def __init__(self, scenario: Scenario, start: datetime, run_s: int, tolerance: timedelta,
                 rng: Callable[..., random.Random]) -> None:
        self.scenario = scenario
        self.start = start
        self.run_s = run_s
        self.tolerance_s = int(tolerance.total_seconds())
        self.tolerance = tolerance
        self.rng = rng
        self.tags: list[LifeTag] = []
        self.recalls: list[PlannedRecall] = []
        self.actions: list[ApiAction] = []
        self._routed: dict[tuple[str, str], int] = defaultdict(int)
        self._queue: list[tuple[int, int, int, int, int]] = []
        self._sequence = 0

    def fail(self, where: str, message: str) -> AmbiguousTruth:
        return AmbiguousTruth(f"{where}: {message}")

    # Setting up ----------------------------------------------------------------------

    def add(self, tag: LifeTag) -> None:
        group = tag.group
        rng = self.rng(tag.tag_id, "schedule")
        interval = int(group.report_every.total_seconds())
        jitter = min(15, interval // 20)
        t, previous = rng.randrange(interval), -1
        while t <= self.run_s:
            taken = min(self.run_s, max(previous + 1, t + rng.randint(-jitter, jitter)))
            if taken > previous:
                tag.schedule.append(taken)
                previous = taken
            t += interval
        speed = group.speed_kmh * self.rng(tag.tag_id, "speed").uniform(*TAG_SPEED_FACTORS)
        if group.kind == "rental":
            tag.home = self.scenario.place(group.home)
            parked = spot_inside(tag.home.lat, tag.home.lon, tag.home.radius_m,
                                 self.rng(tag.tag_id, "spot", 0))
            tag.builder = TrackBuilder(*parked, speed, self.rng(tag.tag_id, "route"))
        else:
            tag.builder = TrackBuilder(*tag.site, speed, self.rng(tag.tag_id, "route"))
        index = len(self.tags)
        self.tags.append(tag)
        first = _minute(_draw(self.rng(tag.tag_id, "trip", 1), tag.life.start_after))
        self._push(first, _CREATE, index, tag.version)

    def add_recall(self, fault: FaultSpec, body: dict[str, Any], asset_ids: Iterable[str]) -> None:
        at_s = int(fault.at.total_seconds())
        self.recalls.append(PlannedRecall(fault, at_s, body, frozenset(asset_ids)))
        self._push(at_s, _RECALL, len(self.recalls) - 1, 0)

    def _push(self, t: int, kind: int, index: int, version: int) -> None:
        if t > self.run_s:
            return  # after the run: never called
        self._sequence += 1
        heapq.heappush(self._queue, (t, kind, self._sequence, index, version))

    # The pass over time --------------------------------------------------------------

    def plan(self) -> None:
        while self._queue:
            t, kind, _, index, version = heapq.heappop(self._queue)
            if kind == _RECALL:
                self._recall(t, self.recalls[index])
                continue
            tag = self.tags[index]
            if version != tag.version:
                continue  # replaced (a re-routed trip's inspection)
            if kind == _CREATE:
                if tag.group.kind == "rental":
                    self._check_out(t, tag)
                else:
                    self._authorize(t, tag)
            elif kind == _INSPECT:
                self._inspect(t, tag)
            else:
                self._patch(t, tag)
        self.actions.sort(key=lambda a: a.at)  # stable: calls due together keep their order

    def _call(self, t: int, method: str, path: str, body: dict[str, Any], purpose: str,
              tag: LifeTag | None = None, trip: TripPlan | None = None,
              wait_for: tuple[str, ...] = ()) -> None:
        self.actions.append(ApiAction(
            self.start + timedelta(seconds=t), method, path, body, purpose,
            asset_id=tag.asset_id if tag else "", trip_id=trip.id if trip else "",
            wait_for=wait_for))

    def _authorize(self, t: int, tag: LifeTag) -> None:
        """A return authorized: the trip opens at the customer's site, before the tag's first
        reading, so the gateway routes it from its origin."""
        group, life = tag.group, tag.life
        number = len(tag.trips) + 1
        rng = self.rng(tag.tag_id, "trip", number)
        trip_id = _trip_id(tag, number)
        routed = group.destination is None
        service = service_for(tag.flow)
        if routed:
            routing, destination = self._route(t, tag, trip_id, [(*tag.site, "origin")],
                                               service)
            routings = [routing]
        else:
            destination, routings = self.scenario.place(group.home), []
        trip = TripPlan(trip_id, number, tag.flow, t, tag.site, tag.customer, tag.customer,
                        destination, routed, service if routed else None, routings)
        tag.trips.append(trip)
        body: dict[str, Any] = {
            "id": trip_id, "asset_id": tag.asset_id, "flow": tag.flow,
            "customer": tag.customer, "reference": f"RMA-{tag.tag_id.upper()}-{number}",
            "reason": (life.reasons[(tag.number - 1) % len(life.reasons)] if life.reasons
                       else _DEFAULT_REASONS.get(tag.flow, "other")),
            "origin": _origin(trip),
            "due_at": rfc3339(self.start + timedelta(seconds=t) + RETURN_DUE_IN),
        }
        if tag.flow == "warranty_repair":
            body["fault"] = "does not power on"
        if not routed:
            body["destination"] = destination.geofence_id
        self._call(t, "POST", "/api/v1/trips", body, "authorize", tag, trip)
        trip.wake_s = self._first_reading(tag, t + FIRST_READING_AFTER_S)
        if trip.wake_s is None:
            return
        tag.awake.append([trip.wake_s, self.run_s])
        builder = _builder(tag)
        builder.park_until(t + _draw(rng, group.depart_after))
        builder.drive_to(*self._spot(tag, destination, number))
        self._expect_arrival(tag, trip, rng)

    def _check_out(self, t: int, tag: LifeTag) -> None:
        """A rental checked out of its depot: out to a customer and back to the destination
        (its depot, or the one routing picks), its tag waking as it leaves."""
        group, life = tag.group, tag.life
        assert tag.home is not None
        number = len(tag.trips) + 1
        rng = self.rng(tag.tag_id, "trip", number)
        builder = _builder(tag)
        builder.park_until(t)
        here = (round(builder.lat, 6), round(builder.lon, 6))
        trip_id = _trip_id(tag, number)
        service = service_for("rental_return")
        if life.route:
            known = self._known_positions(tag, t) or [(*here, "origin")]
            routing, destination = self._route(t, tag, trip_id, known, service)
            routings = [routing]
        else:
            destination, routings = self.scenario.place(group.home), []
        turn = tag.number - 1 + number - 1
        city = group.origins[turn % len(group.origins)]
        customer = (group.customers[turn % len(group.customers)] if group.customers
                    else f"Customer {tag.number:03d}-{number}, {city.name}")
        trip = TripPlan(trip_id, number, "rental_return", t, here, tag.home.name, customer,
                        destination, life.route, service if life.route else None, routings)
        tag.trips.append(trip)
        assert group.due_in is not None
        body: dict[str, Any] = {
            "id": trip_id, "asset_id": tag.asset_id, "flow": "rental_return",
            "customer": customer, "reference": f"RNT-{tag.tag_id.upper()}-{number}",
            "origin": _origin(trip),
            "due_at": rfc3339(self.start + timedelta(seconds=t + _draw(rng, group.due_in))),
        }
        if not life.route:
            body["destination"] = destination.geofence_id
        self._call(t, "POST", "/api/v1/trips", body, "check_out", tag, trip)
        spread = SITE_SPREAD_KM / math.sqrt(2)
        site = offset(city.lat, city.lon, rng.uniform(-spread, spread),
                      rng.uniform(-spread, spread))
        builder.drive_to(*site)
        builder.park_until(builder.t + _draw(rng, life.out_for))
        builder.drive_to(*self._spot(tag, destination, number))
        trip.wake_s = self._wake(tag, t)
        if trip.wake_s is None:
            return
        tag.awake.append([trip.wake_s, self.run_s])
        self._expect_arrival(tag, trip, rng)

    def _expect_arrival(self, tag: LifeTag, trip: TripPlan, rng: random.Random) -> None:
        if trip.wake_s is None:
            return  # its tag does not report again within the run
        after = max(trip.wake_s - 1, trip.rerouted_s or 0)
        trip.arrival_s = self._first_inside(tag, trip.destination, after)
        if trip.arrival_s is None:
            return  # still on its way when the run ends
        trip.inspect_s = trip.arrival_s + _draw(rng, tag.life.inspect_after)
        tag.version += 1
        self._push(trip.inspect_s, _INSPECT, self.tags.index(tag), tag.version)

    def _inspect(self, t: int, tag: LifeTag) -> None:
        life = tag.life
        trip = tag.trips[-1]
        trip.recommendation = recommend(trip.flow, self._alerts_foreseen(tag, trip))
        if life.dispositions:
            disposition = life.dispositions[(tag.number - 1) % len(life.dispositions)]
        elif trip.recommendation.disposition == "inspect":
            disposition = life.on_inspect
        else:
            disposition = trip.recommendation.disposition
        trip.disposition = disposition
        self._call(t, "POST", f"/api/v1/trips/{trip.id}/inspection", {
            "grade": _GRADES.get(disposition, "C"), "disposition": disposition,
            "notes": f"simulated inspection; recommended {trip.recommendation.disposition} "
                     f"({trip.recommendation.rule})",
            "inspector": f"sim-inspector-{trip.destination.key}",
        }, "inspect", tag, trip, wait_for=(ARRIVED_STATUS[trip.machine],))
        moves = inspection_moves(trip.flow, disposition)
        rng = self.rng(tag.tag_id, "trip", trip.number, "after")
        if trip.machine == RENTAL:
            tag.awake[-1][1] = t  # parked in the depot: the tag goes to sleep
            if moves[-1:] == ("available",):
                self._next_check_out(t, tag, rng)
            else:
                trip.patch, trip.patch_s = "make_available", t + _draw(rng, life.repair_for)
                self._push(trip.patch_s, _PATCH, self.tags.index(tag), tag.version)
        elif trip.machine == RETURN and life.close_after and moves[-1:] == ("dispositioned",):
            trip.patch, trip.patch_s = "close", t + _draw(rng, life.close_after)
            self._push(trip.patch_s, _PATCH, self.tags.index(tag), tag.version)

    def _patch(self, t: int, tag: LifeTag) -> None:
        trip = tag.trips[-1]
        status = "available" if trip.patch == "make_available" else "closed"
        self._call(t, "PATCH", f"/api/v1/trips/{trip.id}", {"status": status},
                   trip.patch or "", tag, trip)
        if trip.patch == "make_available":
            self._next_check_out(t, tag, self.rng(tag.tag_id, "trip", trip.number, "idle"))

    def _next_check_out(self, t: int, tag: LifeTag, rng: random.Random) -> None:
        trip = tag.trips[-1]
        if len(tag.trips) >= tag.life.cycles:
            return
        tag.home = trip.destination  # where it was returned to is where it waits
        self._push(t + _draw(rng, tag.life.idle), _CREATE, self.tags.index(tag), tag.version)

    def _recall(self, t: int, recall: PlannedRecall) -> None:
        """The recall announced: the alert opens for every matching asset; a trip on its way
        to a place that cannot quarantine is routed again, from the asset's last known
        position, and its tag turns towards the new destination."""
        self._call(t, "POST", "/api/v1/recalls", recall.body, "recall")
        where = recall.fault.where
        for tag in self.tags:
            if tag.asset_id not in recall.asset_ids:
                continue
            trip = tag.trips[-1] if tag.trips else None
            if trip is None:
                raise self.fail(where, f"the recall at {self._clock(t)} comes before "
                                f"{tag.asset_id}'s trip is opened: announce it later")
            if trip.arrival_s is not None and trip.arrival_s < t:
                if t - trip.arrival_s <= self.tolerance_s:
                    raise self.fail(where, (
                        f"{tag.asset_id} arrives at {self._clock(trip.arrival_s)}, within "
                        f"{_minutes(self.tolerance)} before the recall: the gateway may not "
                        "have seen it yet; move the recall"))
                continue
            trip.recall_s = t
            if can_quarantine(trip.destination):
                continue
            known = self._known_positions(tag, t) or [(*trip.origin, "origin")]
            routing, destination = self._route(t, tag, trip.id, known, "quarantine")
            old = trip.destination
            trip.rerouted_from, trip.rerouted_s = old, t
            trip.destination, trip.service = destination, "quarantine"
            trip.routings.append(routing)
            builder = _builder(tag)
            builder.stop_at(t)
            builder.drive_to(*self._spot(tag, destination, trip.number, "rerouted"))
            into_old = self._first_inside(tag, old, t)
            into_new = self._first_inside(tag, destination, t)
            if into_old is not None and (into_new is None or into_old < into_new):
                raise self.fail(where, f"{tag.asset_id} passes through {old.key} on its way "
                                f"to {destination.key} after the recall")
            self._expect_arrival(tag, trip, self.rng(tag.tag_id, "trip", trip.number, "rerouted"))

    # Where things are ----------------------------------------------------------------

    def _route(self, t: int, tag: LifeTag, trip_id: str,
               positions: list[tuple[float, float, str]],
               service: str | None) -> tuple[Routing, PlaceSpec]:
        """Route from each position the gateway may believe the asset is at; all must agree.
        The trip then counts against its hub's capacity for the day."""
        day = utc_day(self.start + timedelta(seconds=t))
        earliest = utc_day(self.start + timedelta(seconds=max(0, t - self.tolerance_s)))
        if day != earliest and any(p.daily_capacity is not None for p in self.scenario.places):
            raise self.fail(f"trip {trip_id}", (
                f"routed at {self._clock(t)}, within {_minutes(self.tolerance)} of midnight: "
                "which day's capacity it counts against depends on timing"))
        counts = {fence: n for (d, fence), n in self._routed.items() if d == day}
        routings = [route(lat, lon, source, tag.flow, tag.category, service, day,
                          self.scenario.places, counts) for lat, lon, source in positions]
        chosen = decisive_choice(routings, f"routing trip {trip_id} (asset {tag.asset_id})")
        self._routed[(day, chosen.geofence)] += 1
        place = next(p for p in self.scenario.places if p.geofence_id == chosen.geofence)
        return routings[-1], place

    def _known_positions(self, tag: LifeTag, t: int) -> list[tuple[float, float, str]]:
        """Where the gateway may believe the asset is when a call arrives at `t`: at its
        newest reading before `t`, or one up to `tolerance` older still being ingested."""
        track = tag.track()
        before = [s for s in tag.reading_times() if s < t]
        recent = [s for s in before if s >= t - self.tolerance_s]
        older = [s for s in before if s < t - self.tolerance_s][-1:]
        return [(*track.at(s)[:2], "last_position") for s in older + recent]

    def _first_reading(self, tag: LifeTag, after: int) -> int | None:
        return next((s for s in tag.schedule if s >= after), None)

    def _wake(self, tag: LifeTag, check_out: int) -> int | None:
        """A rental's first reading of a trip: once it moves, and clear of its depot."""
        assert tag.home is not None
        track = tag.track()
        home = tag.home
        for s in tag.schedule:
            if s < check_out + WAKE_AFTER_S:
                continue
            lat, lon, _ = track.at(s)
            if distance_m(home.lat, home.lon, lat, lon) > home.radius_m + DEPOT_CLEARANCE_M:
                return s
        return None

    def _first_inside(self, tag: LifeTag, place: PlaceSpec, after: int) -> int | None:
        track = tag.track()
        for s in tag.reading_times():
            if s <= after:
                continue
            lat, lon, _ = track.at(s)
            if distance_m(place.lat, place.lon, lat, lon) <= place.radius_m:
                return s
        return None

    def _spot(self, tag: LifeTag, place: PlaceSpec, number: int,
              *purpose: str) -> tuple[float, float]:
        return spot_inside(place.lat, place.lon, place.radius_m,
                           self.rng(tag.tag_id, "spot", number, *purpose))

    def _alerts_foreseen(self, tag: LifeTag, trip: TripPlan) -> set[str]:
        """The alert kinds the plan expects during the trip (checked against the ground
        truth's alerts once the readings exist)."""
        kinds = set()
        end = trip.arrival_s if trip.arrival_s is not None else self.run_s
        for fault in tag.faults:
            at = tag.fault_at(fault)
            if at is None or not trip.created_s <= at < end:
                continue
            if fault.name in FAULT_METRIC:
                kinds.add("out_of_spec")
            elif fault.name == "dying_battery":
                kinds.add("low_battery")
        if trip.recall_s is not None:
            kinds.add("recall")
        return kinds

    def _clock(self, t: int) -> str:
        return f"{self.start + timedelta(seconds=t):%Y-%m-%d %H:%M}"

    # The ground truth ----------------------------------------------------------------

    def truth(self, deliveries: Mapping[str, list[Delivery]],
              findings: Mapping[str, list[Finding]]) -> tuple[list[ExpectedTrip],
                                                               list[ExpectedStatus]]:
        """Every trip's status changes, judged from the readings that reach the gateway (as
        the gateway judges them: in the order they come, a reading older than the newest
        changing nothing), its destination and its recommendation given the alerts
        `findings` expects; and a check that the plan's guesses hold."""
        trips: list[ExpectedTrip] = []
        changes: list[ExpectedStatus] = []
        for tag in self.tags:
            by_reading = tag.group.report_every + READING_SLACK
            arrivals = self._telemetry_moves(tag, deliveries.get(tag.tag_id, []), by_reading,
                                             changes)
            for trip in tag.trips:
                arrival = arrivals.get(trip.id)
                changes += self._api_moves(tag, trip)
                trips.append(self._expected_trip(tag, trip, arrival,
                                                 findings.get(tag.asset_id, [])))
        changes.sort(key=lambda c: (c.at, c.trip_id, c.by))
        return trips, changes

    def _telemetry_moves(self, tag: LifeTag, deliveries: list[Delivery],
                         by_reading: timedelta, changes: list[ExpectedStatus]) -> dict[str, int]:
        """The status changes telemetry makes; returns each trip's arrival reading time."""
        status = {trip.id: INITIAL_STATUS[trip.machine] for trip in tag.trips}
        arrivals: dict[str, int] = {}
        seqs: set[int] = set()
        newest: datetime | None = None
        for delivery in sorted(deliveries, key=lambda d: d.at):
            sent_s = (delivery.at - self.start).total_seconds()
            # The trip open when the reading comes (a call goes before the readings after it).
            trip = next((t for t in reversed(tag.trips) if t.created_s <= sent_s), None)
            for reading in sorted(delivery.readings, key=lambda r: r.ts):
                if reading.seq is not None:
                    if reading.seq in seqs:
                        continue
                    seqs.add(reading.seq)
                if newest is not None and reading.ts <= newest:
                    continue
                newest = reading.ts
                if trip is None or "lat" not in reading.values or "lon" not in reading.values:
                    continue
                moves = _moves_on_reading(trip, status[trip.id], reading.values["lat"],
                                          reading.values["lon"], sent_s)
                for move in moves:
                    changes.append(ExpectedStatus(trip.id, tag.asset_id, move, status[trip.id],
                                                  reading.ts, by_reading, "telemetry"))
                    status[trip.id] = move
                    if move == ARRIVED_STATUS[trip.machine]:
                        arrivals[trip.id] = int((reading.ts - self.start).total_seconds())
        return arrivals

    def _api_moves(self, tag: LifeTag, trip: TripPlan) -> list[ExpectedStatus]:
        def change(status: str, previous: str | None, at_s: int) -> ExpectedStatus:
            return ExpectedStatus(trip.id, tag.asset_id, status, previous,
                                  self.start + timedelta(seconds=at_s), self.tolerance, "api")

        moves = [change(INITIAL_STATUS[trip.machine], None, trip.created_s)]
        if trip.inspect_s is None or trip.disposition is None:
            return moves
        previous = ARRIVED_STATUS[trip.machine]
        for status in inspection_moves(trip.flow, trip.disposition):
            moves.append(change(status, previous, trip.inspect_s))
            previous = status
        if trip.patch_s is not None:
            status = "available" if trip.patch == "make_available" else "closed"
            moves.append(change(status, previous, trip.patch_s))
        return moves

    def _expected_trip(self, tag: LifeTag, trip: TripPlan, arrival: int | None,
                       findings: list[Finding]) -> ExpectedTrip:
        what = f"trip {trip.id} (asset {tag.asset_id})"
        if trip.inspect_s is not None and (arrival is None or arrival >= trip.inspect_s):
            raise self.fail(what, "the readings do not bear out the planned arrival before "
                            f"the inspection at {self._clock(trip.inspect_s)}")
        if trip.rerouted_s is not None and arrival is not None and arrival < trip.rerouted_s:
            raise self.fail(what, "arrives before the recall that re-routes it")
        recommendation = None
        if arrival is not None:
            recommendation = recommend(trip.flow, self._alerts_during(trip, arrival, findings,
                                                                      what))
            planned = trip.recommendation
            if planned is not None and planned != recommendation:
                raise self.fail(what, (
                    f"the plan foresaw {planned.disposition} ({planned.rule}) but its alerts "
                    f"make it {recommendation.disposition} ({recommendation.rule}): a fault "
                    "tied to this trip raises no alert in it, or one outside it"))
        return ExpectedTrip(
            id=trip.id, asset_id=tag.asset_id, flow=trip.flow,
            destination=trip.destination.geofence_id, routed=trip.routed,
            service=trip.service,
            rerouted_from=trip.rerouted_from.geofence_id if trip.rerouted_from else None,
            recommendation=recommendation.disposition if recommendation else None,
            rule=recommendation.rule if recommendation else None,
            disposition=trip.disposition,
            routings=tuple(r.data() for r in trip.routings),
        )

    def _alerts_during(self, trip: TripPlan, arrival: int, findings: list[Finding],
                       what: str) -> set[str]:
        """Alert kinds raised from the trip's opening to its arrival, which the
        recommendation weighs. A reading's alert published shortly before the trip's call
        may reach the gateway after it: ambiguous."""
        kinds = set()
        for finding in findings:
            at = (finding.at - self.start).total_seconds()
            by_call = finding.kind == "recall"  # opened by the recall's call, not a reading
            if not by_call and trip.created_s - self.tolerance_s <= at < trip.created_s:
                raise self.fail(what, f"a {finding.kind} alert opens at "
                                f"{finding.at:%Y-%m-%d %H:%M}, just before the trip is opened")
            if not by_call and at == arrival:
                raise self.fail(what, f"a {finding.kind} alert opens at its arrival reading: "
                                "whether it counts for the recommendation is a coin toss")
            if trip.created_s <= at < arrival:
                kinds.add(finding.kind)
        return kinds


def _moves_on_reading(trip: TripPlan, status: str, lat: float, lon: float,
                      sent_s: float) -> list[str]:
    """What one located reading does to a trip in `status` (docs/lifecycle.md, "Who moves a
    trip"): located, departed (farther than the radius from the origin), arrived (inside
    the destination as it was when the reading came)."""
    machine = trip.machine
    place = trip.destination_at(sent_s)
    inside = distance_m(place.lat, place.lon, lat, lon) <= place.radius_m
    far = distance_m(*trip.origin, lat, lon) > DEPARTURE_RADIUS_M
    on_the_way = {RETURN: ("authorized", "in_transit"), RENTAL: ("checked_out",),
                  RECALL: ("identified", "located", "in_transit")}[machine]
    if status not in on_the_way:
        return []
    if inside:
        return [ARRIVED_STATUS[machine]]
    moves = []
    if machine == RECALL and status == "identified":
        if far:
            raise AmbiguousTruth(f"trip {trip.id}: its first reading is already far from its "
                                 "origin: located, or in transit at once?")
        moves.append("located")
    if far and machine != RENTAL and status in ("authorized", "identified", "located"):
        moves.append("in_transit")
    return moves


def _origin(trip: TripPlan) -> dict[str, Any]:
    return {"lat": trip.origin[0], "lon": trip.origin[1], "name": trip.origin_name[:100]}


def _trip_id(tag: LifeTag, number: int) -> str:
    return f"trp-{tag.tag_id}-{number}"[:64]


def _builder(tag: LifeTag) -> TrackBuilder:
    assert tag.builder is not None
    return tag.builder


def _draw(rng: random.Random, span: tuple[timedelta, timedelta]) -> int:
    low, high = (int(s.total_seconds()) for s in span)
    return low if high <= low else rng.randint(low, high)


def _minute(seconds: int) -> int:
    return seconds - seconds % 60


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"


def absolute(tag: LifeTag, fault: FaultSpec) -> FaultSpec | None:
    """The fault with `at` counted from the run's start (None: its trip is not in the run)."""
    at = tag.fault_at(fault)
    return None if at is None else replace(fault, at=timedelta(seconds=at), trip=None)
