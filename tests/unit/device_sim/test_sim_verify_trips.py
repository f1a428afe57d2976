"""The verdict on trips: every expected status change found in the trip's history within its
tolerance, or missed; history nobody expected is unexpected; a trip bound for another hub,
or recommended another disposition, is wrong. The trips are given as the API answers
`GET /api/v1/trips/{id}`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from rich.table import Table

from device_sim._lifecycle import ExpectedStatus, ExpectedTrip
from device_sim.timeline import Expected
from device_sim.verify import GroundTruth, fetch_trips, judge, render

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
TOL = 10 * MIN


def change(trip: str, status: str, previous: str | None, minutes: int,
           by: str = "telemetry") -> ExpectedStatus:
    return ExpectedStatus(trip, f"asset-{trip[4:8]}", status, previous, T0 + minutes * MIN,
                          TOL, by)


TRUTH = GroundTruth(
    scenario="life", seed=1, start=T0, end=T0 + timedelta(days=1),
    assets=["asset-lx-1", "asset-lr-1"],
    expected=[Expected("recall", "asset-lx-1", T0 + 180 * MIN, TOL)],
    trips=[
        ExpectedTrip("trp-lx-1-1", "asset-lx-1", "customer_return", "q-venlo", routed=True,
                     service="quarantine", rerouted_from="venlo", recommendation="quarantine",
                     rule="default:recall-alert", disposition="quarantine",
                     routings=({"chosen": "venlo"}, {"chosen": "q-venlo"})),
        ExpectedTrip("trp-lr-1-1", "asset-lr-1", "rental_return", "dortmund", routed=False,
                     recommendation="redeploy", rule="default:rental", disposition="redeploy"),
    ],
    trip_changes=[
        change("trp-lx-1-1", "authorized", None, 60, "api"),
        change("trp-lx-1-1", "in_transit", "authorized", 100),
        change("trp-lx-1-1", "arrived", "in_transit", 400),
        change("trp-lx-1-1", "inspected", "arrived", 500, "api"),
        change("trp-lx-1-1", "dispositioned", "inspected", 500, "api"),
        change("trp-lr-1-1", "checked_out", None, 30, "api"),
        change("trp-lr-1-1", "returned", "checked_out", 300),
    ],
)


def history(*entries: tuple[str, str | None, int]) -> list[dict[str, Any]]:
    return [{"status": s, "previous_status": p, "at": (T0 + m * MIN).isoformat(),
             "location": None, "reason": ""} for s, p, m in entries]


def gateway_trips() -> list[dict[str, Any]]:
    """What a gateway that got everything right answers."""
    return [
        {"id": "trp-lx-1-1", "asset_id": "asset-lx-1", "destination": "q-venlo",
         "routing": {"chosen": "q-venlo", "service": "quarantine"},
         "recommendation": {"disposition": "quarantine", "rule": "default:recall-alert",
                            "at": (T0 + 400 * MIN).isoformat()},
         "history": history(("authorized", None, 61), ("in_transit", "authorized", 102),
                            ("arrived", "in_transit", 398), ("inspected", "arrived", 501),
                            ("dispositioned", "inspected", 501))},
        {"id": "trp-lr-1-1", "asset_id": "asset-lr-1", "destination": "dortmund",
         "routing": None,
         "recommendation": {"disposition": "redeploy", "rule": "default:rental"},
         "history": history(("checked_out", None, 30), ("returned", "checked_out", 305))},
        # Another asset's trip: not the scenario's business.
        {"id": "trp-zz", "asset_id": "asset-zz", "destination": "x", "routing": None,
         "recommendation": None, "history": history(("authorized", None, 5))},
    ]


ALERTS = [{"id": "1", "kind": "recall", "asset_id": "asset-lx-1", "key": "rcl_1",
           "opened_at": (T0 + 181 * MIN).isoformat()}]


def test_a_gateway_that_got_every_trip_right_passes() -> None:
    verdict = judge(TRUTH, ALERTS, {}, timedelta(0), gateway_trips())
    assert verdict.ok
    assert (verdict.count("raised", "status"), verdict.count("missed", "status"),
            verdict.count("unexpected", "status")) == (7, 0, 0)
    assert (verdict.count("right", "hub"), verdict.count("right", "recommendation")) == (2, 2)
    # The alerts are counted apart from the trips.
    assert (verdict.count("raised"), verdict.count("missed")) == (1, 0)
    assert verdict.figures(TRUTH) == {
        "scenario": "life", "seed": 1, "ok": True,
        "alerts": {"expected": 1, "raised": 1, "missed": 0, "unexpected": 0},
        "late_predicted": {"caught": 0, "false_alarms": 0},
        "trip_changes": {"expected": 7, "raised": 7, "missed": 0, "unexpected": 0},
        "hubs": {"checked": 2, "wrong": 0},
        "recommendations": {"checked": 2, "wrong": 0}}


def test_late_wrong_or_absent_moves_are_missed_and_extra_ones_unexpected() -> None:
    trips = gateway_trips()
    trips[0]["history"] = history(
        ("authorized", None, 61),
        ("arrived", "authorized", 398),  # the departure never seen: a different move
        ("inspected", "arrived", 501), ("dispositioned", "inspected", 501),
        ("closed", "dispositioned", 600))  # nobody closed it
    trips[1]["history"] = history(("checked_out", None, 30),
                                  ("returned", "checked_out", 330))  # 30 min late
    verdict = judge(TRUTH, ALERTS, {}, timedelta(0), trips)
    assert not verdict.ok
    missed = {(r.trip_id, r.key) for r in verdict.rows
              if r.kind == "status" and r.verdict == "missed"}
    assert missed == {("trp-lx-1-1", "authorized -> in_transit"),
                      ("trp-lx-1-1", "in_transit -> arrived"),
                      ("trp-lr-1-1", "checked_out -> returned")}
    unexpected = {(r.trip_id, r.key) for r in verdict.rows
                  if r.kind == "status" and r.verdict == "unexpected"}
    assert unexpected == {("trp-lx-1-1", "authorized -> arrived"),
                          ("trp-lx-1-1", "dispositioned -> closed"),
                          ("trp-lr-1-1", "checked_out -> returned")}
    # Slack forgives timing, never a different move.
    lenient = judge(TRUTH, ALERTS, {}, timedelta(hours=1), trips)
    assert lenient.count("missed", "status") == 2


def test_a_trip_the_gateway_does_not_have_misses_every_move_and_its_hub() -> None:
    verdict = judge(TRUTH, ALERTS, {}, timedelta(0), gateway_trips()[1:])
    assert verdict.count("missed", "status") == 5
    wrong = [r for r in verdict.rows if r.verdict == "wrong"]
    assert {(r.kind, r.got) for r in wrong} == {("hub", "(none)"), ("recommendation", "(none)")}


def test_a_wrong_hub_or_routing_choice_or_recommendation_is_wrong() -> None:
    trips = gateway_trips()
    trips[0]["destination"] = "venlo"  # never re-routed
    trips[0]["routing"] = {"chosen": "venlo"}
    trips[1]["recommendation"] = {"disposition": "redeploy", "rule": "mine:everything"}
    verdict = judge(TRUTH, ALERTS, {}, timedelta(0), trips)
    assert not verdict.ok
    assert [(r.kind, r.trip_id, r.key, r.got) for r in verdict.rows if r.verdict == "wrong"] == [
        ("hub", "trp-lx-1-1", "q-venlo", "venlo"),
        ("recommendation", "trp-lr-1-1", "redeploy (default:rental)",
         "redeploy (mine:everything)")]
    # A destination the routing did not choose is wrong too.
    trips = gateway_trips()
    trips[0]["routing"] = {"chosen": "venlo"}
    rows = judge(TRUTH, ALERTS, {}, timedelta(0), trips).rows
    [hub] = [r for r in rows if r.kind == "hub" and r.trip_id == "trp-lx-1-1"]
    assert (hub.verdict, hub.got) == ("wrong", "q-venlo (routing chose venlo)")


def test_the_table_and_summary_count_trips_beside_alerts() -> None:
    verdict = judge(TRUTH, ALERTS, {}, timedelta(0), gateway_trips())
    shown, summary = render(TRUTH, verdict)
    assert summary == (
        "expected 1, raised 1, missed 0, unexpected 0; trip status changes expected 7, "
        "raised 7, missed 0, unexpected 0; hubs 2, wrong 0; recommendations 2, wrong 0")
    console = Console(record=True, width=160)
    console.print(shown)
    text = console.export_text()
    assert "life: trips" in text and "trp-lx-1-1" in text and "checked_out -> returned" in text


def test_a_truth_without_trips_renders_and_counts_as_before() -> None:
    plain = GroundTruth("v1", 1, T0, T0 + timedelta(days=1), ["asset-lx-1"], TRUTH.expected)
    verdict = judge(plain, ALERTS, {}, timedelta(0), gateway_trips())
    assert [r.kind for r in verdict.rows] == ["recall"]
    shown, summary = render(plain, verdict)
    assert isinstance(shown, Table)  # the one alerts table, as before trips
    assert summary == "expected 1, raised 1, missed 0, unexpected 0"
    assert "trip_changes" not in verdict.figures(plain)


def test_the_ground_truth_with_trips_round_trips_and_older_files_still_load(
        tmp_path: Path) -> None:
    path = tmp_path / "life.truth.json"
    TRUTH.save(path)
    assert GroundTruth.load(path) == TRUTH
    older = tmp_path / "old.truth.json"
    older.write_text(path.read_text().split('"trips"')[0].rstrip().rstrip(",") + "}")
    loaded = GroundTruth.load(older)
    assert loaded.trips == [] and loaded.trip_changes == []


@pytest.mark.asyncio
async def test_trips_are_read_per_asset_page_by_page_then_one_by_one() -> None:
    pages = {None: {"items": [{"id": "trp-lx-1-1"}], "next_cursor": "c2"},
             "c2": {"items": [{"id": "trp-lx-1-0"}], "next_cursor": None}}
    asked: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url.copy_with(scheme="http", host="gw")))
        if request.url.path == "/api/v1/trips":
            if request.url.params["asset_id"] != "asset-lx-1":
                return httpx.Response(200, json={"items": [], "next_cursor": None})
            return httpx.Response(200, json=pages[request.url.params.get("cursor")])
        return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[1],
                                         "history": []})

    found = await fetch_trips("http://gw", "k", TRUTH,
                              transport=httpx.MockTransport(gateway))
    assert [t["id"] for t in found] == ["trp-lx-1-1", "trp-lx-1-0"]
    assert asked[:2] == ["http://gw/api/v1/trips?asset_id=asset-lr-1&limit=1000",
                         "http://gw/api/v1/trips?asset_id=asset-lx-1&limit=1000"]


@pytest.mark.asyncio
async def test_a_gateway_without_trips_gives_none_and_every_trip_is_missed() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    assert await fetch_trips("http://gw", "k", TRUTH, transport=transport) == []
    assert not judge(TRUTH, ALERTS, {}, timedelta(0), []).ok
