"""`out_of_spec`: a profile metric outside its range for at least its minimum duration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.profiles import MetricSpec
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from ingest.readings import Reading

NAME = "out_of_spec"


@dataclass(frozen=True, slots=True)
class OutOfSpecState:
    """Per asset and metric. `outside_since` is the reading time the excursion began."""

    outside_since: datetime | None = None
    peak: float | None = None
    open: bool = False


def _worse(spec: MetricSpec, a: float, b: float) -> float:
    """The value further outside the range."""
    def distance(v: float) -> float:
        below = spec.min - v if spec.min is not None else 0.0
        above = v - spec.max if spec.max is not None else 0.0
        return max(below, above)

    return a if distance(a) >= distance(b) else b


def judge(
    metric: str,
    spec: MetricSpec,
    state: OutOfSpecState,
    value: float,
    at: datetime,
    location: Location | None = None,
) -> tuple[OutOfSpecState, list[Transition]]:
    """One reading of one metric. The caller has already dropped readings older than the
    newest seen, so `at` never goes back in time here."""
    outside = spec.outside(value)
    if not state.open:
        if not outside:
            return OutOfSpecState(), []
        since = state.outside_since or at
        peak = value if state.peak is None else _worse(spec, state.peak, value)
        duration = (at - since).total_seconds()
        if duration < spec.min_duration_s:
            return OutOfSpecState(outside_since=since, peak=peak), []
        opened = Transition(
            Action.OPEN,
            AlertKind.OUT_OF_SPEC,
            key=metric,
            at=at,
            severity=Severity.WARNING,
            summary=f"{metric} {value:g} outside [{_fmt(spec.min)}, {_fmt(spec.max)}] "
            f"for {duration:.0f} s",
            value=peak,
            details=_details(metric, spec, since, at, peak),
            location=location,
        )
        return OutOfSpecState(outside_since=since, peak=peak, open=True), [opened]

    assert state.outside_since is not None
    if outside or not spec.back_inside(value):
        # Still bad, or inside the hysteresis band: the same alert stays open.
        peak = value if state.peak is None else _worse(spec, state.peak, value)
        if not outside:
            return state, []
        refreshed = Transition(
            Action.REFRESH,
            AlertKind.OUT_OF_SPEC,
            key=metric,
            at=at,
            value=peak,
            details=_details(metric, spec, state.outside_since, at, peak),
            location=location,
        )
        return replace(state, peak=peak), [refreshed]
    resolved = Transition(
        Action.RESOLVE,
        AlertKind.OUT_OF_SPEC,
        key=metric,
        at=at,
        summary=f"{metric} back in range at {value:g}",
        value=value,
        details=_details(metric, spec, state.outside_since, at, state.peak),
        location=location,
    )
    return OutOfSpecState(), [resolved]


def _fmt(bound: float | None) -> str:
    return "-" if bound is None else f"{bound:g}"


def _details(
    metric: str, spec: MetricSpec, since: datetime, at: datetime, peak: float | None
) -> dict[str, Any]:
    return {
        "metric": metric,
        "min": spec.min,
        "max": spec.max,
        "min_duration_s": spec.min_duration_s,
        "hysteresis": spec.hysteresis,
        "outside_since": since.isoformat(),
        "duration_s": (at - since).total_seconds(),
        "peak": peak,
    }


class OutOfSpecRule(Rule):
    """Each metric of the asset's profile in a reading newer than any before, one state per
    metric (keyed by it); the alert is pinned to the newest known position."""

    name = NAME
    state_type = OutOfSpecState

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if not context.newer:
            return NOTHING
        profile = context.profile(asset)
        if profile is None:
            return NOTHING
        transitions: list[Transition] = []
        values = reading.values
        for metric, spec in profile.metrics.items():
            value = values.get(metric)
            if value is None:
                continue
            before = context.state(asset.id, metric, OutOfSpecState)
            after, found = judge(metric, spec, before, value, reading.ts, context.last_location)
            context.put(asset.id, metric, after)
            transitions += found
        return transitions


RULE = OutOfSpecRule()
