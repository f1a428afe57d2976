"""ETA benchmark (issue 16): how close the gateway's estimate of arrival comes to when trips
really arrive, and how early its `late_predicted` alert warns of a late one, measured against
the simulator's ground truth and against a naive rule in the same run. Prints one JSON object
and keeps it (default tests/bench/eta-latest.json).

    .venv/bin/python tests/bench/bench_eta.py [--scale 4] [--learn-seed 1] [--seed 2]
        [--scenario device_sim/scenarios/eta.yaml] [--output FILE]

How. The scenario (device_sim/scenarios/eta.yaml: returns on six lanes; express, standard
and slow carriers, cross-docks, drivers' breaks and depot dwell; three trips in ten late) is
compiled twice: the learning round with --learn-seed, then the measured round with --seed,
which starts where the first ends, with its own tag and asset ids (prefixed `r1-`, `r2-`).
`--scale` multiplies every group's count: more trips per lane, the same shape. Both rounds
play into one RuleEngine over a real SQLite state db migrated as the gateway does, on event
time: the scenario's places registered as geofences, each asset with its due date, flow,
destination and origin (its first reported position), every reading decoded by the gateway's
own decoders and judged one by one in reading-time order, all tags interleaved as a fleet
arrives, with a clock tick every simulated 10 minutes. The engine learns its lanes from the
arrivals of the first round; figures are of the second.

Ground truth, per trip, from the compiled timeline: departure is the first reading that
moves (a tag reports speed 0 while parked), arrival is the expected `arrival` (the first
reading inside the destination geofence, as the gateway marks it), the trip is late when that
arrival is after its due date. Readings come every 10 minutes, so both are good to 10 minutes.

What is measured, per predictor:
- `eta_abs_error_h`: at 25, 50 and 75 % of each trip's true duration (departure to arrival),
  |estimated arrival - arrival| of the estimate made at the trip's last reading by then:
  mean, median, 90th percentile, and the mean signed error (`bias_h`: negative is too
  early); `no_estimate` counts the sample points a predictor gave none at (left out of the
  errors). The rule's estimate is `engine.estimate(asset_id).p50`; `p90_covers` is the share
  of sample points whose arrival came by its p90.
- `late`: of the late trips, the share flagged at least 12 h before their due date (the
  first flag counts), the share flagged at all before arriving, and the median hours between
  the first flag and the due date (negative: after it). The rule flags a trip when a
  `late_predicted` alert opens for its asset.
- `false_alarms`: the share of on-time trips ever flagged.

The naive rule: at a reading, the great-circle distance left to the destination's centre
over the average speed of the last hour (the path between the readings of the last hour
over the time they span, at least 30 minutes of it); no estimate when that speed is below
1 km/h (parked at a depot) or the hour holds too few readings. It flags a trip late at the
first reading whose estimate is after the due date, from an hour after departure (before
that its hour would hold the wait at the customer) until arrival, as the rule's alert
may open at any reading. `naive_at_samples` is the coarser reading: flagged when its
estimate at one of the three sample moments is after the due date.

`learning_round` has the same figures for the first round (lanes learnt as it goes), `lanes`
what the engine learnt, and `by_group` the measured round per scenario group.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from _report import open_state_db, report

from alerts import AlertEvent, AlertStore, EngineEvent, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import (
    AlertKind,
    Asset,
    AssetKind,
    Circle,
    Flow,
    Geofence,
    GeofenceKind,
)
from alerts.eta import Eta
from alerts.geo import distance_m
from alerts.profiles import MetricSpec, Profile
from device_sim.scenario import Scenario, load_scenario
from device_sim.timeline import Timeline, compile_scenario
from ingest.decoders import Decoder, NativeDecoder, OwnTracksDecoder, ThingsStackDecoder
from ingest.readings import Reading

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "device_sim" / "scenarios" / "eta.yaml"
KEPT = Path(__file__).resolve().parent / "eta-latest.json"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
"""When the learning round ends; fixed, so that the same arguments give the same figures."""
TICK = timedelta(minutes=10)
FRACTIONS = (0.25, 0.5, 0.75)
WARNING = timedelta(hours=12)
"""How long before its due date a late trip must be flagged (issue 16)."""
TARGETS = {"late_flagged_12h_before_due": 0.8, "false_alarms": 0.1}
NAIVE_WINDOW = timedelta(hours=1)
NAIVE_MIN_SPAN = timedelta(minutes=30)
NAIVE_MIN_KMH = 1.0
NAIVE_FROM = timedelta(hours=1)
"""The naive rule judges from this long after departure: its hour then holds only travel."""
DECODERS: tuple[Decoder, ...] = (NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder())


# ----------------------------------------------------------------------------------------
# Ground truth.


@dataclass(slots=True)
class Trip:
    """One asset's trip in one round, as the timeline says it went, and what each predictor
    made of it."""

    asset: Asset
    group: str
    destination: Circle
    readings: list[Reading]
    """Its located readings in reading-time order, duplicates dropped."""
    departure: datetime
    arrival: datetime
    due_at: datetime
    samples: tuple[datetime, ...]
    """The moments at FRACTIONS of the trip's true duration."""
    rule_etas: list[Eta | None] = field(default_factory=list)
    """`engine.estimate` at each sample."""
    rule_flags: list[datetime] = field(default_factory=list)
    """When a late_predicted alert opened for the asset."""

    @property
    def late(self) -> bool:
        return self.arrival > self.due_at


