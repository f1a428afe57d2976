"""overdue: due_at + grace passed without arrival; escalates to critical; timer-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alerts.domain import Asset, AssetKind, AssetState, Flow, Severity
from alerts.rules import Action, Transition
from alerts.rules.overdue import OverdueState, judge_clock

DUE = datetime(2026, 11, 20, 12, tzinfo=UTC)
RENTAL = Asset(id="r1", kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, due_at=DUE,
               customer="ACME")
GRACE, ESCALATE = timedelta(hours=1), timedelta(days=3)


NOT_YET = OverdueState()


def at(
    delta: timedelta, state: OverdueState = NOT_YET, asset: Asset = RENTAL
) -> tuple[OverdueState, list[Transition]]:
    return judge_clock(asset, GRACE, ESCALATE, state, DUE + delta, None)


def test_not_overdue_within_the_grace() -> None:
    assert at(timedelta(minutes=59))[1] == []


def test_overdue_exactly_at_due_plus_grace_as_a_warning() -> None:
    _, found = at(GRACE)
    assert [(t.action, t.severity) for t in found] == [(Action.OPEN, Severity.WARNING)]
    assert "rental not returned" in found[0].summary
    assert found[0].details["customer"] == "ACME"


def test_escalates_once_to_critical_as_an_update() -> None:
    state, _ = at(GRACE)
    state, found = at(GRACE + ESCALATE, state)
    assert [(t.action, t.severity) for t in found] == [(Action.UPDATE, Severity.CRITICAL)]
    assert at(GRACE + ESCALATE + timedelta(days=1), state)[1] == []


def test_found_long_after_due_it_opens_critical_directly() -> None:
    _, found = at(GRACE + ESCALATE + timedelta(hours=1))
    assert [(t.action, t.severity) for t in found] == [(Action.OPEN, Severity.CRITICAL)]


def test_an_arrived_asset_or_one_without_due_date_is_never_overdue() -> None:
    assert at(timedelta(days=10), asset=replace(RENTAL, state=AssetState.RETURNED))[1] == []
    assert at(timedelta(days=10), asset=replace(RENTAL, due_at=None))[1] == []


def test_found_late_it_opens_when_the_grace_ran_out() -> None:
    """A tick long after dates the alert when it became overdue, not when it was noticed."""
    _, [opened] = at(timedelta(hours=7))
    assert opened.action is Action.OPEN and opened.at == DUE + GRACE
