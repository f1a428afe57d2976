"""Scenario files: a YAML description of a simulated fleet, the places it travels between, the
profiles it is judged by and the faults it injects, validated into plain frozen dataclasses
that `device_sim.timeline.compile_scenario` turns into a timeline of MQTT messages.

The schema, in brief (docs/simulator.md has a complete annotated example). Durations are
strings such as "90s", "40m", "12h", "3d", "1h30m" (a sign where an offset may be negative),
or plain numbers of seconds. A "range" is a duration or a two-element list [low, high]: each
tag draws its own value in it.

    name: cold_chain_returns        # [A-Za-z0-9_.-]{1,40}
    description: "..."
    seed: 7                         # default 1
    start: -2d                      # offset from now; start + duration must be <= 0
    duration: 2d
    time_scale: 480                 # simulated seconds per wall-clock second
    overdue_grace: 1h               # the gateway's BOOMERANG_OVERDUE_GRACE_S
    profiles:                       # registered by the simulator; name -> profile
      sim-cold:
        silent_after: 2h
        battery_below_pct: 15
        battery_hysteresis_pct: 5
        metrics:
          temp_c: {min: 2, max: 8, min_duration: 5m, hysteresis: 0.5}
    places:                         # key -> a geofence
      venlo: {kind: hub, place: Venlo, radius_m: 2000}   # a name from device_sim/_places.py
      lab: {kind: quarantine, name: QA lab, lat: 51.4, lon: 6.1, radius_m: 300}
    fleet:                          # groups of tags; tag ids `{group}-0001`...
      - group: cc
        count: 8
        kind: shipment              # shipment | rental
        flow: customer_return       # default: customer_return / rental_return
        profile: sim-cold
        format: native              # native | native_batch | owntracks | things_stack
        report_every: 10m
        origins: [Berlin, Hamburg]  # customer cities (or {name, lat, lon})
        destination: venlo          # a place key
        stops: [{place: hersfeld, dwell: [1h, 2h]}]
        speed_kmh: 80
        depart_after: [0s, 6h]      # shipments: when each leaves its customer
        due_in: 7d                  # due_at = start + due_in
    faults:
      - fault: temp_excursion       # one of FAULTS
        group: cc                   # with count (default 1), picked by the seed;
        count: 2                    # or instead `tags: [cc-0003]`, explicit tag ids
        at: 6h                      # offset from start
        duration: 40m
        value: 14

Every fault takes `group`+`count` or `tags`; the other fields depend on the fault (see
`_FAULT_MODELS`): `at`, `duration`, `value`, `messages` (how many messages), `target`
(impersonation), `sku`/`lot`/`reason` (recalled_lot), `radius_m` (geofence_exit).

Trips (docs/lifecycle.md): a place may say what it `handles` (flows, categories, services), its
`handling_cost` and `daily_capacity`, for routing; a group with a `lifecycle` section has its
trips opened, inspected and closed by the simulator through the REST API (its assets are
registered without a trip), returns routed by the gateway when the group has no
`destination`, rentals checked out `cycles` times. docs/simulator.md, "Trips", has the details.

A bad file raises ScenarioError naming the file and the field: `rentals.yaml:
faults[2].duration: ...`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from device_sim._places import CITIES, DEPOTS, HUBS, Place, distance_km

FAULTS: tuple[str, ...] = (
    "temp_excursion",
    "humidity_excursion",
    "drop",
    "opened",
    "tilt",
    "dying_battery",
    "silent",
    "overdue",
    "recalled_lot",
    "offline_burst",
    "duplicates",
    "clock_skew",
    "malformed",
    "oversized",
    "impersonation",
    "geofence_exit",
)
Format = Literal["native", "native_batch", "owntracks", "things_stack"]
Metric = Literal["temp_c", "humidity_pct", "shock_g", "tilt_deg", "light_lux", "battery_pct"]
Flow = Literal["customer_return", "warranty_repair", "recall", "trade_in", "rental_return",
               "b2b_return", "end_of_life"]
Service = Literal["restock", "refurbish", "repair", "recycle", "quarantine", "redeploy",
                  "return_to_vendor", "dispose"]
"""What a hub carries out: every disposition but `inspect` (docs/lifecycle.md, "Routing")."""
Disposition = Literal["restock", "refurbish", "repair", "recycle", "quarantine", "redeploy",
                      "return_to_vendor", "dispose", "inspect"]
FORMATS: tuple[str, ...] = get_args(Format)
METRICS: tuple[str, ...] = get_args(Metric)
FLOWS: tuple[str, ...] = get_args(Flow)
SERVICES: tuple[str, ...] = get_args(Service)
DISPOSITIONS: tuple[str, ...] = get_args(Disposition)
ROUTABLE_KINDS = frozenset({"hub", "depot", "quarantine"})
# Faults a lifecycle group may take: those that change what a reading says or add messages,
# never when or where its tag reports (its trips are planned around its readings), and a
# recall announced during the run.
LIFECYCLE_FAULTS = frozenset({
    "temp_excursion", "humidity_excursion", "drop", "opened", "tilt", "dying_battery",
    "duplicates", "malformed", "oversized", "recalled_lot",
})
# What each format carries: OwnTracks knows only position, speed and battery.
FORMAT_METRICS: dict[str, frozenset[str]] = {
    "native": frozenset(METRICS),
    "native_batch": frozenset(METRICS),
    "things_stack": frozenset(METRICS),
    "owntracks": frozenset({"battery_pct"}),
}
# The contract's ranges for the metrics a fault may push out of a profile's range.
CONTRACT_RANGES: dict[str, tuple[float, float]] = {
    "temp_c": (-80.0, 150.0),
    "humidity_pct": (0.0, 100.0),
    "shock_g": (0.0, 500.0),
    "tilt_deg": (0.0, 180.0),
    "light_lux": (0.0, math.inf),
    "battery_pct": (0.0, 100.0),
}
# The fault -> the profile metric it pushes outside its range.
FAULT_METRIC: dict[str, str] = {
    "temp_excursion": "temp_c",
    "humidity_excursion": "humidity_pct",
    "drop": "shock_g",
    "opened": "light_lux",
    "tilt": "tilt_deg",
}
# Faults that change readings in a window (which a lifecycle group may tie to a trip).
READING_FAULT_NAMES = frozenset({
    "temp_excursion", "humidity_excursion", "drop", "opened", "tilt", "dying_battery"})
MAX_FUTURE = timedelta(minutes=5)
_TAG_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"\s*([+-])?\s*((?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")


class ScenarioError(Exception):
    """A scenario file that cannot be compiled; the message names the file and the field."""


# ----------------------------------------------------------------------------------------
# What the compiler works with: plain frozen dataclasses.


@dataclass(frozen=True, slots=True)
class MetricLimits:
    """One metric of a profile; the same meaning as the gateway's profile metrics."""

    metric: str
    min: float | None
    max: float | None
    min_duration: timedelta
    hysteresis: float

    def outside(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max)

    def back_inside(self, value: float) -> bool:
        return (self.min is None or value >= self.min + self.hysteresis) and (
            self.max is None or value <= self.max - self.hysteresis)


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    name: str
    description: str
    metrics: tuple[MetricLimits, ...]
    silent_after: timedelta | None
    battery_below_pct: float | None
    battery_hysteresis_pct: float

    def limits(self, metric: str) -> MetricLimits | None:
        for limits in self.metrics:
            if limits.metric == metric:
                return limits
        return None