@dataclass(slots=True)
class Round:
    number: int
    seed: int
    timeline: Timeline
    trips: list[Trip]
    not_arrived: list[str]
    """Assets whose trip did not arrive within the run: no truth to measure them against."""
    geofences: list[Geofence]
    profiles: list[Profile]
    assets: list[Asset]
    readings: list[Reading]
    """Every reading of the round, in reading-time order, with the round's tag ids."""


def decode(timeline: Timeline) -> dict[str, list[Reading]]:
    """Per tag, its readings as the gateway decodes them, in reading-time order, each once."""
    by_tag: dict[str, dict[tuple[datetime, int | None], Reading]] = {}
    for emission in timeline.emissions:
        for decoder in DECODERS:
            decoded = decoder.decode(emission.topic, emission.payload, emission.at)
            if decoded is not None:
                break
        else:
            raise SystemExit(f"no decoder reads topic {emission.topic}")
        for reading in decoded.readings:
            by_tag.setdefault(reading.tag_id, {}).setdefault((reading.ts, reading.seq), reading)
    return {tag: sorted(seen.values(), key=lambda r: r.ts) for tag, seen in by_tag.items()}


def profile_of(body: dict[str, Any]) -> Profile:
    """The REST body `sim play` registers, as the engine's Profile."""
    metrics = {name: MetricSpec(min=spec.get("min"), max=spec.get("max"),
                                min_duration_s=spec.get("min_duration_s", 0.0),
                                hysteresis=spec.get("hysteresis", 0.0))
               for name, spec in body["metrics"].items()}
    return Profile(name=body["name"], metrics=metrics, silent_after_s=body["silent_after_s"],
                   battery_below_pct=body["battery_below_pct"],
                   battery_hysteresis_pct=body["battery_hysteresis_pct"],
                   description=body["description"])


