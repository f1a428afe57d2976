"""The faults a scenario can inject, one small function each, acting on one tag's run.

A run goes through phases, and each fault acts in one of them:
- readings: what the tag measures and when (excursions, drop, opened, tilt, dying_battery,
  clock_skew, silent);
- delivery: when the measured readings go out (offline_burst);
- messages: what is published besides or instead (duplicates, malformed, oversized,
  impersonation).
The plan faults (overdue, recalled_lot, geofence_exit) change the asset or its route and
are applied by the compiler before the readings exist.

Every function returns how many times it injected the fault: 1 per tag for the reading and
delivery faults (0 when the window held no reading), 1 per message for the message faults.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from device_sim._formats import Outgoing, TagWire
from device_sim._truth import WireReading
from device_sim.scenario import (
    CONTRACT_RANGES,
    FAULT_METRIC,
    FaultSpec,
    FleetGroup,
    ProfileSpec,
    excursion_noise,
)

# Far above any seq a tag reaches in a run, so a forged reading that got through could never
# be taken for (and deduplicated as) one of the victim's own.
SPOOFED_SEQ_BASE = 1_000_000_000
# Message faults that publish several messages space them this far apart.
MESSAGE_SPACING_S = 60
_DECIMALS = {"temp_c": 2, "humidity_pct": 1, "shock_g": 2, "tilt_deg": 1, "light_lux": 1,
             "battery_pct": 1}


@dataclass(slots=True)
class Sample:
    """One reading the tag takes, at `t` seconds from the run's start (true time)."""

    t: int
    values: dict[str, float]
    skew_s: int = 0
    send_t: int = -1
    seq: int = -1
    fault: str = ""

    def ts(self, start: datetime) -> datetime:
        """The reading's time by the tag's own clock."""
        return start + timedelta(seconds=self.t + self.skew_s)

    def outgoing(self, start: datetime) -> Outgoing:
        return Outgoing(self.ts(start), self.seq, self.values)


@dataclass(slots=True)
class Message:
    """One MQTT publish, at `t` seconds from the run's start."""

    t: int
    topic: str
    payload: bytes
    username: str
    fault: str
    readings: tuple[WireReading, ...] = ()
    """What the gateway keeps of it, if the broker lets it through; () for dead letters."""
    delivered: bool = True
    """False when the broker refuses it (a publish outside the login's topics)."""


@dataclass(slots=True)
class TagRun:
    """One tag through the run: who it is, and its samples and messages as they are built."""

    tag_id: str
    asset_id: str
    group: FleetGroup
    profile: ProfileSpec | None
    wire: TagWire
    start: datetime
    run_s: int
    rng: random.Random
    samples: list[Sample] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def window(self, fault: FaultSpec) -> tuple[int, int]:
        """[from, to) in seconds from the start; no duration: to the end of the run."""
        begin = int(fault.at.total_seconds())
        if fault.duration is None:
            return begin, self.run_s + 1
        return begin, begin + int(fault.duration.total_seconds())

    def in_window(self, fault: FaultSpec) -> list[Sample]:
        begin, end = self.window(fault)
        return [s for s in self.samples if begin <= s.t < end]

    def nearest_sample(self, t: int) -> Sample:
        """The reading taken closest to t, for faults that borrow plausible values."""
        return min(self.samples, key=lambda s: (abs(s.t - t), s.t))


Fault = Callable[[TagRun, FaultSpec, "Fleet"], int]


class Fleet:
    """The other tags, for faults that involve two (impersonation)."""

    def __init__(self, runs: dict[str, TagRun]) -> None:
        self.runs = runs

    def victim_for(self, run: TagRun, fault: FaultSpec) -> TagRun:
        if fault.target is not None:
            return self.runs[fault.target]
        ids = sorted(self.runs)
        # The next tag in id order: deterministic, and never the impersonator itself.
        return self.runs[ids[(ids.index(run.tag_id) + 1) % len(ids)]]


# Readings -------------------------------------------------------------------------------


def _excursion(run: TagRun, fault: FaultSpec) -> int:
    """Readings in the window read `value` (give or take a little) for the fault's metric."""
    metric = FAULT_METRIC[fault.name]
    assert fault.value is not None
    noise = excursion_noise(fault.name, fault.value)
    low, high = CONTRACT_RANGES[metric]
    hit = run.in_window(fault)
    for sample in hit:
        value = fault.value + run.rng.uniform(-noise, noise)
        sample.values[metric] = round(min(high, max(low, value)), _DECIMALS[metric])
        sample.fault = fault.name
    return 1 if hit else 0


