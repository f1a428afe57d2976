"""The disposition policy: the defaults per flow, the operator's rules before them, and the
rule that chose each recommendation named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.dispositions import DispositionPolicy, DispositionRule, TripFacts, default_rules
from alerts.domain import Alert, AlertKind, AlertState, Asset, AssetKind, Flow, Severity
from alerts.trips import Disposition

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def alert(kind: AlertKind, key: str = "") -> Alert:
    return Alert("x", "a", None, kind, key, Severity.WARNING, AlertState.RESOLVED, "", T0)


def facts(flow: Flow, *alerts: Alert, worst: dict[str, float] | None = None,
          sku: str | None = None, category: str | None = None,
          acquired_days_ago: float | None = None) -> TripFacts:
    kind = AssetKind.RENTAL if flow is Flow.RENTAL_RETURN else AssetKind.SHIPMENT
    acquired = T0 - timedelta(days=acquired_days_ago) if acquired_days_ago is not None else None
    asset = Asset(id="a", kind=kind, flow=flow, sku=sku, category=category,
                  acquired_at=acquired, created_at=T0 - timedelta(days=1))
    return TripFacts.of(asset, alerts, worst or {}, T0)


@pytest.mark.parametrize(("flow", "alerts", "disposition", "rule"), [
    (Flow.CUSTOMER_RETURN, [], "restock", "default:in-spec"),
    (Flow.B2B_RETURN, [alert(AlertKind.LOW_BATTERY)], "restock", "default:in-spec"),
    (Flow.CUSTOMER_RETURN, [alert(AlertKind.OUT_OF_SPEC, "temp_c")], "inspect",
     "default:out-of-spec"),
    (Flow.CUSTOMER_RETURN, [alert(AlertKind.OUT_OF_SPEC, "shock_g"),
                            alert(AlertKind.RECALL, "r1")], "quarantine",
     "default:recall-alert"),
    (Flow.WARRANTY_REPAIR, [], "repair", "default:warranty"),
    (Flow.TRADE_IN, [], "refurbish", "default:trade-in"),
    (Flow.END_OF_LIFE, [alert(AlertKind.OUT_OF_SPEC, "temp_c")], "recycle",
     "default:end-of-life"),
    (Flow.RECALL, [], "quarantine", "default:recall"),
    (Flow.RENTAL_RETURN, [], "redeploy", "default:rental"),
    (Flow.RENTAL_RETURN, [alert(AlertKind.OUT_OF_SPEC, "shock_g")], "inspect",
     "default:out-of-spec"),
])
def test_the_defaults_recommend_per_flow_and_name_their_rule(
        flow: Flow, alerts: list[Alert], disposition: str, rule: str) -> None:
    chosen = DispositionPolicy().recommend(facts(flow, *alerts))
    assert (chosen.disposition, chosen.name) == (disposition, rule)


def test_the_alert_defaults_follow_their_settings() -> None:
    policy = DispositionPolicy(defaults=default_rules(("recall",), ("out_of_spec:shock_g",)))
    shock, heat = alert(AlertKind.OUT_OF_SPEC, "shock_g"), alert(AlertKind.OUT_OF_SPEC, "temp_c")
    assert policy.recommend(facts(Flow.CUSTOMER_RETURN, shock)).disposition == "inspect"
    assert policy.recommend(facts(Flow.CUSTOMER_RETURN, heat)).disposition == "restock"


def test_an_operators_rule_comes_before_the_defaults() -> None:
    hot = DispositionRule("hot-batteries", Disposition.RECYCLE, categories=("battery",),
                          worst_above={"temp_c_max": 45})
    policy = DispositionPolicy(rules=(hot,))
    assert policy.recommend(facts(Flow.WARRANTY_REPAIR, category="battery",
                                  worst={"temp_c_max": 50})).name == "hot-batteries"
    # Every condition must hold: cool enough, or another category, falls through.
    assert policy.recommend(facts(Flow.WARRANTY_REPAIR, category="battery",
                                  worst={"temp_c_max": 40})).name == "default:warranty"
    assert policy.recommend(facts(Flow.WARRANTY_REPAIR, category="laptop",
                                  worst={"temp_c_max": 50})).name == "default:warranty"
    # A worst reading the trip never had does not match a limit on it.
    assert policy.recommend(facts(Flow.WARRANTY_REPAIR, category="battery")).name == \
        "default:warranty"


def test_rules_match_the_items_age_sku_and_flow() -> None:
    old = DispositionRule("old-stock", Disposition.RECYCLE, flows=(Flow.CUSTOMER_RETURN,),
                          skus=("PHONE-1",), min_age_days=365 * 3)
    policy = DispositionPolicy(rules=(old,))
    assert policy.recommend(facts(Flow.CUSTOMER_RETURN, sku="PHONE-1",
                                  acquired_days_ago=1200)).name == "old-stock"
    assert policy.recommend(facts(Flow.CUSTOMER_RETURN, sku="PHONE-1",
                                  acquired_days_ago=100)).name == "default:in-spec"
    assert policy.recommend(facts(Flow.B2B_RETURN, sku="PHONE-1",
                                  acquired_days_ago=1200)).name == "default:in-spec"


def test_the_expected_disposition_is_the_one_in_spec() -> None:
    asset = Asset(id="a", kind=AssetKind.SHIPMENT, flow=Flow.TRADE_IN, created_at=T0)
    assert DispositionPolicy().expected(asset, T0) is Disposition.REFURBISH
