"""The verdict of `boomerang sim verify`: expected against raised, within tolerance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from device_sim.timeline import Expected
from device_sim.verify import GroundTruth, judge

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def alert(
    alert_id: str, kind: str, asset_id: str, opened: datetime, key: str = ""
) -> dict[str, Any]:
    return {"id": alert_id, "kind": kind, "asset_id": asset_id, "key": key,
            "opened_at": opened.isoformat()}


TRUTH = GroundTruth(
    scenario="t", seed=1, start=T0, end=T0 + timedelta(days=1),
    assets=["asset-a", "asset-b", "asset-c"],
    expected=[
        Expected("out_of_spec", "asset-a", T0 + 30 * MIN, 10 * MIN, key="temp_c"),
        Expected("overdue", "asset-b", T0 + 120 * MIN, 10 * MIN),
        Expected("arrival", "asset-c", T0 + 600 * MIN, 30 * MIN),
        Expected("recall", "asset-c", T0 + 5 * MIN, 10 * MIN),
    ],
)


def test_everything_raised_in_time_is_a_pass() -> None:
    alerts = [
        alert("1", "out_of_spec", "asset-a", T0 + 33 * MIN, key="temp_c"),
        alert("2", "overdue", "asset-b", T0 + 125 * MIN),
        alert("3", "recall", "asset-c", T0 + 4 * MIN, key="rcl_1"),
        alert("9", "silent", "someone-else", T0),  # not a scenario asset: ignored
    ]
    verdict = judge(TRUTH, alerts, {"asset-c": "received"}, slack=timedelta(0))
    assert verdict.ok
    assert (verdict.count("raised"), verdict.count("missed"), verdict.count("unexpected")) == (
        4, 0, 0)


def test_too_late_the_wrong_metric_or_never_is_a_miss_and_extras_are_unexpected() -> None:
    alerts = [
        alert("1", "out_of_spec", "asset-a", T0 + 33 * MIN, key="humidity_pct"),
        alert("2", "overdue", "asset-b", T0 + 200 * MIN),
        alert("3", "silent", "asset-a", T0 + 50 * MIN),
    ]
    verdict = judge(TRUTH, alerts, {"asset-c": "in_transit"}, slack=timedelta(0))
    assert not verdict.ok
    assert verdict.count("missed") == 4
    assert {(r.kind, r.key) for r in verdict.rows if r.verdict == "unexpected"} == {
        ("out_of_spec", "humidity_pct"), ("overdue", ""), ("silent", "")}
    # Slack forgives timing, never a wrong kind or metric.
    lenient = judge(TRUTH, alerts, {"asset-c": "received"}, slack=timedelta(hours=2))
    assert {r.kind for r in lenient.rows if r.verdict == "missed"} == {"out_of_spec", "recall"}


def test_a_late_prediction_is_caught_on_a_late_asset_and_a_false_alarm_on_another() -> None:
    alerts = [
        alert("1", "out_of_spec", "asset-a", T0 + 33 * MIN, key="temp_c"),
        alert("2", "overdue", "asset-b", T0 + 125 * MIN),
        alert("3", "recall", "asset-c", T0 + 4 * MIN, key="rcl_1"),
        alert("4", "late_predicted", "asset-b", T0 + 60 * MIN),
        alert("5", "late_predicted", "asset-c", T0 + 60 * MIN),
    ]
    verdict = judge(TRUTH, alerts, {"asset-c": "received"}, slack=timedelta(0))
    assert verdict.ok and verdict.count("unexpected") == 0
    assert {(r.verdict, r.asset_id) for r in verdict.rows if r.kind == "late_predicted"} == {
        ("caught", "asset-b"), ("false_alarm", "asset-c")}
    assert verdict.figures(TRUTH)["late_predicted"] == {"caught": 1, "false_alarms": 1}


def test_the_ground_truth_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "t.truth.json"
    TRUTH.save(path)
    assert GroundTruth.load(path) == TRUTH
