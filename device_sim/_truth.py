"""The ground truth of a scenario: what a gateway that keeps the contract (section 3) raises
for one asset, given the messages its tag gets through to the gateway.

This is a model of the contract's rules, written from the contract and not from the
gateway's code, so that a simulated run checks the gateway rather than agreeing with it.
Condition rules (out_of_spec, low_battery, geofence, arrival) judge readings by reading
time, newest first wins; the timer rules (silent, overdue) run on event time, the newest
reading time the gateway has seen (BOOMERANG_CLOCK=event), which during a run is close to
the time a message is published. Where the timer rules cannot tell (a gap within the timer
tolerance of silent_after_s, a due time at the very end), AmbiguousTruth is raised so that
no scenario has a ground truth that depends on luck."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from device_sim._routes import distance_m
from device_sim.scenario import ProfileSpec

# Beyond a report interval: the gateway's batching and the player's pacing.
READING_SLACK = timedelta(minutes=2)
# A recall opens when asset and recall are both registered, on the gateway's own clock,
# which may be long after the run's readings: the expectation only says "some time".
RECALL_SLACK = timedelta(hours=1)


class AmbiguousTruth(Exception):
    """The scenario puts an alert right on a rule's threshold, where timing decides."""


@dataclass(frozen=True, slots=True)
class WireReading:
    """A reading as the gateway decodes it."""

    ts: datetime
    seq: int | None
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message that got through to the gateway, published at `at`."""

    at: datetime
    readings: tuple[WireReading, ...]


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True, slots=True)
class WatchedAsset:
    """What the rules know of an asset."""

    asset_id: str
    profile: ProfileSpec | None
    due_at: datetime | None
    destination: Circle | None
    allowed_area: Circle | None
    recalls: int
    """How many active recalls it matches: the gateway raises one alert for each."""
    report_every: timedelta


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    at: datetime
    tolerance: timedelta
    key: str = ""


@dataclass(frozen=True, slots=True)
class Clocks:
    """The run's frame: its end, the wall-clock `now` the scenario was compiled for, the
    overdue grace, and how far off a timer rule may fire (its tolerance, and the band
    around a threshold that counts as ambiguous)."""

    end: datetime
    now: datetime
    overdue_grace: timedelta
    timer_tolerance: timedelta


def judge_asset(asset: WatchedAsset, deliveries: Iterable[Delivery],
                clocks: Clocks) -> list[Finding]:
    """Every alert opening (and the arrival) the gateway should raise for `asset`."""
    return _AssetJudge(asset, clocks).run(sorted(deliveries, key=lambda d: d.at))


class _AssetJudge:
    def __init__(self, asset: WatchedAsset, clocks: Clocks) -> None:
        self.asset = asset
        self.clocks = clocks
        self.findings: list[Finding] = []
        self.seqs: set[int] = set()
        self.newest: datetime | None = None
        self.first_located: datetime | None = None
        self.arrived_on: datetime | None = None  # when the arrival's message came
        self.silent_open = False
        self.outside_since: dict[str, datetime] = {}
        self.out_of_spec_open: set[str] = set()
        self.battery_low = False
        self.outside_area = False
        self.by_reading = asset.report_every + READING_SLACK

    def run(self, deliveries: list[Delivery]) -> list[Finding]:
        for delivery in deliveries:
            self._timer_until(delivery.at)
            for reading in sorted(delivery.readings, key=lambda r: r.ts):
                if reading.seq is not None:
                    if reading.seq in self.seqs:
                        continue  # a duplicate: dropped before any rule sees it
                    self.seqs.add(reading.seq)
                self._reading(reading, delivery.at)
        self._timer_until(self.clocks.end, at_end=True)
        self._overdue()
        if self.first_located is not None:
            self.findings += [Finding("recall", self.first_located,
                                      self.clocks.now - self.first_located + RECALL_SLACK)
                              ] * self.asset.recalls
        return sorted(self.findings, key=lambda f: (f.at, f.kind, f.key))

    # Timer rules -----------------------------------------------------------------------

    def _timer_until(self, until: datetime, at_end: bool = False) -> None:
        """Silent: did the tag's quiet reach silent_after_s before `until`?"""
        profile = self.asset.profile
        if (profile is None or profile.silent_after is None or self.newest is None
                or self.arrived_on is not None or self.silent_open):
            return
        due = self.newest + profile.silent_after
        margin = self.clocks.timer_tolerance
        if until - due > margin:
            self.silent_open = True
            self.findings.append(Finding("silent", due, margin))
        elif until - due >= -margin:
            what = "the run ends" if at_end else "the next message comes"
            raise AmbiguousTruth(
                f"{self.asset.asset_id} is quiet from {self.newest:%Y-%m-%d %H:%M} until "
                f"{what} at {until:%Y-%m-%d %H:%M}, within {_minutes(margin)} of its profile's "
                f"silent_after ({_minutes(profile.silent_after)}): whether the gateway raises "
                "silent depends on timing; make the gap clearly shorter or longer")

    def _overdue(self) -> None:
        if self.asset.due_at is None:
            return
        late_from = self.asset.due_at + self.clocks.overdue_grace
        margin = self.clocks.timer_tolerance
        if late_from > self.clocks.end:
            return
        if late_from > self.clocks.end - margin:
            raise AmbiguousTruth(
                f"{self.asset.asset_id} falls overdue at {late_from:%Y-%m-%d %H:%M}, within "
                f"{_minutes(margin)} of the run's end: move its due time earlier or later")
        if self.arrived_on is not None:
            if self.arrived_on < late_from - margin:
                return
            if self.arrived_on <= late_from + margin:
                raise AmbiguousTruth(
                    f"{self.asset.asset_id} arrives at {self.arrived_on:%Y-%m-%d %H:%M}, within "
                    f"{_minutes(margin)} of falling overdue at {late_from:%Y-%m-%d %H:%M}")
        self.findings.append(Finding("overdue", late_from, margin))

    # Condition rules -------------------------------------------------------------------

    def _reading(self, reading: WireReading, received: datetime) -> None:
        self.silent_open = False  # any reading ends a silence
        values = reading.values
        located = "lat" in values and "lon" in values
        if located and self.first_located is None:
            self.first_located = reading.ts
        if self.newest is not None and reading.ts <= self.newest:
            return  # older than the newest: never changes a condition's state
        self.newest = reading.ts
        self._out_of_spec(reading)
        self._battery(reading)
        if located:
            lat, lon = values["lat"], values["lon"]
            area = self.asset.allowed_area
            if area is not None:
                inside = area.contains(lat, lon)
                if not inside and not self.outside_area:
                    self.findings.append(Finding("geofence", reading.ts, self.by_reading))
                self.outside_area = not inside
            destination = self.asset.destination
            if (destination is not None and self.arrived_on is None
                    and destination.contains(lat, lon)):
                self.arrived_on = received
                self.findings.append(Finding("arrival", reading.ts, self.by_reading))

    def _out_of_spec(self, reading: WireReading) -> None:
        profile = self.asset.profile
        if profile is None:
            return
        for limits in profile.metrics:
            value = reading.values.get(limits.metric)
            if value is None:
                continue
            metric = limits.metric
            if metric not in self.out_of_spec_open:
                if not limits.outside(value):
                    self.outside_since.pop(metric, None)
                    continue
                since = self.outside_since.setdefault(metric, reading.ts)
                if reading.ts - since >= limits.min_duration:
                    self.out_of_spec_open.add(metric)
                    self.findings.append(
                        Finding("out_of_spec", reading.ts, self.by_reading, key=metric))
            elif not limits.outside(value) and limits.back_inside(value):
                self.out_of_spec_open.discard(metric)
                self.outside_since.pop(metric, None)

    def _battery(self, reading: WireReading) -> None:
        profile = self.asset.profile
        battery = reading.values.get("battery_pct")
        if profile is None or profile.battery_below_pct is None or battery is None:
            return
        if not self.battery_low and battery < profile.battery_below_pct:
            self.battery_low = True
            self.findings.append(Finding("low_battery", reading.ts, self.by_reading))
        elif (self.battery_low
              and battery >= profile.battery_below_pct + profile.battery_hysteresis_pct):
            self.battery_low = False


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"
