"""`low_battery`: battery below the profile's threshold; resolves at threshold + hysteresis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from ingest.readings import Reading

NAME = "low_battery"


@dataclass(frozen=True, slots=True)
class LowBatteryState:
    open: bool = False
    lowest: float | None = None


def judge(
    below_pct: float,
    hysteresis_pct: float,
    state: LowBatteryState,
    battery_pct: float,
    at: datetime,
    location: Location | None = None,
) -> tuple[LowBatteryState, list[Transition]]:
    if not state.open:
        if battery_pct >= below_pct:
            return state, []
        opened = Transition(
            Action.OPEN, AlertKind.LOW_BATTERY, key="battery_pct", at=at,
            severity=Severity.WARNING,
            summary=f"battery at {battery_pct:g} %, below {below_pct:g} %",
            value=battery_pct, details={"threshold_pct": below_pct}, location=location,
        )
        return LowBatteryState(open=True, lowest=battery_pct), [opened]
    if battery_pct >= below_pct + hysteresis_pct:
        resolved = Transition(
            Action.RESOLVE, AlertKind.LOW_BATTERY, key="battery_pct", at=at,
            summary=f"battery back at {battery_pct:g} %", value=battery_pct,
            details={"lowest_pct": state.lowest}, location=location,
        )
        return LowBatteryState(), [resolved]
    lowest = battery_pct if state.lowest is None else min(state.lowest, battery_pct)
    if lowest == state.lowest:
        return state, []
    refreshed = Transition(Action.REFRESH, AlertKind.LOW_BATTERY, key="battery_pct", at=at,
                           value=lowest, details={"lowest_pct": lowest}, location=location)
    return LowBatteryState(open=True, lowest=lowest), [refreshed]


class LowBatteryRule(Rule):
    """`battery_pct` of a reading newer than any before, against the asset's profile."""

    name = NAME
    state_type = LowBatteryState

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if not context.newer:
            return NOTHING
        battery = reading.values.get("battery_pct")
        if battery is None:
            return NOTHING
        profile = context.profile(asset)
        if profile is None or profile.battery_below_pct is None:
            return NOTHING
        after, found = judge(profile.battery_below_pct, profile.battery_hysteresis_pct,
                             context.state(asset.id, "", LowBatteryState), battery, reading.ts,
                             context.last_location)
        context.put(asset.id, "", after)
        return found


RULE = LowBatteryRule()
