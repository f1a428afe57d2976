"""silent: found by the clock after silent_after_s without a reading; any reading resolves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.rules import Action
from alerts.rules.silent import SilentState, judge_clock, judge_reading

T0 = datetime(2026, 11, 29, tzinfo=UTC)


def test_exactly_at_the_limit_it_opens() -> None:
    state, found = judge_clock(3600, T0, SilentState(), T0 + timedelta(seconds=3599), None)
    assert found == []
    state, found = judge_clock(3600, T0, state, T0 + timedelta(seconds=3600), None)
    assert [t.action for t in found] == [Action.OPEN] and state.open


def test_later_ticks_do_not_open_a_second_alert() -> None:
    state, _ = judge_clock(60, T0, SilentState(), T0 + timedelta(minutes=2), None)
    state, found = judge_clock(60, T0, state, T0 + timedelta(minutes=3), None)
    assert found == []


def test_any_reading_resolves_it() -> None:
    state, _ = judge_clock(60, T0, SilentState(), T0 + timedelta(minutes=2), None)
    state, found = judge_reading(state, T0 + timedelta(minutes=3))
    assert [t.action for t in found] == [Action.RESOLVE] and not state.open
    assert judge_reading(state, T0 + timedelta(minutes=4))[1] == []


def test_found_late_it_opens_when_the_silence_passed_the_limit() -> None:
    """A tick long after (a timer interval, or on event time a clock that jumped over a gap
    in the readings) dates the alert when the tag went silent, not when it was noticed."""
    _, found = judge_clock(3600, T0, SilentState(), T0 + timedelta(hours=5), None)
    assert found[0].at == T0 + timedelta(hours=1)
    assert found[0].summary == "no reading for 300 min (limit 60 min)"
