"""An asset's condition at a moment, in the words of the fleet map: in transit, overdue, out
of spec, recalled, received or returned. Derived from the asset, its open alerts and what
the engine has seen of it; written to the time series so that dashboards need no joins."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alerts.domain import AlertKind, Asset
from alerts.eta import Eta
from alerts.profiles import Profile


class Condition(StrEnum):
    IN_TRANSIT = "in_transit"
    OVERDUE = "overdue"
    OUT_OF_SPEC = "out_of_spec"
    RECALLED = "recalled"
    RECEIVED = "received"
    RETURNED = "returned"


# What a manager must act on first names the condition when several alerts are open: a
# recalled item before spoiled goods, spoiled goods before a late one.
_PRECEDENCE = (
    (AlertKind.RECALL, Condition.RECALLED),
    (AlertKind.OUT_OF_SPEC, Condition.OUT_OF_SPEC),
    (AlertKind.OVERDUE, Condition.OVERDUE),
)


EXCURSION_METRICS = ("temp_c", "humidity_pct", "light_lux")
"""`out_of_spec` keys that are an environmental excursion (the goods' surroundings)."""
DAMAGE_METRICS = ("shock_g", "tilt_deg")
"""`out_of_spec` keys that are handling damage."""


@dataclass(frozen=True, slots=True)
class AssetCondition:
    asset: Asset
    at: datetime
    condition: Condition
    open_kinds: frozenset[str]
    lat: float | None = None
    lon: float | None = None
    trip_started_at: datetime | None = None
    disposition: str | None = None
    """The recommendation at arrival (quarantine, inspect, restock); None before."""
    limits: tuple[tuple[str, float | None, float | None], ...] = ()
    """(metric, min, max) of the asset's profile, battery_pct's min its low threshold."""
    trip_duration_s: float | None = None
    """At arrival: the trip's duration, from its first reading to the arrival reading."""
    actual: str | None = None
    """The inspection's disposition, where this is the condition at the inspection."""
    turnaround_h: float | None = None
    """A rental made available again: hours from its return."""
    eta: Eta | None = None
    """On its way: the latest estimate of arrival (docs/eta.md)."""

    @property
    def transit_s(self) -> float | None:
        """On the way: time since the trip began. Arrived: the trip's duration where this
        is the arrival's condition, else unknown (a later point must not stretch it)."""
        if self.asset.state.arrived:
            return self.trip_duration_s
        if self.trip_started_at is None:
            return None
        return max(0.0, (self.at - self.trip_started_at).total_seconds())

    @property
    def due_in_s(self) -> float | None:
        """Seconds until `due_at`; negative once it has passed."""
        if self.asset.due_at is None:
            return None
        return (self.asset.due_at - self.at).total_seconds()


def condition_of(asset: Asset, open_kinds: Collection[str]) -> Condition:
    if asset.state.arrived:
        return Condition(str(asset.state))
    for kind, condition in _PRECEDENCE:
        if kind in open_kinds:
            return condition
    return Condition.IN_TRANSIT


def limits_of(profile: Profile | None) -> tuple[tuple[str, float | None, float | None], ...]:
    if profile is None:
        return ()
    limits = [(metric, spec.min, spec.max) for metric, spec in sorted(profile.metrics.items())]
    if profile.battery_below_pct is not None:
        limits.append(("battery_pct", profile.battery_below_pct, None))
    return tuple(limits)
