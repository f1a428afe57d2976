"""`geofence`: the asset left its allowed area; resolves when it is inside again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alerts.geo import Zone
from alerts.rules._base import Action, Transition
from gateway.domain import AlertKind, Location, Severity

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
