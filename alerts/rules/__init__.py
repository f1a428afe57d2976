"""Alert rules, one module per kind plus arrival, and `RULES`, the registry the engine judges
with: a new rule is a module (its pure judgement and a small `Rule` class over it) and a line
here (a new kind of alert is also a member of `alerts.domain.AlertKind`). Each rule keeps
its own per-asset state, of its `state_type`, under its `name`."""

from alerts.rules import (
    arrival,
    eta,
    geofence,
    low_battery,
    out_of_spec,
    overdue,
    recall,
    silent,
)
from alerts.rules._base import (
    NOTHING,
    Action,
    EnginePolicy,
    Rule,
    RuleContext,
    Transition,
)

RULES: tuple[Rule, ...] = (
    overdue.RULE,
    recall.RULE,
    silent.RULE,
    out_of_spec.RULE,
    low_battery.RULE,
    geofence.RULE,
    recall.QUARANTINE,
    arrival.RULE,
    eta.RULE,
)
"""In the order the engine calls them on each hook, which is the order of the transitions of
one reading (or tick, or arrival) that subscribers hear. Overdue's only transitions are on
the clock and at arrival, where they come first."""

__all__ = [
    "NOTHING",
    "RULES",
    "Action",
    "EnginePolicy",
    "Rule",
    "RuleContext",
    "Transition",
    "arrival",
    "eta",
    "geofence",
    "low_battery",
    "out_of_spec",
    "overdue",
    "recall",
    "silent",
]
