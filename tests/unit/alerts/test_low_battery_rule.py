"""low_battery: below the threshold opens; threshold + hysteresis resolves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.rules import Action, Transition
from alerts.rules.low_battery import LowBatteryState, judge

T0 = datetime(2026, 11, 29, tzinfo=UTC)


def run(values: list[float], below: float = 15, hysteresis: float = 5) -> list[Transition]:
    state, found = LowBatteryState(), []
    for minute, value in enumerate(values):
        state, transitions = judge(below, hysteresis, state, value, T0 + timedelta(minutes=minute))
        found += transitions
    return found


def announced(found: list[Transition]) -> list[Action]:
    return [t.action for t in found if t.action is not Action.REFRESH]


def test_the_threshold_itself_is_not_low() -> None:
    assert run([20, 15, 15]) == []


def test_below_the_threshold_opens_once() -> None:
    assert announced(run([16, 14.9, 12, 10])) == [Action.OPEN]


def test_flapping_inside_the_hysteresis_keeps_it_open() -> None:
    assert announced(run([14, 16, 14, 19.9, 13])) == [Action.OPEN]


def test_threshold_plus_hysteresis_resolves() -> None:
    assert announced(run([14, 20])) == [Action.OPEN, Action.RESOLVE]


def test_the_alert_follows_the_lowest_value() -> None:
    found = run([14, 9, 11])
    assert found[-1].action is Action.REFRESH and found[-1].value == 9
