"""`silent`: no reading for the profile's `silent_after_s`, found by the timer; any reading
resolves it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from ingest.readings import Reading

NAME = "silent"


@dataclass(frozen=True, slots=True)
class SilentState:
    open: bool = False


def judge_clock(
    silent_after_s: float,
    last_heard: datetime,
    state: SilentState,
    now: datetime,
    location: Location | None,
) -> tuple[SilentState, list[Transition]]:
    """`last_heard`: the newest reading's time, or the registration time before any."""
    quiet_s = (now - last_heard).total_seconds()
    if state.open or quiet_s < silent_after_s:
        return state, []
    # Opened when the silence passed the limit, whenever the timer (or, on event time, a
    # clock that jumped over a gap in the readings) finds it.
    opened = Transition(
        Action.OPEN, AlertKind.SILENT, key="", at=last_heard + timedelta(seconds=silent_after_s),
        severity=Severity.WARNING,
        summary=f"no reading for {quiet_s / 60:.0f} min (limit {silent_after_s / 60:g} min)",
        details={"last_heard": last_heard.isoformat(), "silent_after_s": silent_after_s},
        location=location,
    )
    return SilentState(open=True), [opened]


def judge_reading(state: SilentState, at: datetime) -> tuple[SilentState, list[Transition]]:
    if not state.open:
        return state, []
    return SilentState(), [Transition(Action.RESOLVE, AlertKind.SILENT, key="", at=at,
                                      summary="reporting again")]


class SilentRule(Rule):
    name = NAME
    state_type = SilentState

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        """Any reading, a late one too."""
        after, found = judge_reading(context.state(asset.id, "", SilentState), reading.ts)
        context.put(asset.id, "", after)
        return found

    def on_clock(self, context: RuleContext, asset: Asset, now: datetime
                 ) -> Sequence[Transition]:
        """Counted from registration before the first reading; not for arrived assets."""
        profile = context.profile(asset)
        last_heard = context.last_heard or asset.created_at
        if (profile is None or not profile.silent_after_s or last_heard is None
                or asset.state.arrived):
            return NOTHING
        after, found = judge_clock(profile.silent_after_s, last_heard,
                                   context.state(asset.id, "", SilentState), now,
                                   context.last_location)
        context.put(asset.id, "", after)
        return found


RULE = SilentRule()
