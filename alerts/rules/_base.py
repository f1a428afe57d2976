"""What a rule is to the engine (`Rule`, the hooks it is called on), what the engine lends it
while it judges (`RuleContext`), and what it returns: alert transitions, as plain data.
Rules do no I/O and read no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from alerts.dispositions import DispositionPolicy, DispositionRule, default_rules
from alerts.domain import AlertKind, Asset, Location, Recall, Severity
from alerts.geo import Zone
from alerts.profiles import Profile
from ingest.readings import Reading

if TYPE_CHECKING:
    from alerts.eta import Eta, LaneSpeeds, Transit
    from alerts.rules.arrival import Arrival
    from alerts.trips import Sighting

S = TypeVar("S")


class Action(StrEnum):
    OPEN = "open"
    REFRESH = "refresh"
    """The open alert's figures changed (peak, duration, location); stored, not announced."""
    UPDATE = "update"
    """The open alert changed in a way subscribers must hear of (severity): alert.updated."""
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    kind: AlertKind
    key: str
    at: datetime
    severity: Severity = Severity.WARNING
    summary: str = ""
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


NOTHING: Sequence[Transition] = ()
"""What a hook returns when it has nothing to say (shared: no list made for it)."""


@dataclass(frozen=True, slots=True)
class EnginePolicy:
    """The rules' settings beyond the profiles."""

    overdue_grace: timedelta = timedelta(hours=1)
    overdue_escalate_after: timedelta = timedelta(days=3)
    disposition_quarantine_on: tuple[str, ...] = ("recall",)
    disposition_inspect_on: tuple[str, ...] = ("out_of_spec",)
    departure_radius_m: float = 1000.0
    """A trip departs with its first located reading this far from its origin."""
    eta_default_speed_kmh: float = 40.0
    """The effective speed (great-circle km an hour, stops included) an estimate of
    arrival assumes when neither the trip's lane nor the trip itself tells one."""
    eta_change: timedelta = timedelta(hours=1)
    """A trip's estimate is announced again (`trip.eta_changed`) once it moved this much."""
    late_probability: float = 0.6
    """`late_predicted` opens when the chance of arriving after the due date reaches this."""
    dispositions: DispositionPolicy = field(default_factory=DispositionPolicy)
    """The operator's disposition rules before the defaults (made from the two settings
    above by `with_disposition_rules`)."""

    def with_disposition_rules(self, rules: Sequence[DispositionRule]) -> EnginePolicy:
        return replace(self, dispositions=DispositionPolicy(
            tuple(rules), default_rules(self.disposition_quarantine_on,
                                        self.disposition_inspect_on)))


class RuleContext(Protocol):
    """What the engine lends a rule while it judges one asset: the rule's own per-asset state
    (kept under the rule's name, saved and restored by the engine, put back should a rule
    raise), and what the engine knows that a rule may need. The rest is read-only."""

    def state(self, asset_id: str, key: str, cls: type[S]) -> S:
        """The rule's state for the asset and key (`""` for one per asset), or a new `cls()`."""
        ...

    def put(self, asset_id: str, key: str, state: object) -> None:
        """The rule's new state; hand back the very object when nothing changed."""
        ...

    @property
    def policy(self) -> EnginePolicy: ...

    @property
    def zones(self) -> Mapping[str, Zone]:
        """The geofences, by id."""
        ...

    def profile(self, asset: Asset) -> Profile | None: ...

    @property
    def newer(self) -> bool:
        """The reading is newer than any seen of its asset. One that is not never changes a
        condition rule's state. True on the clock and on registry changes."""
        ...

    @property
    def last_location(self) -> Location | None:
        """The asset's newest known position (this reading's, if it is the newest located)."""
        ...

    @property
    def last_heard(self) -> datetime | None:
        """The newest reading time of the asset; None before its first reading."""
        ...

    @property
    def has_recalls(self) -> bool:
        """Whether any recall is registered, active or not."""
        ...

    def recalls(self) -> Sequence[Recall]:
        """The active recalls."""
        ...

    def recall_keys(self, asset_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """The recall ids the asset ever had an alert for, and those whose alert is live."""
        ...

    def arrived(self, arrival: Arrival) -> None:
        """The asset reached its destination: once this judgement's transitions are recorded,
        the engine records the arrival (the asset's new state, every rule's `on_arrival`,
        `asset.arrived`, the trip's move)."""
        ...

    def sighted(self, sighting: Sighting, location: Location) -> None:
        """Telemetry located the asset, or saw it depart: the engine moves its open trip if
        the trip's machine moves on that sighting (alerts.trips), after this judgement's
        transitions."""
        ...

    @property
    def lanes(self) -> LaneSpeeds:
        """The speeds learnt of each lane from the trips that arrived on it."""
        ...

    def estimate(self, asset_id: str) -> Eta | None:
        """The asset's latest estimate of arrival (`estimated`), while on its way."""
        ...

    def estimated(self, eta: Eta, *, announce: bool) -> None:
        """The asset's estimate of arrival now (`RuleEngine.estimate`); `announce`: stored
        on its trip and announced as `trip.eta_changed`, after this judgement's
        transitions."""
        ...

    def travelled(self, transit: Transit) -> None:
        """At arrival: the trip's last leg, which the engine learns its lane's speed from
        and keeps on the trip."""
        ...


class Rule(Protocol):
    """One kind of judgement (usually one alert kind), called by the engine on each hook in
    the registry's order (`alerts.rules.RULES`). Subclass it to inherit the hooks a rule does
    not need: they return NOTHING, and the engine does not even call them."""

    name: str
    """The rule's name: where its state is stored (the `rule` column of `rule_state`)."""
    state_type: type | None
    """The dataclass of its per-asset (and per key) state, None when it keeps none."""
    per_trip: bool = False
    """Its state is of the asset's open trip: a new trip starts it afresh."""

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        """A reading of the asset; `location` is its position, if it has one."""
        return NOTHING

    def on_clock(self, context: RuleContext, asset: Asset, now: datetime
                 ) -> Sequence[Transition]:
        """The timer, for every asset, whether it reports or not."""
        return NOTHING

    def on_registry(self, context: RuleContext, asset: Asset, now: datetime
                    ) -> Sequence[Transition]:
        """The asset was registered or changed, or the recalls changed."""
        return NOTHING

    def on_arrival(self, context: RuleContext, asset: Asset, arrival: Arrival
                   ) -> Sequence[Transition]:
        """The asset arrived (see `RuleContext.arrived`); its state is already changed."""
        return NOTHING
