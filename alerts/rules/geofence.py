"""`geofence`: the asset left its allowed area; resolves when it is inside again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts.domain import AlertKind, Asset, Location, Severity
from alerts.geo import Zone
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from ingest.readings import Reading

NAME = "geofence"


@dataclass(frozen=True, slots=True)
class GeofenceState:
    outside: bool = False
    left_at: datetime | None = None


def judge(
    area: Zone, state: GeofenceState, location: Location
) -> tuple[GeofenceState, list[Transition]]:
    """One located reading, newer than any before it."""
    inside = area.contains(location.lat, location.lon)
    fence = area.fence
    if not inside and not state.outside:
        opened = Transition(
            Action.OPEN, AlertKind.GEOFENCE, key=fence.id, at=location.ts,
            severity=Severity.WARNING,
            summary=f"left its allowed area {fence.name}",
            details={"geofence_id": fence.id, "geofence": fence.name}, location=location,
        )
        return GeofenceState(outside=True, left_at=location.ts), [opened]
    if inside and state.outside:
        resolved = Transition(
            Action.RESOLVE, AlertKind.GEOFENCE, key=fence.id, at=location.ts,
            summary=f"back inside {fence.name}", location=location,
            details={"outside_s": (location.ts - state.left_at).total_seconds()
                     if state.left_at else None},
        )
        return GeofenceState(), [resolved]
    if state.outside:
        return state, [Transition(Action.REFRESH, AlertKind.GEOFENCE, key=fence.id,
                                  at=location.ts, location=location)]
    return state, []


class GeofenceRule(Rule):
    """A located reading, newer than any before, against the asset's allowed area; one state
    per area (keyed by its geofence id)."""

    name = NAME
    state_type = GeofenceState

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if location is None or not context.newer:
            return NOTHING
        area = context.zones.get(asset.allowed_area or "")
        if area is None:
            return NOTHING
        before = context.state(asset.id, area.fence.id, GeofenceState)
        after, found = judge(area, before, location)
        context.put(asset.id, area.fence.id, after)
        return found


RULE = GeofenceRule()
