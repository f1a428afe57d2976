"""The out_of_spec rule on its own: duration, boundaries and hysteresis, by reading time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from alerts import MetricSpec
from alerts.rules import Action, Transition
from alerts.rules._state import decode, encode
from alerts.rules.out_of_spec import OutOfSpecState, judge

SPEC = MetricSpec(min=2, max=8, min_duration_s=300, hysteresis=0.5)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def run(values: list[tuple[float, float]], spec: MetricSpec = SPEC) -> list[Transition]:
    """(seconds after T0, value) pairs through the rule; returns every transition."""
    state = OutOfSpecState()
    found: list[Transition] = []
    for seconds, value in values:
        state, transitions = judge("temp_c", spec, state, value, T0 + timedelta(seconds=seconds))
        found += transitions
    return found


def actions(transitions: list[Transition]) -> list[Action]:
    return [t.action for t in transitions if t.action is not Action.REFRESH]


def test_opens_exactly_at_the_minimum_duration() -> None:
    found = run([(0, 9), (299, 9), (300, 9)])
    assert actions(found) == [Action.OPEN]
    assert found[-1].at == T0 + timedelta(seconds=300)


def test_one_second_short_of_the_duration_opens_nothing() -> None:
    assert run([(0, 9), (299, 9), (299.5, 7)]) == []


def test_values_on_the_bounds_are_inside() -> None:
    assert run([(0, 8), (400, 8), (800, 2)]) == []


def test_coming_back_inside_restarts_the_clock() -> None:
    assert actions(run([(0, 9), (200, 7.9), (250, 9), (500, 9)])) == []
    assert actions(run([(0, 9), (200, 7.9), (250, 9), (550, 9)])) == [Action.OPEN]


def test_zero_duration_opens_on_the_first_bad_reading() -> None:
    found = run([(0, 9)], MetricSpec(max=8))
    assert actions(found) == [Action.OPEN]


def test_flapping_inside_the_hysteresis_band_keeps_one_alert_open() -> None:
    found = run([(0, 9), (300, 9), (360, 7.6), (420, 8.4), (480, 7.9), (540, 9)])
    assert actions(found) == [Action.OPEN]


def test_resolves_at_the_hysteresis_edge() -> None:
    found = run([(0, 9), (300, 9), (360, 7.5)])
    assert actions(found) == [Action.OPEN, Action.RESOLVE]
    assert run([(0, 1), (300, 1), (360, 2.4)])[-1].action is not Action.RESOLVE
    assert run([(0, 1), (300, 1), (360, 2.5)])[-1].action is Action.RESOLVE


def test_the_alert_carries_the_peak_and_the_duration() -> None:
    found = run([(0, 9), (100, 12), (300, 10)])
    opened = found[-1]
    assert opened.value == 12
    assert opened.details["duration_s"] == 300
    assert opened.details["outside_since"] == T0.isoformat()


def test_the_peak_is_the_value_furthest_outside_on_either_side() -> None:
    found = run([(0, 1.0), (100, -3.0), (300, 1.5)])
    assert found[-1].value == -3.0


def test_a_new_excursion_after_resolving_opens_a_new_alert() -> None:
    found = run([(0, 9), (300, 9), (360, 5), (400, 9), (700, 9)])
    assert actions(found) == [Action.OPEN, Action.RESOLVE, Action.OPEN]


def test_state_survives_encoding() -> None:
    state = OutOfSpecState(outside_since=T0, peak=9.5, open=True)
    assert decode(OutOfSpecState, orjson.loads(encode(state))) == state
