"""The scenario compiler: a Scenario (device_sim.scenario) becomes a Timeline, every MQTT
message of the run in time order, the REST bodies to register first, and the ground truth
of what the gateway should raise.

Deterministic: the same scenario, seed and `now` give a byte-identical timeline. Every
random choice comes from a random.Random seeded with a string of (seed, tag id, purpose),
so adding a tag or a fault does not reshuffle the others.

The ground truth (`Timeline.expected`) is computed, not assumed: the messages that get
through to the gateway are judged by a model of the contract's rules (device_sim._truth).
Its timer-driven expectations (silent, overdue) assume the gateway runs on event time
(BOOMERANG_CLOCK=event) with a timer interval of a second or two (BOOMERANG_TIMER_INTERVAL_S),
so that one timer tick spans a few simulated minutes at the scenario's time_scale.

Lifecycle groups (docs/lifecycle.md) add API calls to the timeline (`actions`: trips opened,
inspected, closed; recalls announced during the run), planned by device_sim._trip_plan, and
a ground truth of trips (`trips`, `trip_changes`) from the model in device_sim._lifecycle.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from device_sim._faults import (
    DELIVERY_FAULTS,
    MESSAGE_FAULTS,
    READING_FAULTS,
    Fleet,
    Message,
    Sample,
    TagRun,
)
from device_sim._formats import TagWire
from device_sim._lifecycle import ApiAction, ExpectedStatus, ExpectedTrip
from device_sim._readings import rfc3339
from device_sim._routes import (
    SEGMENT_SPEED_FACTORS,
    TAG_SPEED_FACTORS,
    Track,
    TrackBuilder,
    distance_m,
    offset,
    spot_inside,
)
from device_sim._trip_plan import LifeTag, TripPlanner, absolute
from device_sim._truth import (
    AmbiguousTruth,
    Circle,
    Clocks,
    Delivery,
    Finding,
    WatchedAsset,
    judge_asset,
)
from device_sim.scenario import (
    SITE_SPREAD_KM,
    FaultSpec,
    FleetGroup,
    MetricLimits,
    PlaceSpec,
    ProfileSpec,
    Scenario,
    ScenarioError,
)

MAX_SPEED_FACTOR = TAG_SPEED_FACTORS[1] * SEGMENT_SPEED_FACTORS[1]
"""The fastest any asset moves, as a multiple of its group's speed_kmh."""
# How long the gateway's timer may lag in wall-clock seconds (its interval, plus a tick's
# own work); times the time_scale it is simulated time.
TIMER_LAG_WALL_S = 2.0
# A tag clock running ahead moves the gateway's event-time watermark ahead by as much.
CLOCK_SKEW_SLACK = timedelta(minutes=5)
# Roads are longer than the great circle; used only to plan when a rental sets off.
_ROAD_FACTOR = 1.3


@dataclass(frozen=True, slots=True)
class Emission:
    at: datetime
    """Simulated UTC time at which the player publishes it."""
    topic: str
    payload: bytes
    username: str
    """The MQTT user it must be published as (the tag's own login, or its The Things Stack
    application's)."""
    qos: int = 1
    fault: str = ""
    """The fault that produced or altered it; "" for a normal reading."""


@dataclass(frozen=True, slots=True)
class Expected:
    kind: str
    """An alert kind of the contract (recall, overdue, out_of_spec, geofence, silent,
    low_battery) or "arrival"."""
    asset_id: str
    at: datetime
    """When the gateway should raise it (simulated time): for condition rules the time of
    the reading that opens it, for timer rules the moment the condition is met."""
    tolerance: timedelta
    key: str = ""
    """The metric for out_of_spec, else ""."""


