"""`overdue`: past `due_at` + grace and not arrived (a rental not returned, a return
shipment late), found by the timer; escalates to critical after a configurable time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.rules._base import Action, Rule, RuleContext, Transition

if TYPE_CHECKING:
    from alerts.rules.arrival import Arrival

NAME = "overdue"


@dataclass(frozen=True, slots=True)
class OverdueState:
    open: bool = False
    escalated: bool = False


def judge_clock(
    asset: Asset,
    grace: timedelta,
    escalate_after: timedelta,
    state: OverdueState,
    now: datetime,
    location: Location | None,
) -> tuple[OverdueState, list[Transition]]:
    if asset.due_at is None or asset.state.arrived:
        return state, []
    late_from = asset.due_at + grace
    if now < late_from:
        return state, []
    days_late = (now - asset.due_at).total_seconds() / 86_400
    what = "rental not returned" if asset.kind == "rental" else "return not received"
    details = {"due_at": asset.due_at.isoformat(), "days_late": round(days_late, 2),
               "customer": asset.customer}
    if not state.open:
        severity = Severity.CRITICAL if now >= late_from + escalate_after else Severity.WARNING
        # Opened when it became overdue, whenever the timer (or, on event time, a clock
        # that jumped over a gap in the readings) finds it.
        opened = Transition(
            Action.OPEN, AlertKind.OVERDUE, key="", at=late_from, severity=severity,
            summary=f"{what}: due {asset.due_at:%Y-%m-%d %H:%M} UTC", value=days_late,
            details=details, location=location,
        )
        return OverdueState(open=True, escalated=severity is Severity.CRITICAL), [opened]
    if not state.escalated and now >= late_from + escalate_after:
        escalated = Transition(
            Action.UPDATE, AlertKind.OVERDUE, key="", at=now, severity=Severity.CRITICAL,
            summary=f"{what}: {days_late:.0f} days late", value=days_late, details=details,
            location=location,
        )
        return OverdueState(open=True, escalated=True), [escalated]
    return state, []


class OverdueRule(Rule):
    name = NAME
    state_type = OverdueState
    per_trip = True

    def on_clock(self, context: RuleContext, asset: Asset, now: datetime
                 ) -> Sequence[Transition]:
        policy = context.policy
        after, found = judge_clock(asset, policy.overdue_grace, policy.overdue_escalate_after,
                                   context.state(asset.id, "", OverdueState), now,
                                   context.last_location)
        context.put(asset.id, "", after)
        return found

    def on_arrival(self, context: RuleContext, asset: Asset, arrival: Arrival
                   ) -> Sequence[Transition]:
        """Arrival ends lateness: the alert, if one is open, resolves."""
        return [Transition(Action.RESOLVE, AlertKind.OVERDUE, key="", at=arrival.at,
                           location=arrival.location,
                           summary=f"arrived at {arrival.destination.fence.name}")]


RULE = OverdueRule()