@dataclass(frozen=True, slots=True)
class PlaceSpec:
    """A hub, depot, quarantine or area: registered as a circular geofence. What it handles,
    its cost and capacity matter for routing only (docs/lifecycle.md); empty tuples: any."""

    key: str
    geofence_id: str
    name: str
    kind: str
    lat: float
    lon: float
    radius_m: float
    flows: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    handling_cost: float = 0.0
    daily_capacity: int | None = None
    for_routing: bool = False
    """The scenario gave `handles`, `handling_cost` or `daily_capacity`: its geofence body
    carries them (a scenario without them registers exactly what it did before trips)."""


@dataclass(frozen=True, slots=True)
class Stop:
    place: str
    dwell: tuple[timedelta, timedelta]


@dataclass(frozen=True, slots=True)
class LifecycleSpec:
    """How the simulator drives a group's trips through the API (docs/lifecycle.md). Ranges
    draw per trip; lists go round robin over the group's tags."""

    start_after: tuple[timedelta, timedelta]
    """From the run's start to the first trip: a return's authorization (its tag's first
    reading follows), a rental's first check-out."""
    inspect_after: tuple[timedelta, timedelta]
    """From the arrival reading to the inspection."""
    dispositions: tuple[str, ...]
    """What the inspector decides; () for the recommendation (`on_inspect` when that is
    `inspect`)."""
    on_inspect: str
    close_after: tuple[timedelta, timedelta] | None
    """Returns: closed (PATCH) this long after being dispositioned; None: left open."""
    route: bool
    """Rentals: check-outs leave the destination out, for the gateway to route. (Returns are
    routed when the group has no `destination`.)"""
    cycles: int
    """Rentals: how many times each is checked out."""
    out_for: tuple[timedelta, timedelta]
    """Rentals: how long it stays with its customer."""
    idle: tuple[timedelta, timedelta]
    """Rentals: from being available to the next check-out."""
    repair_for: tuple[timedelta, timedelta]
    """Rentals: an inspection that does not redeploy leaves it `inspected`; it is made
    available (PATCH) this long after."""
    reasons: tuple[str, ...]
    """Returns: the return reason of each trip."""