def build_round(scenario: Scenario, number: int, seed: int, now: datetime) -> Round:
    """Compile one round and read its ground truth; ids get the prefix `r{number}-`."""
    timeline = compile_scenario(scenario, now=now, seed=seed)
    prefix = f"r{number}-"
    fences = {body["id"]: body for body in timeline.geofences}
    arrivals = {e.asset_id: e.at for e in timeline.expected if e.kind == "arrival"}
    by_tag = decode(timeline)
    trips: list[Trip] = []
    assets: list[Asset] = []
    not_arrived: list[str] = []
    readings: list[Reading] = []
    for body in timeline.assets:
        tag_id = body["tag_id"]
        own = [replace(r, tag_id=prefix + tag_id) for r in by_tag.get(tag_id, [])]
        readings += own
        located = [r for r in own if r.position is not None]
        origin = located[0].position if located else None
        due_at = datetime.fromisoformat(body["due_at"]) if body.get("due_at") else None
        asset = Asset(
            id=prefix + body["id"], kind=AssetKind(body["kind"]), flow=Flow(body["flow"]),
            tag_id=prefix + tag_id, sku=body["sku"], serial=body["serial"], lot=body["lot"],
            profile=body["profile"], customer=body["customer"], due_at=due_at,
            destination=body["destination"], created_at=timeline.start,
            origin_lat=origin[0] if origin else None, origin_lon=origin[1] if origin else None)
        assets.append(asset)
        arrival = arrivals.get(body["id"])
        moving = [r for r in located if r.values.get("speed_kmh", 0.0) > 0]
        if arrival is None or due_at is None or not moving:
            not_arrived.append(asset.id)
            continue
        departure = moving[0].ts
        duration = arrival - departure
        found = scenario.group_of(tag_id)
        circle = fences[body["destination"]]["circle"]
        trips.append(Trip(
            asset=asset, group=found[0].prefix if found else "?",
            destination=Circle(circle["lat"], circle["lon"], circle["radius_m"]),
            readings=located, departure=departure, arrival=arrival, due_at=due_at,
            samples=tuple(departure + duration * f for f in FRACTIONS)))
    geofences = [Geofence(body["id"], body["name"], GeofenceKind(body["kind"]),
                          circle=Circle(**body["circle"])) for body in timeline.geofences]
    readings.sort(key=lambda r: (r.ts, r.tag_id))
    return Round(number, seed, timeline, trips, not_arrived, geofences,
                 [profile_of(body) for body in timeline.profiles], assets, readings)


# ----------------------------------------------------------------------------------------
# Playing a round through the engine.


