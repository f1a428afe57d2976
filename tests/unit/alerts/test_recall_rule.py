"""recall: same sku, and lot or serial in the recall's lists where given."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.domain import Asset, AssetKind, Circle, Flow, Geofence, GeofenceKind, Location, Recall
from alerts.geo import Zone
from alerts.rules import Action
from alerts.rules.recall import judge, resolve_in_quarantine

T0 = datetime(2026, 11, 29, tzinfo=UTC)
ASSET = Asset(id="a", kind=AssetKind.SHIPMENT, flow=Flow.RECALL, sku="S", lot="L1", serial="X9")


def test_sku_alone_matches_when_no_lists_are_given() -> None:
    assert judge(ASSET, [Recall("r", "S")], frozenset(), T0, None)[0].action is Action.OPEN


def test_lot_and_serial_lists_must_both_match_where_given() -> None:
    assert judge(ASSET, [Recall("r", "S", lots=("L1",), serials=("X9",))], frozenset(), T0, None)
    assert not judge(ASSET, [Recall("r", "S", lots=("L2",))], frozenset(), T0, None)
    assert not judge(ASSET, [Recall("r", "S", serials=("X1",))], frozenset(), T0, None)
    assert not judge(ASSET, [Recall("r", "T")], frozenset(), T0, None)


def test_raised_once_per_recall_and_refreshed_with_a_new_location() -> None:
    recalls = [Recall("r", "S")]
    assert judge(ASSET, recalls, frozenset({"r"}), T0, None) == []
    here = Location(50.0, 8.0, T0)
    (refresh,) = judge(ASSET, recalls, frozenset({"r"}), T0, here, frozenset({"r"}))
    assert refresh.action is Action.REFRESH and refresh.location == here


def test_the_alert_says_where_the_item_is() -> None:
    (opened,) = judge(ASSET, [Recall("r", "S", reason="fire risk")], frozenset(), T0,
                      Location(50.1109, 8.6821, T0))
    assert "50.1109,8.6821" in opened.summary and opened.details["reason"] == "fire risk"
    assert opened.location is not None


def test_inside_a_quarantine_geofence_the_live_recalls_resolve() -> None:
    cage = Zone.of(Geofence("q", "Cage", GeofenceKind.QUARANTINE, circle=Circle(51.0, 7.0, 200)))
    hub = Zone.of(Geofence("hub", "Hub", GeofenceKind.HUB, circle=Circle(50.0, 8.0, 1000)))
    live = frozenset({"r2", "r1"})
    assert resolve_in_quarantine([cage, hub], live, Location(50.0, 8.0, T0)) == []
    resolved = resolve_in_quarantine([hub, cage], live, Location(51.0, 7.0, T0))
    assert [(t.action, t.key, t.summary) for t in resolved] == [
        (Action.RESOLVE, "r1", "in quarantine at Cage"),
        (Action.RESOLVE, "r2", "in quarantine at Cage")]
