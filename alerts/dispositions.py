"""The disposition policy: what to do with an item that came back. The operator's rules, in
order, then the defaults per flow (docs/lifecycle.md); the first that matches recommends,
and the recommendation names it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alerts.domain import Alert, Asset, Flow
from alerts.trips import Disposition

WORST_METRICS = ("temp_c_max", "temp_c_min", "humidity_pct_max", "shock_g_max",
                 "tilt_deg_max", "light_lux_max", "battery_pct_min")
"""The trip's worst readings a rule may compare (the arrival rule's TripState fields)."""


@dataclass(frozen=True, slots=True)
class DispositionRule:
    """Matches when every condition it gives holds; a list matches any of its members."""

    name: str
    disposition: Disposition
    flows: tuple[Flow, ...] = ()
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    alert_kinds: tuple[str, ...] = ()
    """Alert kinds, or `kind:key` (`out_of_spec:shock_g`), raised during the trip."""
    worst_above: Mapping[str, float] = field(default_factory=dict)
    worst_below: Mapping[str, float] = field(default_factory=dict)
    min_age_days: float | None = None
    max_age_days: float | None = None

    def matches(self, facts: TripFacts) -> bool:
        if self.flows and facts.flow not in self.flows:
            return False
        if self.skus and facts.sku not in self.skus:
            return False
        if self.categories and facts.category not in self.categories:
            return False
        if self.alert_kinds and not facts.raised & set(self.alert_kinds):
            return False
        for metric, limit in self.worst_above.items():
            value = facts.worst.get(metric)
            if value is None or not value > limit:
                return False
        for metric, limit in self.worst_below.items():
            value = facts.worst.get(metric)
            if value is None or not value < limit:
                return False
        if self.min_age_days is not None and (
                facts.age_days is None or facts.age_days < self.min_age_days):
            return False
        return not (self.max_age_days is not None and (
            facts.age_days is None or facts.age_days > self.max_age_days))


@dataclass(frozen=True, slots=True)
class TripFacts:
    """What the policy judges a trip by."""

    flow: Flow
    sku: str | None = None
    category: str | None = None
    raised: frozenset[str] = frozenset()
    """The kinds (and `kind:key`) of the alerts raised during the trip."""
    worst: Mapping[str, float] = field(default_factory=dict)
    age_days: float | None = None

    @classmethod
    def of(cls, asset: Asset, alerts: Iterable[Alert], worst: Mapping[str, float | None],
           at: datetime) -> TripFacts:
        raised: set[str] = set()
        for alert in alerts:
            raised.add(str(alert.kind))
            raised.add(f"{alert.kind}:{alert.key}")
        born = asset.acquired_at or asset.created_at
        age = (at - born).total_seconds() / 86_400 if born is not None else None
        return cls(flow=asset.flow, sku=asset.sku, category=asset.category,
                   raised=frozenset(raised),
                   worst={k: v for k, v in worst.items() if v is not None}, age_days=age)


def default_rules(quarantine_on: Sequence[str] = ("recall",),
                  inspect_on: Sequence[str] = ("out_of_spec",)) -> tuple[DispositionRule, ...]:
    """The defaults, after the operator's rules; `quarantine_on` and `inspect_on` are the
    alert kinds of BOOMERANG_DISPOSITION_QUARANTINE_ON and _INSPECT_ON."""
    d, f = Disposition, Flow
    rules = []
    if quarantine_on:
        rules.append(DispositionRule("default:recall-alert", d.QUARANTINE,
                                     alert_kinds=tuple(quarantine_on)))
    rules += [
        DispositionRule("default:recall", d.QUARANTINE, flows=(f.RECALL,)),
        DispositionRule("default:warranty", d.REPAIR, flows=(f.WARRANTY_REPAIR,)),
        DispositionRule("default:trade-in", d.REFURBISH, flows=(f.TRADE_IN,)),
        DispositionRule("default:end-of-life", d.RECYCLE, flows=(f.END_OF_LIFE,)),
    ]
    if inspect_on:
        rules.append(DispositionRule("default:out-of-spec", d.INSPECT,
                                     alert_kinds=tuple(inspect_on)))
    rules += [
        DispositionRule("default:rental", d.REDEPLOY, flows=(f.RENTAL_RETURN,)),
        DispositionRule("default:in-spec", d.RESTOCK),
    ]
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class DispositionPolicy:
    rules: tuple[DispositionRule, ...] = ()
    """The operator's, in order."""
    defaults: tuple[DispositionRule, ...] = field(default_factory=default_rules)

    def recommend(self, facts: TripFacts) -> DispositionRule:
        """The first rule that matches (`default:in-spec` matches anything)."""
        for rule in (*self.rules, *self.defaults):
            if rule.matches(facts):
                return rule
        return self.defaults[-1]

    def expected(self, asset: Asset, at: datetime) -> Disposition:
        """What the policy would recommend at `at` for the asset's trip in spec: no alerts,
        no readings (the service routing looks for)."""
        return self.recommend(TripFacts.of(asset, (), {}, at)).disposition