@dataclass(frozen=True, slots=True)
class Timeline:
    scenario: str
    seed: int
    start: datetime
    end: datetime
    time_scale: float
    profiles: list[dict[str, Any]]
    geofences: list[dict[str, Any]]
    assets: list[dict[str, Any]]
    recalls: list[dict[str, Any]]
    emissions: list[Emission]
    """Sorted by `at` (stable); start <= at <= end."""
    expected: list[Expected]
    faults: dict[str, int]
    """Fault name -> how many times injected: tags for reading, delivery and plan faults,
    messages for message faults (duplicates, malformed, oversized, impersonation)."""
    logins: dict[str, str]
    """MQTT username -> the tag id it is; "" for a The Things Stack application's login
    (`{app}@{tenant}`), which speaks for every device of the application."""
    actions: list[ApiAction] = field(default_factory=list)
    """REST calls made during the run (lifecycle groups, recalls announced during it),
    sorted by `at`; the player makes each after the emissions due before it."""
    trips: list[ExpectedTrip] = field(default_factory=list)
    """The ground truth of every trip the simulator opens."""
    trip_changes: list[ExpectedStatus] = field(default_factory=list)
    """Every status change those trips should go through, sorted by `at`."""


def compile_scenario(scenario: Scenario, *, now: datetime, seed: int | None = None) -> Timeline:
    """The run of `scenario` that ends no later than `now` (its start is an offset from it),
    with `seed` in place of the scenario's when given."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return _Compiler(scenario, now.astimezone(UTC), scenario.seed if seed is None else seed).run()


@dataclass(slots=True)
class _Tag:
    """One tag and its asset while the compiler plans them."""

    group: FleetGroup
    number: int
    wire: TagWire
    profile: ProfileSpec | None
    city: str
    site: tuple[float, float]
    customer: str
    sku: str
    serial: str
    lot: str
    flow: str
    due_s: int | None
    depart_s: int
    stays: bool = False
    """Kept by its customer whatever its due date (overdue, taken off-site)."""
    allowed_area: PlaceSpec | None = None
    detour: tuple[int, int, float] | None = None
    """(from, to, km): taken this far off its site between these times (geofence_exit)."""
    faults: list[FaultSpec] = field(default_factory=list)
    category: str | None = None
    life: LifeTag | None = None
    """The trips planned for a tag of a lifecycle group."""

    @property
    def tag_id(self) -> str:
        return self.wire.tag_id

    @property
    def asset_id(self) -> str:
        return f"asset-{self.tag_id}"


class _Compiler:
    def __init__(self, scenario: Scenario, now: datetime, seed: int) -> None:
        self.scenario = scenario
        self.now = now
        self.seed = seed
        # Whole minutes: timestamps a person can read, and `end` still no later than now.
        self.start = (now + scenario.start).replace(second=0, microsecond=0)
        if scenario.align_start == "day":
            self.start = self.start.replace(hour=0, minute=0)
        self.run_s = int(scenario.duration.total_seconds())
        self.end = self.start + scenario.duration
        self.slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")
        self.fault_counts: dict[str, int] = {f.name: 0 for f in scenario.faults}
        self.extra_geofences: list[dict[str, Any]] = []
        self.recalls: list[dict[str, Any]] = []
        self.tags: list[_Tag] = []
        """The planned tags, with the faults each was given (kept for tests and tools)."""
        slowest = max(g.report_every for g in scenario.fleet)
        # How far off the gateway's event clock may be from a call's simulated time, and so
        # a timer rule's or an API-made status change's tolerance.
        self.tolerance = slowest + CLOCK_SKEW_SLACK + timedelta(
            seconds=scenario.time_scale * TIMER_LAG_WALL_S)
        self.trips = TripPlanner(scenario, self.start, self.run_s, self.tolerance, self.rng)

    def rng(self, *purpose: object) -> random.Random:
        return random.Random("/".join(str(p) for p in (self.seed, *purpose)))

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.scenario.source}: {where}: {message}")

    def run(self) -> Timeline:
        tags = [self._draft(group, n) for group in self.scenario.fleet
                for n in range(1, group.count + 1)]
        self.tags = tags
        by_id = {t.tag_id: t for t in tags}
        for fault in self.scenario.faults:
            for tag in self._targets(fault, tags, by_id):
                tag.faults.append(fault)
        for fault in self.scenario.faults:
            self._plan_fault(fault, [t for t in tags if fault in t.faults])
        self._plan_trips(tags)
        runs = {t.tag_id: self._readings(t) for t in tags}
        fleet = Fleet(runs)
        for tag in tags:
            self._deliver(tag, runs[tag.tag_id], fleet)
        for tag in tags:
            for fault in tag.faults:
                if fault.name in MESSAGE_FAULTS:
                    self._count(fault, MESSAGE_FAULTS[fault.name](runs[tag.tag_id], fault, fleet))
        emissions = self._emissions(tags, runs)
        self._check_calls_follow_a_reading(emissions)
        expected, findings, deliveries = self._expected(tags, runs)
        try:
            trips, trip_changes = self.trips.truth(deliveries, findings)
        except AmbiguousTruth as exc:
            raise ScenarioError(f"{self.scenario.source}: {exc}") from None
        return Timeline(
            scenario=self.scenario.name,
            seed=self.seed,
            start=self.start,
            end=self.end,
            time_scale=self.scenario.time_scale,
            profiles=[_profile_body(p) for p in self.scenario.profiles],
            geofences=[_geofence_body(p) for p in self.scenario.places] + self.extra_geofences,
            assets=[self._asset_body(t) for t in tags],
            recalls=self.recalls,
            emissions=emissions,
            expected=expected,
            faults=dict(sorted(self.fault_counts.items())),
            logins=self._logins(emissions, by_id),
            actions=list(self.trips.actions),
            trips=trips,
            trip_changes=trip_changes,
        )

    def _check_calls_follow_a_reading(self, emissions: list[Emission]) -> None:
        """On event time the gateway's clock is the newest reading it has seen: a call made
        before any tag has reported would be stamped with its wall clock instead."""
        if not self.trips.actions:
            return
        first_call = self.trips.actions[0].at
        if not emissions or emissions[0].at >= first_call:
            raise self.fail("fleet", (
                f"the first REST call, at {first_call:%Y-%m-%d %H:%M}, comes before any tag "
                "reports: the gateway's event clock would have nothing to go by; let a group "
                "report from the start (a long-term rental) or open the first trip later"))

    def _count(self, fault: FaultSpec, times: int) -> None:
        self.fault_counts[fault.name] = self.fault_counts.get(fault.name, 0) + times

    # Planning ----------------------------------------------------------------------------

    def _draft(self, group: FleetGroup, number: int) -> _Tag:
        wire = TagWire.of(group, number)
        rng = self.rng(wire.tag_id, "plan")
        city = group.origins[rng.randrange(len(group.origins))]
        if group.lifecycle is not None:
            # In turn, so that a lifecycle scenario's shape (who is routed where) holds
            # whatever the seed.
            city = group.origins[(number - 1) % len(group.origins)]
        spread = SITE_SPREAD_KM / math.sqrt(2)
        site = offset(city.lat, city.lon, rng.uniform(-spread, spread),
                      rng.uniform(-spread, spread))
        customer = (group.customers[(number - 1) % len(group.customers)] if group.customers
                    else f"Customer {number:03d}, {city.name}")
        due_s = None
        if group.due_in is not None:
            due_s = _minute(_draw(rng, group.due_in))
        return _Tag(
            group=group,
            number=number,
            wire=wire,
            profile=self.scenario.profile(group.profile),
            city=city.name,
            site=(round(site[0], 6), round(site[1], 6)),
            customer=customer,
            sku=group.skus[rng.randrange(len(group.skus))],
            serial=f"SN{rng.randrange(16**8):08X}",
            lot=f"L{rng.randint(24, 26)}{rng.randint(1, 52):02d}{rng.choice('ABCD')}",
            flow=group.flow,
            due_s=due_s,
            # A few minutes apart even when the group leaves "at once", as trucks do.
            depart_s=_draw(rng, group.depart_after) + rng.randrange(600),
            category=(group.categories[(number - 1) % len(group.categories)]
                      if group.categories else None),
        )

    def _targets(self, fault: FaultSpec, tags: list[_Tag], by_id: dict[str, _Tag]) -> list[_Tag]:
        if fault.tags:
            return [by_id[t] for t in fault.tags]
        pool = [t for t in tags if t.group.prefix == fault.group
                and t.tag_id != fault.target]
        # Tags without a fault yet first, so that faults do not hide one another.
        fresh = [t for t in pool if not t.faults]
        rng = self.rng("fault", fault.index)
        if len(fresh) >= fault.count:
            picked = rng.sample(fresh, fault.count)
        else:
            rest = [t for t in pool if t.faults]
            picked = fresh + rng.sample(rest, min(len(rest), fault.count - len(fresh)))
        if len(picked) < fault.count:
            raise self.fail(f"{fault.where}.count", f"group {fault.group} has only "
                            f"{len(picked)} tags this fault can act on")
        return sorted(picked, key=lambda t: t.number)

    def _plan_fault(self, fault: FaultSpec, tags: list[_Tag]) -> None:
        if fault.name == "overdue":
            for tag in tags:
                tag.due_s = int(fault.at.total_seconds())
                tag.stays = True
            self._count(fault, len(tags))
        elif fault.name == "geofence_exit":
            self._geofence_exit(fault, tags)
        elif fault.name == "recalled_lot":
            self._recalled_lot(fault, tags)

    def _geofence_exit(self, fault: FaultSpec, tags: list[_Tag]) -> None:
        assert fault.value is not None and fault.radius_m is not None
        for tag in tags:
            fence_id = f"sim-{self.slug[:20]}-area-{tag.tag_id}"[:64]
            tag.allowed_area = PlaceSpec(f"area-{tag.tag_id}", fence_id,
                                         f"{tag.customer} site", "area", tag.site[0],
                                         tag.site[1], fault.radius_m)
            self.extra_geofences.append(_geofence_body(tag.allowed_area))
            begin = int(fault.at.total_seconds())
            end = begin + int((fault.duration or timedelta(hours=1)).total_seconds())
            tag.detour = (begin, end, fault.value)
            tag.stays = True
        self._count(fault, len(tags))

    def _recalled_lot(self, fault: FaultSpec, tags: list[_Tag]) -> None:
        rng = self.rng("recall", fault.index)
        sku = fault.sku or tags[0].sku
        # "R" lots: never one of the "L" lots the other assets carry.
        lot = fault.lot or f"R{rng.randint(24, 26)}{rng.randint(1, 52):02d}{rng.choice('WXYZ')}"
        body = {"sku": sku, "lots": [lot], "serials": [], "reason": fault.reason}
        for tag in tags:
            tag.sku, tag.lot = sku, lot
            # Announced during the run, it finds the items on returns of their own flows.
            if tag.group.kind == "shipment" and not fault.during_run:
                tag.flow = "recall"
        if fault.during_run:
            self.trips.add_recall(fault, body, [t.asset_id for t in tags])
        else:
            self.recalls.append(body)
        self._count(fault, len(tags))

    def _plan_trips(self, tags: list[_Tag]) -> None:
        """The trips of the lifecycle groups' tags, their API calls and their tracks."""
        for tag in tags:
            if tag.group.lifecycle is None:
                continue
            matching = [r for r in self.recalls if r["sku"] == tag.sku and tag.lot in r["lots"]]
            if matching:
                raise self.fail(f"fleet group {tag.group.prefix}", (
                    f"{tag.asset_id} matches a recall registered before the run, before any "
                    "of its trips: give the recall an `at`"))
            tag.life = LifeTag(tag.tag_id, tag.asset_id, tag.group, tag.number, tag.flow,
                               tag.category, tag.site, tag.customer, list(tag.faults))
            self.trips.add(tag.life)
        try:
            self.trips.plan()
        except AmbiguousTruth as exc:
            raise ScenarioError(f"{self.scenario.source}: {exc}") from None

    def _track(self, tag: _Tag) -> Track:
        group = tag.group
        rng = self.rng(tag.tag_id, "route")
        speed = group.speed_kmh * rng.uniform(*TAG_SPEED_FACTORS)
        builder = TrackBuilder(tag.site[0], tag.site[1], speed, rng)
        if tag.detour is not None:
            begin, end, km = tag.detour
            bearing = rng.uniform(0, 2 * math.pi)
            away = offset(tag.site[0], tag.site[1], km * math.cos(bearing),
                          km * math.sin(bearing))
            builder.park_until(begin)
            builder.drive_to(*away)
            builder.park_until(end)
            builder.drive_to(*tag.site)
            return builder.build()
        depart_s = self._departure(tag, speed)
        if depart_s is None:
            return builder.build()
        builder.park_until(depart_s)
        for stop in group.stops:
            place = self.scenario.place(stop.place)
            builder.drive_to(*_inside(place, rng))
            builder.park_until(builder.t + _draw(rng, stop.dwell))
        builder.drive_to(*_inside(self.scenario.place(group.home), rng))
        return builder.build()

    def _departure(self, tag: _Tag, speed_kmh: float) -> int | None:
        """When the asset leaves its customer; None if it stays the whole run."""
        if tag.group.kind == "shipment":
            return tag.depart_s
        if tag.stays or tag.due_s is None:
            return None
        # A returned rental sets off to arrive return_lead before it is due.
        destination = self.scenario.place(tag.group.home)
        points = [tag.site] + [
            (p.lat, p.lon) for p in (self.scenario.place(s.place) for s in tag.group.stops)]
        points.append((destination.lat, destination.lon))
        km = sum(distance_m(*a, *b) for a, b in pairwise(points)) / 1000
        drive_s = km * _ROAD_FACTOR / (speed_kmh * SEGMENT_SPEED_FACTORS[0]) * 3600
        dwell_s = sum(int(s.dwell[1].total_seconds()) for s in tag.group.stops)
        leave = tag.due_s - int(tag.group.return_lead.total_seconds()) - int(drive_s) - dwell_s
        if leave >= self.run_s:
            return None
        return max(leave, tag.depart_s)

    # Readings ----------------------------------------------------------------------------

    def _readings(self, tag: _Tag) -> TagRun:
        run = TagRun(tag.tag_id, tag.asset_id, tag.group, tag.profile, tag.wire, self.start,
                     self.run_s, self.rng(tag.tag_id, "faults"))
        if tag.life is not None:
            self._lifecycle_samples(tag, tag.life, run)
        else:
            self._samples(tag, run)
        overdue_from = tag.due_s if tag.stays and tag.detour is None else None
        if overdue_from is not None:
            for sample in run.samples:
                if sample.t >= overdue_from:
                    sample.fault = "overdue"
        for fault in tag.faults:
            if fault.name in READING_FAULTS:
                self._count(fault, READING_FAULTS[fault.name](run, self._timed(tag, fault),
                                                              Fleet({})))
        if tag.detour is not None:
            area = tag.allowed_area
            assert area is not None
            for sample in run.samples:
                if distance_m(area.lat, area.lon, sample.values["lat"],
                              sample.values["lon"]) > area.radius_m:
                    sample.fault = sample.fault or "geofence_exit"
        for seq, sample in enumerate(run.samples):
            sample.seq = seq
        return run

    def _samples(self, tag: _Tag, run: TagRun) -> None:
        track = self._track(tag)
        rng = self.rng(tag.tag_id, "readings")
        measure = _Instruments(tag, self.run_s, rng)
        interval = int(tag.group.report_every.total_seconds())
        jitter = min(15, interval // 20)
        t, previous = rng.randrange(interval), -1
        while t <= self.run_s:
            taken = min(self.run_s, max(previous + 1, t + rng.randint(-jitter, jitter)))
            if taken > previous:
                lat, lon, speed = track.at(taken)
                run.samples.append(Sample(taken, measure.read(taken, lat, lon, speed)))
                previous = taken
            t += interval

    def _lifecycle_samples(self, tag: _Tag, life: LifeTag, run: TagRun) -> None:
        """Readings at the times the trip plan keeps the tag awake, where its track says."""
        track = life.track()
        measure = _Instruments(tag, self.run_s, self.rng(tag.tag_id, "readings"))
        for taken in life.reading_times():
            lat, lon, speed = track.at(taken)
            run.samples.append(Sample(taken, measure.read(taken, lat, lon, speed)))

    def _timed(self, tag: _Tag, fault: FaultSpec) -> FaultSpec:
        """The fault with `at` from the run's start (a lifecycle fault may count from a
        trip's)."""
        if tag.life is None or fault.trip is None:
            return fault
        timed = absolute(tag.life, fault)
        if timed is None:
            raise self.fail(f"{fault.where}.trip", (
                f"{tag.tag_id} makes only {len(tag.life.trips)} trip(s) within the run"))
        return timed

    def _deliver(self, tag: _Tag, run: TagRun, fleet: Fleet) -> None:
        """When each reading goes out (batches wait for their last reading), then the
        messages that carry them."""
        size = tag.group.batch_size if tag.wire.batch else 1
        for i in range(0, len(run.samples), size):
            batch = run.samples[i:i + size]
            for sample in batch:
                sample.send_t = batch[-1].t
        for fault in tag.faults:
            if fault.name in DELIVERY_FAULTS:
                self._count(fault, DELIVERY_FAULTS[fault.name](run, fault, fleet))
        pending: list[Sample] = []
        for sample in sorted(run.samples, key=lambda s: (s.send_t, s.t)):
            if pending and pending[0].send_t != sample.send_t:
                self._publish(run, pending)
                pending = []
            pending.append(sample)
        if pending:
            self._publish(run, pending)

    def _publish(self, run: TagRun, samples: list[Sample]) -> None:
        sent_t = samples[0].send_t
        sent_at = self.start + timedelta(seconds=sent_t)
        if run.wire.one_per_message:
            groups = [[s] for s in samples]
        else:
            groups = [samples]
        for group in groups:
            encoded = run.wire.encode([s.outgoing(self.start) for s in group], sent_at)
            faults = [s.fault for s in group if s.fault]
            fault = "offline_burst" if "offline_burst" in faults else (faults[0] if faults else "")
            for message in encoded:
                run.messages.append(Message(sent_t, run.wire.topic, message.payload,
                                            run.wire.username, fault, message.readings))

    def _emissions(self, tags: list[_Tag], runs: dict[str, TagRun]) -> list[Emission]:
        emissions = [
            Emission(self.start + timedelta(seconds=m.t), m.topic, m.payload, m.username,
                     fault=m.fault)
            for tag in tags for m in runs[tag.tag_id].messages
        ]
        emissions.sort(key=lambda e: e.at)
        return emissions

    # Ground truth ------------------------------------------------------------------------

    def _expected(self, tags: list[_Tag], runs: dict[str, TagRun]) -> tuple[
            list[Expected], dict[str, list[Finding]], dict[str, list[Delivery]]]:
        """The alerts (and arrivals) to expect; per asset the same as findings, and per tag
        the messages that reach the gateway, for the trips' ground truth."""
        clocks = Clocks(
            end=self.end,
            now=self.now,
            overdue_grace=self.scenario.overdue_grace,
            timer_tolerance=self.tolerance,
        )
        expected = []
        by_asset: dict[str, list[Finding]] = {}
        by_tag: dict[str, list[Delivery]] = {}
        for tag in tags:
            area = tag.allowed_area
            # A lifecycle asset's destination belongs to each trip: its trips' truth says
            # when it arrives where; and its tag sleeps between rentals, so no due date.
            destination = (self.scenario.place(tag.group.home) if tag.life is None else None)
            watched = WatchedAsset(
                asset_id=tag.asset_id,
                profile=tag.profile,
                due_at=self._due_at(tag) if tag.life is None else None,
                destination=(Circle(destination.lat, destination.lon, destination.radius_m)
                             if destination else None),
                allowed_area=Circle(area.lat, area.lon, area.radius_m) if area else None,
                recalls=sum(1 for r in self.recalls
                            if r["sku"] == tag.sku and tag.lot in r["lots"]),
                report_every=tag.group.report_every,
            )
            deliveries = [Delivery(self.start + timedelta(seconds=m.t), m.readings)
                          for m in runs[tag.tag_id].messages if m.delivered and m.readings]
            try:
                findings = judge_asset(watched, deliveries, clocks)
            except AmbiguousTruth as exc:
                where = ", ".join(f.where for f in tag.faults) or f"fleet group {tag.group.prefix}"
                raise self.fail(where, str(exc)) from None
            # A recall announced during the run opens its alert when it is created.
            findings += [Finding("recall", self.start + timedelta(seconds=r.at_s),
                                 self.tolerance) for r in self.trips.recalls
                         if tag.asset_id in r.asset_ids]
            by_asset[tag.asset_id] = findings
            by_tag[tag.tag_id] = deliveries
            expected += [Expected(f.kind, tag.asset_id, f.at, f.tolerance, f.key)
                         for f in findings]
        expected.sort(key=lambda e: (e.at, e.asset_id, e.kind, e.key))
        return expected, by_asset, by_tag

    def _due_at(self, tag: _Tag) -> datetime | None:
        return None if tag.due_s is None else self.start + timedelta(seconds=tag.due_s)

    # REST bodies and logins --------------------------------------------------------------

    def _asset_body(self, tag: _Tag) -> dict[str, Any]:
        if tag.life is not None:
            # Registered without a trip: the simulator opens each one through the API.
            lifecycle: dict[str, Any] = {
                "id": tag.asset_id, "tag_id": tag.tag_id, "kind": tag.group.kind,
                "flow": tag.flow, "sku": tag.sku, "serial": tag.serial, "lot": tag.lot,
                "profile": tag.group.profile, "open_trip": False,
            }
            if tag.category is not None:
                lifecycle["category"] = tag.category
            return lifecycle
        due_at = self._due_at(tag)
        body: dict[str, Any] = {
            "id": tag.asset_id,
            "tag_id": tag.tag_id,
            "kind": tag.group.kind,
            "flow": tag.flow,
            "sku": tag.sku,
            "serial": tag.serial,
            "lot": tag.lot,
            "profile": tag.group.profile,
            "customer": tag.customer,
            "due_at": rfc3339(due_at) if due_at is not None else None,
            "destination": self.scenario.place(tag.group.home).geofence_id,
        }
        if tag.allowed_area is not None:
            body["allowed_area"] = tag.allowed_area.geofence_id
        if tag.category is not None:
            body["category"] = tag.category
        return body

    @staticmethod
    def _logins(emissions: list[Emission], by_id: dict[str, _Tag]) -> dict[str, str]:
        owners = {t.wire.username: "" if t.group.format == "things_stack" else t.tag_id
                  for t in by_id.values()}
        return {user: owners[user] for user in sorted({e.username for e in emissions})}


class _Instruments:
    """What one tag measures: in range for its profile, with the small drift and noise of
    real sensors, and a battery that drains slowly enough never to cross the threshold."""

    def __init__(self, tag: _Tag, run_s: int, rng: random.Random) -> None:
        self.rng = rng
        self.profile = tag.profile
        self.format = tag.group.format
        self.phase = rng.uniform(0, 2 * math.pi)
        threshold = 0.0
        if tag.profile is not None and tag.profile.battery_below_pct is not None:
            threshold = tag.profile.battery_below_pct + tag.profile.battery_hysteresis_pct
        self.battery = rng.uniform(max(70.0, threshold + 30), 99.0)
        # At most 15 points over the run, whatever its length.
        self.drain_per_s = rng.uniform(0.3, 1.0) * 15.0 / max(run_s, 1)
        self.extras = tuple(m for m in ("tilt_deg", "light_lux")
                            if tag.profile is not None and tag.profile.limits(m) is not None)

    def read(self, t: int, lat: float, lon: float, speed_kmh: float) -> dict[str, float]:
        rng = self.rng
        moving = speed_kmh > 0
        noise = 5e-5 if moving else 1e-4
        values: dict[str, float] = {
            "lat": round(lat + rng.uniform(-noise, noise), 6),
            "lon": round(lon + rng.uniform(-noise, noise), 6),
            "accuracy_m": round(rng.uniform(3, 10) if moving else rng.uniform(5, 20), 1),
            "speed_kmh": round(max(1.0, speed_kmh + rng.uniform(-3, 3)), 1) if moving else 0.0,
        }
        if self.format != "owntracks":
            day = math.sin(self.phase + 2 * math.pi * t / 86_400)
            values["temp_c"] = round(self._within("temp_c", 18.0, 3.0, day), 2)
            values["humidity_pct"] = round(self._within("humidity_pct", 45.0, 8.0, day), 1)
            shock = abs(rng.gauss(0.3, 0.12)) if moving else rng.uniform(0.0, 0.05)
            values["shock_g"] = round(self._capped("shock_g", shock), 2)
            if "tilt_deg" in self.extras:
                tilt = rng.uniform(2, 8) if moving else rng.uniform(0, 4)
                values["tilt_deg"] = round(self._capped("tilt_deg", tilt), 1)
            if "light_lux" in self.extras:
                values["light_lux"] = round(self._capped("light_lux", rng.uniform(0, 2)), 1)
        values["battery_pct"] = round(max(0.0, self.battery - self.drain_per_s * t), 1)
        return values

    def _limits(self, metric: str) -> MetricLimits | None:
        return self.profile.limits(metric) if self.profile is not None else None

    def _band(self, metric: str) -> tuple[float, float]:
        """Where a normal reading stays: inside the range by more than the hysteresis."""
        limits = self._limits(metric)
        if limits is None:
            return -math.inf, math.inf
        low = -math.inf if limits.min is None else limits.min + limits.hysteresis
        high = math.inf if limits.max is None else limits.max - limits.hysteresis
        return low, high

    def _within(self, metric: str, centre: float, swing: float, day: float) -> float:
        """A daily swing plus noise around `centre`, kept well inside the profile's band."""
        low, high = self._band(metric)
        if math.isfinite(low) and math.isfinite(high):
            centre, swing = (low + high) / 2, 0.35 * (high - low)
        elif math.isfinite(high):
            centre = min(centre, high - 2 * swing)
        elif math.isfinite(low):
            centre = max(centre, low + 2 * swing)
        value = centre + swing * (0.7 * day + 0.3 * self.rng.uniform(-1, 1))
        return value

    def _capped(self, metric: str, value: float) -> float:
        _, high = self._band(metric)
        return min(value, 0.5 * high) if math.isfinite(high) else value


def _draw(rng: random.Random, span: tuple[timedelta, timedelta]) -> int:
    low, high = (int(s.total_seconds()) for s in span)
    return low if high <= low else rng.randint(low, high)


def _minute(seconds: int) -> int:
    return seconds - seconds % 60


def _inside(place: PlaceSpec, rng: random.Random) -> tuple[float, float]:
    """A parking spot well inside a place's geofence."""
    return spot_inside(place.lat, place.lon, place.radius_m, rng)


def _profile_body(profile: ProfileSpec) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for limits in profile.metrics:
        spec: dict[str, Any] = {}
        if limits.min is not None:
            spec["min"] = limits.min
        if limits.max is not None:
            spec["max"] = limits.max
        spec["min_duration_s"] = limits.min_duration.total_seconds()
        spec["hysteresis"] = limits.hysteresis
        metrics[limits.metric] = spec
    return {
        "name": profile.name,
        "description": profile.description,
        "metrics": metrics,
        "silent_after_s": profile.silent_after.total_seconds() if profile.silent_after else None,
        "battery_below_pct": profile.battery_below_pct,
        "battery_hysteresis_pct": profile.battery_hysteresis_pct,
    }


def _geofence_body(place: PlaceSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": place.geofence_id,
        "name": place.name,
        "kind": place.kind,
        "circle": {"lat": place.lat, "lon": place.lon, "radius_m": place.radius_m},
    }
    if place.for_routing:
        body["handles"] = {"flows": list(place.flows), "categories": list(place.categories),
                           "services": list(place.services)}
        body["handling_cost"] = place.handling_cost
        if place.daily_capacity is not None:
            body["daily_capacity"] = place.daily_capacity
    return body