def temp_excursion(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    return _excursion(run, fault)


def humidity_excursion(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    return _excursion(run, fault)


def opened(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """Light inside the package: somebody opened it."""
    return _excursion(run, fault)


def tilt(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    return _excursion(run, fault)


def drop(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """One reading whose peak acceleration is `value` g."""
    begin = int(fault.at.total_seconds())
    after = [s for s in run.samples if s.t >= begin]
    if not after:
        return 0
    assert fault.value is not None
    after[0].values["shock_g"] = round(fault.value, 2)
    after[0].fault = fault.name
    return 1


def dying_battery(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """From `at`, the battery falls steadily to `value` % over `duration`, then on, slower."""
    begin = int(fault.at.total_seconds())
    span = max(1, int((fault.duration or timedelta(hours=6)).total_seconds()))
    assert fault.value is not None
    after = [s for s in run.samples if s.t >= begin and "battery_pct" in s.values]
    if not after:
        return 0
    first = after[0].values["battery_pct"]
    for sample in after:
        elapsed = sample.t - begin
        if elapsed <= span:
            level = first - (first - fault.value) * elapsed / span
        else:
            level = fault.value - 0.5 * (elapsed - span) / 3600
        sample.values["battery_pct"] = round(max(0.0, level), 1)
        sample.fault = fault.name
    return 1


def clock_skew(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """The tag's clock runs `value` seconds off: its readings' ts, not their sending."""
    assert fault.value is not None
    hit = run.in_window(fault)
    for sample in hit:
        sample.skew_s = int(fault.value)
        sample.fault = sample.fault or fault.name
    return 1 if hit else 0


def silent(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """The tag takes no readings in the window (a dead radio, a tag in a metal container)."""
    begin, end = run.window(fault)
    before = len(run.samples)
    run.samples = [s for s in run.samples if not begin <= s.t < end]
    return 1 if len(run.samples) < before else 0


# Delivery -------------------------------------------------------------------------------


def offline_burst(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """Readings due to go out in the window are kept and all sent when it ends."""
    begin, end = run.window(fault)
    burst_t = min(end, run.run_s)
    hit = [s for s in run.samples if begin <= s.send_t < end]
    for sample in hit:
        sample.send_t = burst_t
        sample.fault = fault.name
    return 1 if hit else 0


# Messages -------------------------------------------------------------------------------


def duplicates(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """Some messages go out twice, byte for byte (a QoS 1 redelivery)."""
    begin, end = run.window(fault)
    candidates = [i for i, m in enumerate(run.messages) if begin <= m.t < end and m.delivered]
    picked = sorted(run.rng.sample(candidates, min(fault.messages, len(candidates))))
    for i in reversed(picked):
        original = run.messages[i]
        original.fault = fault.name
        run.messages.insert(i + 1, Message(original.t, original.topic, original.payload,
                                           original.username, fault.name, original.readings))
    return len(picked)


def _message_times(run: TagRun, fault: FaultSpec) -> list[int]:
    begin = int(fault.at.total_seconds())
    return [min(run.run_s, begin + i * MESSAGE_SPACING_S) for i in range(fault.messages)]


def malformed(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """Payloads that break the contract, on the tag's own topic: dead-lettered."""
    for variant, t in enumerate(_message_times(run, fault)):
        reading = run.nearest_sample(t).outgoing(run.start)
        payload = run.wire.malformed(variant, reading, run.start + timedelta(seconds=t))
        run.messages.append(Message(t, run.wire.topic, payload, run.wire.username, fault.name))
    return fault.messages


def oversized(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """Messages over 256 KiB on the tag's own topic: dead-lettered."""
    for t in _message_times(run, fault):
        reading = run.nearest_sample(t).outgoing(run.start)
        payload = run.wire.oversized(reading, run.start + timedelta(seconds=t))
        run.messages.append(Message(t, run.wire.topic, payload, run.wire.username, fault.name))
    return fault.messages


def impersonation(run: TagRun, fault: FaultSpec, fleet: Fleet) -> int:
    """The tag, logged in as itself, publishes a forged reading on another tag's topic; the
    broker's ACL refuses it."""
    victim = fleet.victim_for(run, fault)
    for i, t in enumerate(_message_times(run, fault)):
        own = run.nearest_sample(t)
        sent_at = run.start + timedelta(seconds=t)
        forged = Outgoing(sent_at, SPOOFED_SEQ_BASE + i, own.values)
        run.messages.append(Message(t, victim.wire.topic, victim.wire.spoof(forged, sent_at),
                                    run.wire.username, fault.name, delivered=False))
    return fault.messages


READING_FAULTS: dict[str, Fault] = {
    "temp_excursion": temp_excursion,
    "humidity_excursion": humidity_excursion,
    "drop": drop,
    "opened": opened,
    "tilt": tilt,
    "dying_battery": dying_battery,
    "clock_skew": clock_skew,
    "silent": silent,
}
DELIVERY_FAULTS: dict[str, Fault] = {"offline_burst": offline_burst}
MESSAGE_FAULTS: dict[str, Fault] = {
    "duplicates": duplicates,
    "malformed": malformed,
    "oversized": oversized,
    "impersonation": impersonation,
}
PLAN_FAULTS: frozenset[str] = frozenset({"overdue", "recalled_lot", "geofence_exit"})
