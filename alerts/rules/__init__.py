"""Alert rules, one module per kind plus arrival; each pure: plain data in, transitions out,
time passed in. Each module's state dataclass is the per-asset state the engine keeps for it."""

from alerts.rules import arrival, geofence, low_battery, out_of_spec, overdue, recall, silent
from alerts.rules._base import Action, Transition

__all__ = [
    "Action",
    "Transition",
    "arrival",
    "geofence",
    "low_battery",
    "out_of_spec",
    "overdue",
    "recall",
    "silent",
]