@dataclass(frozen=True, slots=True)
class FleetGroup:
    """`count` tags alike; tag ids `{prefix}-0001`... (OwnTracks: `{prefix}-0001-{device}`)."""

    prefix: str
    count: int
    kind: str
    flow: str
    profile: str | None
    format: str
    batch_size: int
    owntracks_device: str
    tts_application: str
    tts_tenant: str
    report_every: timedelta
    origins: tuple[Place, ...]
    destination: str | None
    """A place key; None for a lifecycle group of returns, which the gateway routes."""
    stops: tuple[Stop, ...]
    speed_kmh: float
    depart_after: tuple[timedelta, timedelta]
    due_in: tuple[timedelta, timedelta] | None
    return_lead: timedelta
    skus: tuple[str, ...]
    customers: tuple[str, ...]
    categories: tuple[str, ...] = ()
    lifecycle: LifecycleSpec | None = None

    @property
    def home(self) -> str:
        """The destination of a group that has one (every group but routed returns)."""
        if self.destination is None:
            raise ValueError(f"group {self.prefix} is routed: it has no destination")
        return self.destination

    def tag_ids(self) -> tuple[str, ...]:
        return tuple(self.tag_id(n) for n in range(1, self.count + 1))

    def tag_id(self, number: int) -> str:
        base = f"{self.prefix}-{number:04d}"
        return f"{base}-{self.owntracks_device}" if self.format == "owntracks" else base

    def username(self, number: int) -> str:
        """The MQTT login the tag publishes as: its own, or for a LoRaWAN tag its The Things
        Stack application's, `{app}@{tenant}` (as The Things Stack names its MQTT user)."""
        if self.format == "things_stack":
            return self.tts_login
        return f"{self.prefix}-{number:04d}"

    @property
    def tts_login(self) -> str:
        return f"{self.tts_application}@{self.tts_tenant}"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault entry; fields that do not apply to the fault are None."""

    index: int
    name: str
    group: str | None
    tags: tuple[str, ...]
    count: int
    at: timedelta
    duration: timedelta | None
    value: float | None
    messages: int
    target: str | None = None
    sku: str | None = None
    lot: str | None = None
    reason: str = ""
    radius_m: float | None = None
    trip: int | None = None
    """Lifecycle groups: `at` counts from the start of the tag's trip of this number."""
    during_run: bool = False
    """recalled_lot with `at`: the recall is created through the API at `at`, while the
    items travel, not registered before the run."""

    @property
    def where(self) -> str:
        return f"faults[{self.index}]"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    seed: int
    start: timedelta
    """Offset of the simulated start from `now` (negative: the run lies in the past)."""
    duration: timedelta
    time_scale: float
    overdue_grace: timedelta
    profiles: tuple[ProfileSpec, ...]
    places: tuple[PlaceSpec, ...]
    fleet: tuple[FleetGroup, ...]
    faults: tuple[FaultSpec, ...]
    source: str = "<string>"
    align_start: str = "minute"
    """"day": the run starts at a UTC midnight, so that the routing days (daily capacities)
    fall the same way whenever it is played; "minute": at a whole minute."""

    def profile(self, name: str | None) -> ProfileSpec | None:
        return next((p for p in self.profiles if p.name == name), None)

    def place(self, key: str) -> PlaceSpec:
        return next(p for p in self.places if p.key == key)

    def group(self, prefix: str) -> FleetGroup:
        return next(g for g in self.fleet if g.prefix == prefix)

    def group_of(self, tag_id: str) -> tuple[FleetGroup, int] | None:
        """The group a tag id belongs to and its number in it."""
        for group in self.fleet:
            for number, candidate in enumerate(group.tag_ids(), start=1):
                if candidate == tag_id:
                    return group, number
        return None


# ----------------------------------------------------------------------------------------
# Durations.