class EventClock:
    """The engine's clock on event time: the newest reading time played so far."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def play(engine: RuleEngine, clock: EventClock, rnd: Round) -> int:
    """Register the round's places and assets, then judge its readings in time order; before
    judging a trip's reading past one of its sample moments, keep the engine's estimate as it
    then stood. Returns the readings judged."""
    clock.now = rnd.timeline.start
    for fence in rnd.geofences:
        engine.upsert_geofence(fence)
    for profile in rnd.profiles:
        engine.upsert_profile(profile)
    engine.upsert_assets(rnd.assets)
    pending = {trip.asset.tag_id: (trip, list(trip.samples)) for trip in rnd.trips}
    next_tick = rnd.timeline.start + TICK
    for reading in rnd.readings:
        while next_tick <= reading.ts:
            clock.now = next_tick
            engine.tick(next_tick)
            next_tick += TICK
        waiting = pending.get(reading.tag_id)
        if waiting is not None:
            trip, samples = waiting
            while samples and samples[0] < reading.ts:
                samples.pop(0)
                trip.rule_etas.append(engine.estimate(trip.asset.id))
        clock.now = max(clock.now, reading.ts)
        failed = engine.judge_readings([reading])
        if failed:
            raise SystemExit(f"the engine failed on {reading.tag_id} at {reading.ts}: "
                             f"{failed[0][1]!r}")
    for trip, samples in pending.values():
        # A sample after the round's last reading (cannot be, since trips arrive within it).
        trip.rule_etas += [engine.estimate(trip.asset.id) for _ in samples]
    return len(rnd.readings)


# ----------------------------------------------------------------------------------------
# The naive rule.


def naive_eta(readings: Sequence[Reading], index: int, destination: Circle) -> datetime | None:
    """Distance left over the average speed of the hour up to readings[index]."""
    last = readings[index]
    first = index
    while first > 0 and readings[first - 1].ts >= last.ts - NAIVE_WINDOW:
        first -= 1
    span_h = (last.ts - readings[first].ts).total_seconds() / 3600
    if span_h < NAIVE_MIN_SPAN.total_seconds() / 3600:
        return None
    km = sum(km_between(a, b) for a, b in pairwise(readings[first:index + 1]))
    kmh = km / span_h
    if kmh < NAIVE_MIN_KMH:
        return None
    lat, lon = position(last)
    left_km = distance_m(lat, lon, destination.lat, destination.lon) / 1000
    return last.ts + timedelta(hours=left_km / kmh)


def position(reading: Reading) -> tuple[float, float]:
    found = reading.position
    assert found is not None  # trips keep located readings only
    return found


def km_between(a: Reading, b: Reading) -> float:
    return distance_m(*position(a), *position(b)) / 1000


def last_index_by(readings: Sequence[Reading], moment: datetime) -> int:
    """The index of the last reading at or before `moment`."""
    low, high = 0, len(readings)
    while low < high:
        middle = (low + high) // 2
        if readings[middle].ts <= moment:
            low = middle + 1
        else:
            high = middle
    return max(0, low - 1)


def naive_estimates(trip: Trip) -> list[datetime | None]:
    return [naive_eta(trip.readings, last_index_by(trip.readings, moment), trip.destination)
            for moment in trip.samples]


def naive_flag(trip: Trip) -> datetime | None:
    """The first reading, from NAIVE_FROM after departure to arrival, whose naive estimate
    is after the due date."""
    for index, reading in enumerate(trip.readings):
        if reading.ts < trip.departure + NAIVE_FROM:
            continue
        if reading.ts >= trip.arrival:
            return None
        eta = naive_eta(trip.readings, index, trip.destination)
        if eta is not None and eta > trip.due_at:
            return reading.ts
    return None


# ----------------------------------------------------------------------------------------
# Figures.


@dataclass(slots=True)
class Judged:
    """What one predictor made of one trip: its estimated arrival at each sample, and when
    it first flagged the trip late."""

    trip: Trip
    etas: list[datetime | None]
    flagged: datetime | None


def hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def errors_at(judged: Sequence[Judged], sample: int) -> dict[str, Any]:
    signed = []
    for j in judged:
        eta = j.etas[sample]
        if eta is not None:
            signed.append(hours(eta - j.trip.arrival))
    absolute = [abs(e) for e in signed]
    return {
        "mae_h": rounded(statistics.fmean(absolute)) if absolute else None,
        "p50_h": rounded(percentile(absolute, 0.5)) if absolute else None,
        "p90_h": rounded(percentile(absolute, 0.9)) if absolute else None,
        "bias_h": rounded(statistics.fmean(signed)) if signed else None,
        "n": len(signed),
        "no_estimate": len(judged) - len(signed),
    }


def lateness(judged: Sequence[Judged]) -> dict[str, Any]:
    late = [j for j in judged if j.trip.late]
    on_time = [j for j in judged if not j.trip.late]
    in_time = [j for j in late if j.flagged is not None
               and j.flagged <= j.trip.due_at - WARNING]
    before_arrival = [j for j in late if j.flagged is not None
                      and j.flagged < j.trip.arrival]
    warnings = [hours(j.trip.due_at - j.flagged) for j in before_arrival
                if j.flagged is not None]
    false_alarms = [j for j in on_time if j.flagged is not None]
    caught = len(in_time) / len(late) if late else None
    alarmed = len(false_alarms) / len(on_time) if on_time else None
    return {
        "late": {
            "trips": len(late),
            "flagged_12h_before_due": len(in_time),
            "share_flagged_12h_before_due": rounded(caught, 3),
            "meets_target": None if caught is None
            else caught >= TARGETS["late_flagged_12h_before_due"],
            "flagged_before_arrival": len(before_arrival),
            "warning_h_median": rounded(statistics.median(warnings)) if warnings else None,
        },
        "false_alarms": {
            "on_time_trips": len(on_time),
            "flagged": len(false_alarms),
            "share": rounded(alarmed, 3),
            "meets_target": None if alarmed is None else alarmed <= TARGETS["false_alarms"],
        },
    }


def figures_of(judged: Sequence[Judged]) -> dict[str, Any]:
    return {
        "eta_abs_error_h": {f"{round(f * 100)}%": errors_at(judged, i)
                            for i, f in enumerate(FRACTIONS)},
        **lateness(judged),
    }


def judge_round(rnd: Round) -> tuple[list[Judged], list[Judged]]:
    """The rule's and the naive rule's judgement of every trip of the round."""
    rule = [Judged(t, [e.p50 if e is not None else None for e in t.rule_etas],
                   min((f for f in t.rule_flags if f < t.arrival), default=None))
            for t in rnd.trips]
    naive = [Judged(t, list(naive_estimates(t)), naive_flag(t)) for t in rnd.trips]
    return rule, naive


def rule_extras(rnd: Round) -> dict[str, Any]:
    """What only the rule tells: how often its p90 held, and what its speeds came from."""
    etas = [(t, e) for t in rnd.trips for e in t.rule_etas if e is not None]
    covered = sum(1 for t, e in etas if t.arrival <= e.p90)
    return {
        "p90_covers": rounded(covered / len(etas), 3) if etas else None,
        "basis": dict(sorted(Counter(str(e.basis) for _, e in etas).items())),
    }


def flagged_at_samples(naive: Sequence[Judged]) -> list[Judged]:
    """The naive rule judged only at the three sample moments: a trip flagged at the first
    whose estimate is after the due date (the coarse reading of the issue's comparison)."""
    judged = []
    for j in naive:
        trip = j.trip
        flagged = None
        for moment, eta in zip(trip.samples, j.etas, strict=True):
            if eta is not None and eta > trip.due_at:
                flagged = trip.readings[last_index_by(trip.readings, moment)].ts
                break
        judged.append(Judged(trip, j.etas, flagged))
    return judged


def round_figures(rnd: Round, rule: Sequence[Judged], naive: Sequence[Judged]
                  ) -> dict[str, Any]:
    late = sum(1 for t in rnd.trips if t.late)
    return {
        "seed": rnd.seed,
        "trips": len(rnd.trips),
        "late": late,
        "late_share": rounded(late / len(rnd.trips), 3) if rnd.trips else None,
        "not_arrived": len(rnd.not_arrived),
        "readings": len(rnd.readings),
        "rule": {**figures_of(rule), **rule_extras(rnd)},
        "naive": figures_of(naive),
        "naive_at_samples": lateness(flagged_at_samples(naive)),
    }


def by_group(rule: Sequence[Judged], naive: Sequence[Judged]) -> dict[str, Any]:
    """Per scenario group (a lane's express, standard, slow or dwelling carriers): enough to
    see which trips a predictor gets wrong."""
    groups: dict[str, list[tuple[Judged, Judged]]] = {}
    for r, n in zip(rule, naive, strict=True):
        groups.setdefault(r.trip.group, []).append((r, n))
    table: dict[str, Any] = {}
    for name, pairs in sorted(groups.items()):
        trips = [r.trip for r, _ in pairs]
        row: dict[str, Any] = {
            "trips": len(trips),
            "late": sum(1 for t in trips if t.late),
            "hours": rounded(statistics.fmean(hours(t.arrival - t.departure) for t in trips), 1),
            "slack_h": rounded(statistics.fmean(hours(t.due_at - t.arrival) for t in trips), 1),
        }
        for label, index in (("rule", 0), ("naive", 1)):
            chosen = [pair[index] for pair in pairs]
            row[label] = {
                "mae_50_h": errors_at(chosen, FRACTIONS.index(0.5))["mae_h"],
                "late_flagged_12h_before_due": sum(
                    1 for j in chosen if j.trip.late and j.flagged is not None
                    and j.flagged <= j.trip.due_at - WARNING),
                "on_time_flagged": sum(
                    1 for j in chosen if not j.trip.late and j.flagged is not None),
            }
        table[name] = row
    return table


def learnt_lanes(engine: RuleEngine) -> dict[str, Any]:
    """The engine's lanes, if it shows them (alerts.eta.LaneSpeeds): not part of the API the
    benchmark relies on, so read loosely."""
    lanes = getattr(engine, "lanes", None)
    show: Callable[[], dict[str, Any]] | None = getattr(lanes, "lanes", None)
    if show is None:
        return {}
    return {name: {"median_kmh": round(s.median_kmh, 1), "slow_kmh": round(s.slow_kmh, 1),
                   "trips": s.trips} for name, s in sorted(show().items())}


# ----------------------------------------------------------------------------------------


def scaled(scenario: Scenario, scale: int) -> Scenario:
    """Every group `scale` times as many tags: more trips per lane, the same shape."""
    if scale == 1:
        return scenario
    return replace(scenario, fleet=tuple(replace(g, count=g.count * scale)
                                         for g in scenario.fleet))


def run(scenario_path: Path, scale: int, learn_seed: int, seed: int) -> dict[str, Any]:
    wall_started = time.perf_counter()
    scenario = scaled(load_scenario(scenario_path), scale)
    learning = build_round(scenario, 1, learn_seed, NOW)
    measured = build_round(scenario, 2, seed, NOW + scenario.duration)
    compile_s = time.perf_counter() - wall_started
    flags: dict[str, list[datetime]] = {}

    def listen(event: EngineEvent) -> None:
        if (isinstance(event, AlertEvent) and event.type == "alert.opened"
                and event.alert.kind == AlertKind.LATE_PREDICTED):
            flags.setdefault(event.alert.asset_id, []).append(event.alert.opened_at)

    with tempfile.TemporaryDirectory(prefix="bench-eta-") as tmp:
        db = open_state_db(f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            clock = EventClock(learning.timeline.start)
            engine = RuleEngine(AlertStore(db), WebhookOutbox(db), SubscriptionStore(db), clock)
            engine.rules_now = clock
            engine.listeners.append(listen)
            played: dict[str, float] = {}
            lanes_after_learning: dict[str, Any] = {}
            judged = 0
            for rnd in (learning, measured):
                started = time.perf_counter()
                judged += play(engine, clock, rnd)
                played[f"round_{rnd.number}_s"] = round(time.perf_counter() - started, 2)
                if rnd is learning:
                    lanes_after_learning = learnt_lanes(engine)
            lanes_at_end = learnt_lanes(engine)
        finally:
            db.close()
    for rnd in (learning, measured):
        for trip in rnd.trips:
            trip.rule_flags = sorted(flags.get(trip.asset.id, []))
    judged_measured = judge_round(measured)
    play_s = sum(played.values())
    return {
        "benchmark": "eta",
        "scenario": scenario.name,
        "scale": scale,
        "tags_per_round": sum(g.count for g in scenario.fleet),
        "targets": TARGETS,
        "measured": round_figures(measured, *judged_measured),
        "by_group": by_group(*judged_measured),
        "learning_round": round_figures(learning, *judge_round(learning)),
        "lanes": {"after_learning": lanes_after_learning, "at_end": lanes_at_end},
        "readings_judged": judged,
        "readings_per_s": round(judged / play_s, 1) if play_s > 0 else None,
        "compile_s": round(compile_s, 2),
        **played,
        "total_s": round(time.perf_counter() - wall_started, 2),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
    }


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--scale", type=int, default=4,
                        help="tags per group, as a multiple of the scenario's: 160 trips a "
                             "round by default, 40 with 1 (about 5 s)")
    parser.add_argument("--learn-seed", type=int, default=1,
                        help="the round the engine learns its lanes from (default 1)")
    parser.add_argument("--seed", type=int, default=2, help="the measured round (default 2)")
    parser.add_argument("--output", type=Path, default=KEPT,
                        help=f"also write the JSON here (default {KEPT.relative_to(ROOT)})")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    if args.seed == args.learn_seed:
        parser.error("--seed must differ from --learn-seed: the measured trips would be "
                     "those the lanes were learnt from")
    figures = run(args.scenario, args.scale, args.learn_seed, args.seed)
    report(figures, args.output)


if __name__ == "__main__":
    main()
