"""A new rule is one module and one line in the registry: a rule the engine has never heard of,
given to it with the others, is called on its hooks, its transitions are recorded as alerts
and announced, and its own state is saved and restored across a restart, as the built-in
rules' are."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_rule_engine import T0

from alerts import AlertStore, EngineEvent, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import AlertKind, AlertState, Asset, AssetKind, Flow, Location
from alerts.rules import NOTHING, RULES, Action, Rule, RuleContext, Transition
from alerts.store import RULE_STATE, AlertFilter
from ingest.readings import Reading
from ingest.statedb import StateDb


@dataclass(frozen=True, slots=True)
class ShockCount:
    shocks: int = 0
    open: bool = False


class RepeatedShocksRule(Rule):
    """The toy rule, as its own module would hold it: three shocks over 2 g in a trip open
    an `out_of_spec` alert keyed `shock_count`, whatever the asset's profile says."""

    name = "repeated_shocks"
    state_type = ShockCount

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        shock = reading.values.get("shock_g")
        if shock is None or shock <= 2 or not context.newer:
            return NOTHING
        before = context.state(asset.id, "", ShockCount)
        after = ShockCount(before.shocks + 1, before.shocks + 1 >= 3)
        context.put(asset.id, "", after)
        if before.open or not after.open:
            return NOTHING
        return [Transition(Action.OPEN, AlertKind.OUT_OF_SPEC, key="shock_count",
                           at=reading.ts, summary=f"{after.shocks} shocks over 2 g",
                           value=after.shocks, location=context.last_location)]


ASSET = Asset(id="a1", kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN, tag_id="t1")


class Gateway:
    """An engine judging with the built-in rules and the toy, over a state database."""

    def __init__(self, url: str) -> None:
        self.db = StateDb.open(url)
        self.alerts = AlertStore(self.db)
        self.heard: list[EngineEvent] = []
        self.engine = RuleEngine(self.alerts, WebhookOutbox(self.db), SubscriptionStore(self.db),
                                 lambda: T0, rules=(*RULES, RepeatedShocksRule()))
        self.engine.listeners.append(self.heard.append)
        self.engine.upsert_asset(ASSET)

    def shock(self, minute: float, shock_g: float) -> None:
        reading = Reading("t1", T0 + timedelta(minutes=minute), None,
                          {"shock_g": shock_g, "lat": 50.0, "lon": 8.0})
        assert self.engine.judge_readings([reading]) == []
        self.engine.save_state()  # as before the reading is acknowledged


@pytest.fixture
def gateway(state_url: str) -> Iterator[Gateway]:
    gateway = Gateway(state_url)
    yield gateway
    gateway.db.close()


def test_a_rule_given_with_the_others_has_its_transitions_recorded_as_alerts(
    gateway: Gateway,
) -> None:
    for minute in range(3):
        gateway.shock(minute, 5.0)
    (alert,) = gateway.alerts.list(AlertFilter())
    assert (alert.kind, alert.key, alert.state) == (
        AlertKind.OUT_OF_SPEC, "shock_count", AlertState.OPEN)
    assert alert.value == 3 and alert.location == Location(50.0, 8.0, T0 + timedelta(minutes=2))
    assert [event.type for event in gateway.heard] == ["alert.opened"]


def test_a_new_rule_s_state_is_saved_and_restored_across_a_restart(state_url: str) -> None:
    first = Gateway(state_url)
    first.shock(0, 5.0)
    first.shock(1, 1.0)  # not a shock
    first.shock(2, 5.0)
    stored = first.db.rows(select(RULE_STATE.c.asset_id, RULE_STATE.c.key)
                           .where(RULE_STATE.c.rule == "repeated_shocks"))
    assert [tuple(row) for row in stored] == [("a1", "")]
    first.db.close()

    again = Gateway(state_url)
    try:
        assert again.alerts.list(AlertFilter()) == []
        again.shock(3, 5.0)  # the third: the two before it were not forgotten
        assert [(a.key, a.value) for a in again.alerts.list(AlertFilter())] == [
            ("shock_count", 3)]
    finally:
        again.db.close()


def test_two_rules_of_one_name_are_refused(state_db: StateDb) -> None:
    with pytest.raises(ValueError, match="repeated_shocks"):
        RuleEngine(AlertStore(state_db), WebhookOutbox(state_db), SubscriptionStore(state_db),
                   lambda: T0, rules=(*RULES, RepeatedShocksRule(), RepeatedShocksRule()))