def parse_duration(value: object, *, signed: bool = False) -> timedelta:
    """"90s", "40m", "12h", "3d", "1h30m" or a number of seconds; "-2d" when signed."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"a duration such as '90s', '40m', '12h' or '3d', got {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(
                f"a duration such as '90s', '40m', '12h' or '3d', got {value!r}")
        seconds = sum(float(number) * _UNITS_S[unit]
                      for number, unit in _DURATION_PART.findall(match.group(2)))
        if match.group(1) == "-":
            seconds = -seconds
    else:
        raise ValueError(f"a duration such as '90s', '40m', '12h' or '3d', got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"not a finite duration: {value!r}")
    if seconds < 0 and not signed:
        raise ValueError(f"must not be negative, got {value!r}")
    # Whole seconds: OwnTracks times are epoch seconds, and it keeps every time exact.
    return timedelta(seconds=round(seconds))


def _duration_range(value: object) -> tuple[timedelta, timedelta]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError("a range is a duration or a list of two: [low, high]")
        low, high = parse_duration(value[0]), parse_duration(value[1])
        if high < low:
            raise ValueError(f"the range's high end {value[1]!r} is below its low end")
        return low, high
    one = parse_duration(value)
    return one, one


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
SignedDuration = Annotated[timedelta, BeforeValidator(lambda v: parse_duration(v, signed=True))]
DurationRange = Annotated[tuple[timedelta, timedelta], BeforeValidator(_duration_range)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


# ----------------------------------------------------------------------------------------
# The file's shape: pydantic at this boundary only.


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _MetricIn(_Model):
    min: float | None = None
    max: float | None = None
    min_duration: Duration = timedelta(0)
    hysteresis: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _a_range_with_room_inside(self) -> _MetricIn:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None:
            if self.min >= self.max:
                raise ValueError(f"min {self.min:g} is not below max {self.max:g}")
            if self.max - self.min <= 2 * self.hysteresis:
                raise ValueError("the hysteresis leaves no room inside the range, where normal "
                                 "readings must stay")
        return self


class _ProfileIn(_Model):
    description: str = Field(default="", max_length=500)
    metrics: dict[Metric, _MetricIn] = Field(default_factory=dict)
    silent_after: Duration | None = None
    battery_below_pct: float | None = Field(default=None, ge=0, le=50)
    battery_hysteresis_pct: float = Field(default=5.0, ge=0, le=20)

    @model_validator(mode="after")
    def _positive_silent_after(self) -> _ProfileIn:
        if self.silent_after is not None and self.silent_after <= timedelta(0):
            raise ValueError("silent_after must be above zero")
        return self


class _HandlesIn(_Model):
    flows: list[Flow] = Field(default_factory=list)
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list)
    services: list[Service] = Field(default_factory=list)


class _PlaceIn(_Model):
    kind: Literal["hub", "depot", "quarantine", "area"]
    place: str | None = Field(default=None, description="A name from device_sim/_places.py")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float = Field(default=2000.0, gt=0, le=100_000)
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    handles: _HandlesIn | None = None
    handling_cost: float | None = Field(default=None, ge=0, le=1e6)
    daily_capacity: int | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _named_or_located(self) -> _PlaceIn:
        if self.place is None:
            if self.lat is None or self.lon is None or self.name is None:
                raise ValueError("give `place` (a known name) or `name`, `lat` and `lon`")
        elif self.lat is not None or self.lon is not None:
            raise ValueError("give `place` or `lat`/`lon`, not both")
        routing = {"handles", "handling_cost", "daily_capacity"} & self.model_fields_set
        if routing and self.kind == "area":
            raise ValueError(f"{', '.join(sorted(routing))}: an area is never routed to; "
                             "only a hub, depot or quarantine is")
        return self


class _OriginIn(_Model):
    name: str = Field(min_length=1, max_length=100)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class _StopIn(_Model):
    place: str
    dwell: DurationRange = (timedelta(0), timedelta(0))


class _LifecycleIn(_Model):
    start_after: DurationRange = (timedelta(hours=1), timedelta(hours=1))
    inspect_after: DurationRange = (timedelta(hours=1), timedelta(hours=2))
    disposition: Disposition | list[Disposition] | None = None
    on_inspect: Service | None = None
    close_after: DurationRange | None = None
    route: bool = False
    cycles: int = Field(default=1, ge=1, le=50)
    out_for: DurationRange = (timedelta(hours=4), timedelta(hours=6))
    idle: DurationRange = (timedelta(hours=1), timedelta(hours=2))
    repair_for: DurationRange = (timedelta(hours=2), timedelta(hours=3))
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")] | list[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]] | None = None


_RENTAL_ONLY = ("route", "cycles", "out_for", "idle", "repair_for")
_RETURN_ONLY = ("close_after", "reason")


class _GroupIn(_Model):
    group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{1,24}$")]
    count: int = Field(ge=1, le=500)
    kind: Literal["shipment", "rental"]
    flow: Flow | None = None
    profile: str | None = None
    format: Format = "native"
    batch_size: int | None = Field(default=None, ge=2, le=1000)
    owntracks_device: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{1,20}$")] | None = None
    tts_application: Annotated[
        str, StringConstraints(pattern=r"^[a-z0-9-]{2,36}$")] | None = None
    tts_tenant: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,36}$")] | None = None
    report_every: Duration = timedelta(minutes=10)
    origins: list[str | _OriginIn] = Field(min_length=1)
    destination: str | None = None
    stops: list[_StopIn] = Field(default_factory=list)
    speed_kmh: float = Field(default=70.0, ge=5, le=200)
    depart_after: DurationRange = (timedelta(0), timedelta(0))
    due_in: DurationRange | None = None
    return_lead: Duration = timedelta(hours=2)
    sku: str | list[str] | None = None
    customer: str | list[str] | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=128)] | list[
        Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = None
    lifecycle: _LifecycleIn | None = None

    @model_validator(mode="after")
    def _format_options_match_the_format(self) -> _GroupIn:
        for option, wanted in (("batch_size", "native_batch"),
                               ("owntracks_device", "owntracks"),
                               ("tts_application", "things_stack"),
                               ("tts_tenant", "things_stack")):
            if getattr(self, option) is not None and self.format != wanted:
                raise ValueError(f"{option} applies to format {wanted} only")
        if self.report_every < timedelta(seconds=10):
            raise ValueError("report_every must be at least 10s")
        return self

    @model_validator(mode="after")
    def _lifecycle_fits_the_kind(self) -> _GroupIn:
        life = self.lifecycle
        if life is None:
            if self.destination is None:
                raise ValueError("give a `destination` (only a lifecycle group of returns "
                                 "leaves it out, to be routed)")
            return self
        if self.stops:
            raise ValueError("stops: a lifecycle group's tags go straight to their destination")
        wrong = _RENTAL_ONLY if self.kind == "shipment" else _RETURN_ONLY
        given = [option for option in wrong if option in life.model_fields_set]
        if given:
            raise ValueError(f"lifecycle.{given[0]} applies to "
                             f"{'rentals' if self.kind == 'shipment' else 'returns'} only")
        if self.kind == "rental" and self.destination is None:
            raise ValueError("a rental group's `destination` is its home depot, where its "
                             "rentals start (`lifecycle.route: true` routes each check-out)")
        if self.kind == "rental" and self.flow not in (None, "rental_return"):
            raise ValueError("a lifecycle rental's flow is rental_return")
        if self.kind == "shipment" and self.flow == "rental_return":
            raise ValueError("rental_return is the flow of rentals (kind: rental)")
        return self


class _Targets(_Model):
    group: str | None = None
    tags: list[str] = Field(default_factory=list)
    count: int = Field(default=1, ge=1)
    trip: int | None = Field(default=None, ge=1, description=(
        "Lifecycle groups: `at` counts from the start of the tag's trip of this number"))

    @model_validator(mode="after")
    def _group_or_tags(self) -> _Targets:
        if (self.group is None) == (not self.tags):
            raise ValueError("give `group` (with `count`) or `tags`, one of them")
        if self.tags and "count" in self.model_fields_set:
            raise ValueError("`count` picks from a `group`; with `tags` leave it out")
        return self


class _Window(_Targets):
    at: Duration
    duration: Duration


class _TempExcursion(_Window):
    fault: Literal["temp_excursion"]
    value: float | None = None


class _HumidityExcursion(_Window):
    fault: Literal["humidity_excursion"]
    value: float | None = None


class _Drop(_Targets):
    fault: Literal["drop"]
    at: Duration
    value: float | None = None


class _Opened(_Window):
    fault: Literal["opened"]
    value: float | None = None


class _Tilt(_Window):
    fault: Literal["tilt"]
    value: float | None = None


class _DyingBattery(_Targets):
    fault: Literal["dying_battery"]
    at: Duration
    duration: Duration = timedelta(hours=6)
    value: float = Field(default=5.0, ge=0, le=100, description="Where the battery ends, %")


class _Silent(_Targets):
    fault: Literal["silent"]
    at: Duration
    duration: Duration | None = None


class _Overdue(_Targets):
    fault: Literal["overdue"]
    at: Duration = Field(description="The rental's due_at, from the start")


class _RecalledLot(_Targets):
    fault: Literal["recalled_lot"]
    at: Duration | None = Field(default=None, description=(
        "When the recall is created through the API; absent: registered before the run"))
    sku: str | None = Field(default=None, min_length=1, max_length=128)
    lot: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str = Field(default="Safety recall: return for inspection", max_length=2000)


class _OfflineBurst(_Window):
    fault: Literal["offline_burst"]


class _Duplicates(_Targets):
    fault: Literal["duplicates"]
    at: Duration = timedelta(0)
    duration: Duration | None = None
    messages: int = Field(default=3, ge=1, le=1000)


class _ClockSkew(_Targets):
    fault: Literal["clock_skew"]
    at: Duration = timedelta(0)
    duration: Duration | None = None
    value: SignedDuration


class _Malformed(_Targets):
    fault: Literal["malformed"]
    at: Duration
    messages: int = Field(default=4, ge=1, le=1000)


class _Oversized(_Targets):
    fault: Literal["oversized"]
    at: Duration
    messages: int = Field(default=1, ge=1, le=20)


class _Impersonation(_Targets):
    fault: Literal["impersonation"]
    at: Duration
    messages: int = Field(default=1, ge=1, le=1000)
    target: str | None = None


class _GeofenceExit(_Window):
    fault: Literal["geofence_exit"]
    value: float = Field(default=20.0, gt=0, le=500, description="How far it is taken, km")
    radius_m: float = Field(default=1500.0, ge=100, le=50_000)


_FAULT_MODELS = (
    _TempExcursion, _HumidityExcursion, _Drop, _Opened, _Tilt, _DyingBattery, _Silent,
    _Overdue, _RecalledLot, _OfflineBurst, _Duplicates, _ClockSkew, _Malformed, _Oversized,
    _Impersonation, _GeofenceExit,
)
_FaultIn = Annotated[
    _TempExcursion | _HumidityExcursion | _Drop | _Opened | _Tilt | _DyingBattery | _Silent
    | _Overdue | _RecalledLot | _OfflineBurst | _Duplicates | _ClockSkew | _Malformed
    | _Oversized | _Impersonation | _GeofenceExit,
    Field(discriminator="fault"),
]


class _ScenarioIn(_Model):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    description: str = Field(default="", max_length=2000)
    seed: int = 1
    start: SignedDuration | None = None
    duration: Duration
    time_scale: float = Field(default=360.0, gt=0, le=1_000_000)
    overdue_grace: Duration = timedelta(hours=1)
    align_start: Literal["minute", "day"] = "minute"
    profiles: dict[Name, _ProfileIn] = Field(default_factory=dict)
    places: dict[Key, _PlaceIn] = Field(min_length=1)
    fleet: list[_GroupIn] = Field(min_length=1)
    faults: list[_FaultIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _the_run_lies_in_the_past(self) -> _ScenarioIn:
        if not timedelta(hours=1) <= self.duration <= timedelta(days=14):
            raise ValueError("duration must be between 1h and 14d")
        if self.start is not None and self.start + self.duration > timedelta(0):
            raise ValueError(
                "start + duration must be <= 0: the run lies in the past and ends by now")
        return self


# ----------------------------------------------------------------------------------------
# Loading.


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_scenario(text, source=path.name)


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate a scenario given as YAML text; `source` names it in error messages."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{source}: not valid YAML: {where}{problem}") from None
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping (name, duration, places, "
                            f"fleet...), got {type(document).__name__}")
    try:
        model = _ScenarioIn.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_describe(exc)}") from None
    return _Builder(model, source).build()


def _describe(error: ValidationError) -> str:
    """The first few problems as `field.path: message`."""
    fault_tags = set(FAULTS)
    items = error.errors()
    # A union (an origin is a name or a mapping) reports every member; the mapping's
    # complaint is the useful one when there is one.
    useful = [i for i in items if "str" not in i["loc"]] or items
    parts = []
    for item in useful[:3]:
        path = ""
        for part in item["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part in fault_tags and path.startswith("faults[") and path.endswith("]"):
                continue  # the discriminator, already named by the entry's `fault`
            elif part in ("str", "_OriginIn", "[key]") or part.startswith("function-"):
                continue  # pydantic's own bookkeeping: noise to a person
            else:
                path += f".{part}" if path else str(part)
        message = item["msg"].removeprefix("Value error, ").replace(
            "instance of _OriginIn", "mapping of name, lat and lon")
        kind = item["type"]
        if kind == "union_tag_invalid":
            message = f"unknown fault; known: {', '.join(FAULTS)}"
        elif kind == "union_tag_not_found":
            message = f"`fault` is missing; one of: {', '.join(FAULTS)}"
        elif kind == "extra_forbidden":
            message = "not a field here (a typo, or a field another fault takes?)"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or kind in ("missing", "value_error") else (
            f" (got {got!r})")
        parts.append(f"{path + ': ' if path else ''}{message}{shown}")
    return "; ".join(parts)


_KNOWN_PLACES: tuple[Place, ...] = CITIES + HUBS + DEPOTS


def known_place(name: str) -> Place | None:
    """A place of device_sim/_places.py by its full name or its last word ("Venlo")."""
    wanted = name.strip().casefold()
    for place in _KNOWN_PLACES:
        if place.name.casefold() == wanted:
            return place
    endings = [p for p in _KNOWN_PLACES if p.name.casefold().endswith(" " + wanted)]
    return endings[0] if len(endings) == 1 else None


_DEFAULT_SKUS = {
    "shipment": ("LAPTOP-X13", "PHONE-P8", "ROUTER-AX3", "DRILL-18V"),
    "rental": ("GEN-5KVA", "SCAFFOLD-T6", "INFUSION-PUMP-2", "CHILLER-CC-40"),
}
# Unless a group says otherwise, nothing falls due within a run: a shipment is due long
# after it arrives, and a rental stays out with its customer.
_DEFAULT_DUE_IN = {"shipment": timedelta(days=10), "rental": timedelta(days=30)}
# A customer's site is jittered up to this far from its city centre.
SITE_SPREAD_KM = 3.0


class _Builder:
    """Checks what pydantic cannot (references between sections, what a fault needs of the
    tags it targets) and builds the dataclasses."""

    def __init__(self, model: _ScenarioIn, source: str) -> None:
        self.model = model
        self.source = source

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {message}")

    def build(self) -> Scenario:
        m = self.model
        profiles = tuple(self._profile(name, p) for name, p in m.profiles.items())
        places = tuple(self._place(key, p) for key, p in m.places.items())
        ids = [p.geofence_id for p in places]
        for place in places:
            if ids.count(place.geofence_id) > 1:
                raise self.fail(f"places.{place.key}.id",
                                f"geofence id {place.geofence_id!r} is used twice")
        self.profiles = {p.name: p for p in profiles}
        self.places = {p.key: p for p in places}
        if m.align_start != "day":
            for place in places:
                if place.daily_capacity is not None:
                    raise self.fail(f"places.{place.key}.daily_capacity", (
                        "a daily capacity counts trips per UTC day: give `align_start: day`, "
                        "so that the run's days do not depend on when it is played"))
        fleet = tuple(self._group(i, g) for i, g in enumerate(m.fleet))
        prefixes = [g.prefix for g in fleet]
        for i, group in enumerate(fleet):
            if prefixes.count(group.prefix) > 1:
                raise self.fail(f"fleet[{i}].group", f"group {group.prefix!r} is used twice")
        scenario = Scenario(
            name=m.name,
            description=m.description,
            seed=m.seed,
            start=m.start if m.start is not None else -m.duration,
            duration=m.duration,
            time_scale=m.time_scale,
            overdue_grace=m.overdue_grace,
            profiles=profiles,
            places=places,
            fleet=fleet,
            faults=(),
            source=self.source,
            align_start=m.align_start,
        )
        self.scenario = scenario
        faults = tuple(self._fault(i, f) for i, f in enumerate(m.faults))
        return replace(scenario, faults=faults)

    def _profile(self, name: str, p: _ProfileIn) -> ProfileSpec:
        metrics = tuple(
            MetricLimits(metric, spec.min, spec.max, spec.min_duration, spec.hysteresis)
            for metric, spec in sorted(p.metrics.items()))
        return ProfileSpec(name, p.description, metrics, p.silent_after, p.battery_below_pct,
                           p.battery_hysteresis_pct)

    def _place(self, key: str, p: _PlaceIn) -> PlaceSpec:
        if p.place is not None:
            known = known_place(p.place)
            if known is None:
                raise self.fail(f"places.{key}.place", f"unknown place {p.place!r}; known: "
                                f"{', '.join(k.name for k in _KNOWN_PLACES)}")
            name, lat, lon = p.name or known.name, known.lat, known.lon
        else:
            assert p.lat is not None and p.lon is not None and p.name is not None
            name, lat, lon = p.name, p.lat, p.lon
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.model.name}-{key}".lower()).strip("-")
        handles = p.handles or _HandlesIn()
        return PlaceSpec(
            key, p.id or f"sim-{slug}"[:64], name, p.kind, lat, lon, p.radius_m,
            flows=tuple(handles.flows), categories=tuple(handles.categories),
            services=tuple(handles.services), handling_cost=p.handling_cost or 0.0,
            daily_capacity=p.daily_capacity,
            for_routing=bool({"handles", "handling_cost", "daily_capacity"} & p.model_fields_set))

    def _group(self, i: int, g: _GroupIn) -> FleetGroup:
        where = f"fleet[{i}]"
        profile = None
        if g.profile is not None:
            profile = self.profiles.get(g.profile)
            if profile is None:
                raise self.fail(f"{where}.profile", f"no profile {g.profile!r} in `profiles`"
                                f" (known: {', '.join(self.profiles) or 'none'})")
        destination = self.places.get(g.destination) if g.destination is not None else None
        if g.destination is not None and destination is None:
            raise self.fail(f"{where}.destination", f"no place {g.destination!r} in `places`")
        if destination is not None and destination.kind == "area":
            raise self.fail(f"{where}.destination",
                            "a destination is a hub, depot or quarantine, not an area")
        for j, stop in enumerate(g.stops):
            if stop.place not in self.places:
                raise self.fail(f"{where}.stops[{j}].place",
                                f"no place {stop.place!r} in `places`")
        origins = []
        for j, origin in enumerate(g.origins):
            if isinstance(origin, str):
                known = known_place(origin)
                if known is None:
                    raise self.fail(f"{where}.origins[{j}]", f"unknown city {origin!r}; known: "
                                    f"{', '.join(c.name for c in CITIES)}")
            else:
                known = Place(origin.name, origin.lat, origin.lon)
            # A routed return may go to any hub; a rental comes back to any depot.
            near = [destination] if destination is not None and g.lifecycle is None else [
                p for p in self.places.values() if p.kind in ROUTABLE_KINDS]
            for place in near:
                room_km = place.radius_m / 1000 + SITE_SPREAD_KM + 5
                if distance_km(known, Place("", place.lat, place.lon)) < room_km:
                    raise self.fail(f"{where}.origins[{j}]", f"{known.name} is within "
                                    f"{room_km:.0f} km of {place.kind} {place.key}: a customer "
                                    "site must lie outside every geofence it may travel to")
            origins.append(known)
        batch_size = g.batch_size or (5 if g.format == "native_batch" else 1)
        if profile is not None and profile.silent_after is not None:
            between = g.report_every * batch_size
            if between * 2 > profile.silent_after:
                raise self.fail(f"{where}.report_every", (
                    f"messages {_human(between)} apart are too close to profile "
                    f"{profile.name}'s silent_after {_human(profile.silent_after)}: report at "
                    "least twice within it, or every tag goes silent"))
        skus = (g.sku,) if isinstance(g.sku, str) else tuple(g.sku or _DEFAULT_SKUS[g.kind])
        customers = (g.customer,) if isinstance(g.customer, str) else tuple(g.customer or ())
        if not skus:
            raise self.fail(f"{where}.sku", "give at least one sku")
        categories = ((g.category,) if isinstance(g.category, str)
                      else tuple(g.category or ()))
        lifecycle = None
        if g.lifecycle is not None:
            lifecycle = self._lifecycle(where, g, profile)
        return FleetGroup(
            prefix=g.group,
            count=g.count,
            kind=g.kind,
            flow=g.flow or ("rental_return" if g.kind == "rental" else "customer_return"),
            profile=g.profile,
            format=g.format,
            batch_size=batch_size,
            owntracks_device=g.owntracks_device or "tag",
            tts_application=g.tts_application or "boomerang-returns",
            tts_tenant=g.tts_tenant or "ttn",
            report_every=g.report_every,
            origins=tuple(origins),
            destination=g.destination,
            stops=tuple(Stop(s.place, s.dwell) for s in g.stops),
            speed_kmh=g.speed_kmh,
            depart_after=g.depart_after,
            due_in=g.due_in if g.due_in is not None else (
                _DEFAULT_DUE_IN[g.kind], _DEFAULT_DUE_IN[g.kind]),
            return_lead=g.return_lead,
            skus=skus,
            customers=customers,
            categories=categories,
            lifecycle=lifecycle,
        )

    def _lifecycle(self, where: str, g: _GroupIn, profile: ProfileSpec | None) -> LifecycleSpec:
        life = g.lifecycle
        assert life is not None
        if profile is not None and profile.silent_after is not None:
            raise self.fail(f"{where}.profile", (
                f"profile {profile.name} has silent_after, but a lifecycle group's tags sleep "
                "between trips (a rental parked in its depot): give it a profile without"))
        if g.kind == "shipment" and g.depart_after[0] < 2 * g.report_every:
            raise self.fail(f"{where}.depart_after", (
                "a lifecycle return waits at its customer for two readings or more after its "
                f"authorization: at least {_human(2 * g.report_every)}"))
        dispositions: tuple[str, ...] = ()
        if life.disposition is not None:
            dispositions = ((life.disposition,) if isinstance(life.disposition, str)
                            else tuple(life.disposition))
        if g.kind == "rental":
            on_inspect = life.on_inspect or "repair"
        else:
            on_inspect = life.on_inspect or (
                "quarantine" if g.flow == "recall" else "refurbish")
        reasons = (life.reason,) if isinstance(life.reason, str) else tuple(life.reason or ())
        return LifecycleSpec(
            start_after=life.start_after,
            inspect_after=life.inspect_after,
            dispositions=dispositions,
            on_inspect=on_inspect,
            close_after=life.close_after,
            route=life.route,
            cycles=life.cycles if g.kind == "rental" else 1,
            out_for=life.out_for,
            idle=life.idle,
            repair_for=life.repair_for,
            reasons=reasons,
        )

    def _fault(self, i: int, f: Any) -> FaultSpec:
        where = f"faults[{i}]"
        name: str = f.fault
        groups = []
        if f.group is not None:
            try:
                group = self.scenario.group(f.group)
            except StopIteration:
                raise self.fail(f"{where}.group", f"no group {f.group!r} in `fleet`") from None
            if f.count > group.count:
                raise self.fail(f"{where}.count",
                                f"{f.count} is more than group {f.group}'s {group.count} tags")
            groups.append((group, "group"))
        for j, tag_id in enumerate(f.tags):
            found = self.scenario.group_of(tag_id)
            if found is None:
                raise self.fail(f"{where}.tags[{j}]", f"no tag {tag_id!r} in the fleet (tag ids "
                                "are {group}-0001, {group}-0002, ...)")
            groups.append((found[0], f"tags[{j}]"))
        # recalled_lot takes `at` only when the recall is created during the run.
        at: timedelta = getattr(f, "at", None) or timedelta(0)
        duration: timedelta | None = getattr(f, "duration", None)
        if at >= self.scenario.duration:
            raise self.fail(f"{where}.at", f"{_human(at)} is not within the run's "
                            f"{_human(self.scenario.duration)}")
        if duration is not None and duration <= timedelta(0):
            raise self.fail(f"{where}.duration", "must be above zero")
        value: float | None = getattr(f, "value", None)
        if name == "clock_skew":
            skew: timedelta = f.value
            if skew > MAX_FUTURE:
                raise self.fail(f"{where}.value", f"a clock {_human(skew)} ahead sends readings "
                                "more than 5 minutes in the future, which the contract refuses")
            if skew < -timedelta(days=1):
                raise self.fail(f"{where}.value", "a clock more than a day behind is not skew")
            value = skew.total_seconds()
        for group, field in groups:
            value = self._check_target(where, field, name, group, value, f)
            self._check_lifecycle_target(where, field, name, group, f)
        return FaultSpec(
            index=i,
            name=name,
            group=f.group,
            tags=tuple(f.tags),
            count=f.count if f.group is not None else len(f.tags),
            at=at,
            duration=duration,
            value=value,
            messages=getattr(f, "messages", 0),
            target=getattr(f, "target", None),
            sku=getattr(f, "sku", None),
            lot=getattr(f, "lot", None),
            reason=getattr(f, "reason", ""),
            radius_m=getattr(f, "radius_m", None),
            trip=f.trip,
            during_run=name == "recalled_lot" and f.at is not None,
        )

    def _check_lifecycle_target(self, where: str, field: str, name: str, group: FleetGroup,
                                f: Any) -> None:
        """What a fault may do to a lifecycle group, whose trips are planned around its tags'
        readings, and what `trip` and a recall's `at` need."""
        whose = f"group {group.prefix}"
        life = group.lifecycle
        if life is None:
            if f.trip is not None:
                raise self.fail(f"{where}.trip", f"{whose} has no lifecycle: no trips to count")
            if name == "recalled_lot" and f.at is not None:
                raise self.fail(f"{where}.at", (
                    f"a recall during the run re-routes trips: {whose} needs a lifecycle "
                    "section (leave `at` out to register the recall before the run)"))
            return
        if name not in LIFECYCLE_FAULTS:
            raise self.fail(f"{where}.{field}", (
                f"{name} changes when or where a tag reports, around which {whose}'s trips "
                f"are planned; lifecycle groups take {', '.join(sorted(LIFECYCLE_FAULTS))}"))
        if name == "recalled_lot":
            if f.at is None:
                raise self.fail(f"{where}.at", (
                    f"{whose} opens its trips during the run: say `at`, when the recall is "
                    "announced (a recall registered first would predate every trip)"))
            if group.kind != "shipment":
                raise self.fail(f"{where}.{field}", (
                    "a recall during the run re-routes returns on their way; rentals are not "
                    "modelled"))
        if f.trip is not None:
            if name not in READING_FAULT_NAMES:
                raise self.fail(f"{where}.trip", f"{name} is not tied to a trip")
            if f.trip > life.cycles:
                raise self.fail(f"{where}.trip", (
                    f"{whose} makes {life.cycles} trip{'s' if life.cycles > 1 else ''} per tag"))

    def _check_target(self, where: str, field: str, name: str, group: FleetGroup,
                      value: float | None, f: Any) -> float | None:
        """Whether the fault can act on this group's tags; the default value it takes."""
        profile = self.scenario.profile(group.profile)
        whose = f"group {group.prefix}"
        metric = FAULT_METRIC.get(name)
        if metric is not None:
            if metric not in FORMAT_METRICS[group.format]:
                raise self.fail(f"{where}.{field}", f"{whose} reports in {group.format}, which "
                                f"carries no {metric}: {name} cannot show")
            limits = profile.limits(metric) if profile else None
            if limits is None:
                raise self.fail(f"{where}.{field}", f"{name} needs {metric} in the profile of "
                                f"{whose} ({group.profile or 'none'}), or nothing is judged")
            value = self._excursion_value(where, name, limits, value)
        if name == "dying_battery":
            if profile is None or profile.battery_below_pct is None:
                raise self.fail(f"{where}.{field}", f"dying_battery needs battery_below_pct in "
                                f"the profile of {whose}")
            if value is not None and value >= profile.battery_below_pct:
                raise self.fail(f"{where}.value", f"the battery must end below "
                                f"{profile.name}'s {profile.battery_below_pct:g} %")
        if name in ("overdue", "geofence_exit") and group.kind != "rental":
            raise self.fail(f"{where}.{field}", f"{name} needs rentals; {whose} ships returns")
        if name == "impersonation":
            if group.format == "things_stack":
                raise self.fail(f"{where}.{field}", f"{whose} publishes through its "
                                f"application's login {group.tts_login}, which may write "
                                "every device of the application: it cannot impersonate")
            if f.target is not None and self.scenario.group_of(f.target) is None:
                raise self.fail(f"{where}.target", f"no tag {f.target!r} in the fleet")
            if f.target is not None and f.target in f.tags:
                raise self.fail(f"{where}.target", "a tag cannot impersonate itself")
            if f.target is None and self._tag_count() < 2:
                raise self.fail(f"{where}.target", "impersonation needs a second tag")
        return value

    def _tag_count(self) -> int:
        return sum(g.count for g in self.scenario.fleet)

    def _excursion_value(self, where: str, name: str, limits: MetricLimits,
                         value: float | None) -> float:
        low, high = CONTRACT_RANGES[limits.metric]
        if value is None:
            value = _default_excursion(name, limits)
        if not low <= value <= high:
            raise self.fail(f"{where}.value", f"{value:g} is outside the contract's range for "
                            f"{limits.metric}, [{low:g}, {high:g}]: the reading would be "
                            "dead-lettered, not judged")
        # Readings wobble around the value; keep them all outside the range.
        margin = excursion_noise(name, value)
        if not ((limits.min is not None and value < limits.min - margin)
                or (limits.max is not None and value > limits.max + margin)):
            raise self.fail(f"{where}.value", f"{value:g} is not clearly outside {limits.metric}"
                            f"'s range [{_bound(limits.min)}, {_bound(limits.max)}]")
        return value


def excursion_noise(name: str, value: float) -> float:
    """How far the readings of an excursion wander from its value."""
    return {"temp_excursion": 0.3, "humidity_excursion": 1.0, "tilt": 2.0,
            "opened": 0.05 * abs(value), "drop": 0.0}.get(name, 0.0)


def _default_excursion(name: str, limits: MetricLimits) -> float:
    low, high = CONTRACT_RANGES[limits.metric]
    if limits.max is not None:
        step = {"temp_excursion": 6.0, "humidity_excursion": 10.0, "tilt": 45.0}.get(name)
        wanted = limits.max * 3 if step is None else limits.max + step
        if name == "opened":
            wanted = max(250.0, limits.max * 3)
        return min(high, wanted)
    assert limits.min is not None
    return max(low, limits.min - 6.0)


def _bound(bound: float | None) -> str:
    return "-" if bound is None else f"{bound:g}"


def _human(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"

