"""The dashboards against real data: the all-faults scenario played through a real broker and
gateway into a real InfluxDB; then every panel's query, with its variables filled in the way
Grafana fills them, runs without error, and the panels that answer a question answer it the
way the gateway's own API does (the overdue panel lists the overdue rentals, the recall
panel the recalled items, and so on)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.common import ROOT, free_port, wait_until
from support.gateways import PlayedScenario, boomerang, every_item, metric, play_scenario
from support.servers import InfluxDB, run_webhook_receiver

from dashboards.boards import all_dashboards
from dashboards.model import Dashboard, Panel
from dashboards.preview import InfluxQL
from dashboards.variables import ALL, interpolate

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)


SCENARIO = ROOT / "device_sim" / "scenarios" / "all_faults.yaml"
BOARDS = {board.uid: board for board in all_dashboards()}


@dataclass
class Facts:
    """The scenario's run, and what the gateway's API says about it."""

    played: PlayedScenario
    influxdb: InfluxDB
    start: datetime
    end: datetime
    assets: dict[str, dict[str, Any]]
    open_alerts: list[dict[str, Any]]
    all_alerts: list[dict[str, Any]]
    dead_letters: int
    arrivals: dict[str, dict[str, Any]]
    """asset.arrived webhook bodies' data by asset id."""

    def open_on(self, kind: str) -> set[str]:
        return {a["asset_id"] for a in self.open_alerts if a["kind"] == kind}

    def rows(self, query: str) -> list[dict[str, Any]]:
        """Every row of every series, tags included, as Grafana's table format shows it:
        read the way the previews read it."""
        return InfluxQL(self.influxdb.url, self.played.database).rows(query)

    def run(self, query: str, *, end: datetime | None = None, interval: str = "10m",
            **values: str | list[str]) -> list[dict[str, Any]]:
        filled = {"flow": ALL, "kind": ALL, "customer": ALL, "instance": ALL, **values}
        return self.rows(interpolate(query, filled, start=self.start, end=end or self.end,
                                     interval=interval))


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB) -> Iterator[Facts]:
    env = {"BOOMERANG_STATS_INTERVAL_S": "0.5", "BOOMERANG_SNAPSHOT_INTERVAL_S": "600"}
    with run_webhook_receiver() as receiver, play_scenario(
            tmp_path_factory.mktemp("dashboards"), influxdb, SCENARIO, "dashboards", env,
            webhook_url=receiver.url) as played:
        with played.gateway.client() as client:
            all_alerts = every_item(client, "/api/v1/alerts")
            # Every transition delivered (one webhook each), then two stats points more,
            # so that the rates have a difference to take after the last delivery.
            wait_until(lambda: metric(played.gateway.api, "boomerang_outbox_pending") == 0,
                       60, "every webhook delivered")
            stats = 'SELECT count("readings") FROM "gateway_stats"'
            before = influxdb.count("dashboards", stats)
            wait_until(lambda: influxdb.count("dashboards", stats) >= before + 2, 30,
                       "gateway_stats written")
            assets = {a["id"]: a for a in every_item(client, "/api/v1/assets")}
            dead = client.get("/api/v1/dead-letters", params={"limit": 1000}).json()
        yield Facts(
            played=played, influxdb=influxdb,
            start=played.timeline.start - timedelta(hours=1),
            end=datetime.now(UTC) + timedelta(minutes=1),
            assets=assets,
            open_alerts=[a for a in all_alerts if a["state"] != "resolved"],
            all_alerts=all_alerts,
            dead_letters=len(dead["items"]),
            arrivals={e.json()["data"]["asset"]["id"]: e.json()["data"]
                      for e in receiver.events("asset.arrived")},
        )


def _panel(uid: str, title: str) -> Panel:
    return next(p for p in BOARDS[uid].panels() if p.title == title)


def _queries(board: Dashboard) -> list[tuple[str, str]]:
    found = [(f"{board.uid}: {panel.title} {chr(65 + i)}", query.text)
             for panel in board.panels() for i, query in enumerate(panel.queries)]
    found += [(f"{board.uid}: annotation {a.name}", a.query) for a in board.annotations]
    found += [(f"{board.uid}: variable {v.name}", v.query) for v in board.variables]
    return found


ALL_QUERIES = [q for board in BOARDS.values() for q in _queries(board)]


@pytest.mark.parametrize(("where", "query"), ALL_QUERIES, ids=[w for w, _ in ALL_QUERIES])
def test_every_query_of_every_panel_runs_on_influxdb(facts: Facts, where: str,
                                                     query: str) -> None:
    cold = _cold_chain_asset(facts)
    facts.run(query, asset=cold)  # raises on any InfluxQL error


def _cold_chain_asset(facts: Facts) -> str:
    """An asset whose temperature went out of spec in the scenario."""
    return sorted(a["asset_id"] for a in facts.all_alerts
                  if a["kind"] == "out_of_spec" and a["key"] == "temp_c")[0]


def _expected_condition(facts: Facts, asset_id: str) -> str:
    asset = facts.assets[asset_id]
    if asset["state"] != "in_transit":
        return str(asset["state"])
    kinds = {a["kind"] for a in facts.open_alerts if a["asset_id"] == asset_id}
    for kind, condition in (("recall", "recalled"), ("out_of_spec", "out_of_spec"),
                            ("overdue", "overdue")):
        if kind in kinds:
            return condition
    return "in_transit"


def test_the_fleet_map_shows_every_asset_that_reported_in_its_state(facts: Facts) -> None:
    panel = _panel("boomerang-fleet-map", "Where every asset is now")
    rows = facts.run(panel.queries[0].text)
    on_map = {row["asset_id"]: row for row in rows if row["lat"] is not None}
    reported = {a for a in facts.assets if facts.rows(
        f"SELECT count(\"lat\") FROM \"telemetry\" WHERE \"asset_id\" = '{a}'")}
    assert reported and set(on_map) == reported
    assert {row["state"] for row in on_map.values()} >= {"in_transit", "received", "returned",
                                                          "overdue"}
    for asset_id, row in on_map.items():
        assert row["state"] == _expected_condition(facts, asset_id), asset_id
    # The filters narrow it: rentals only.
    rentals = facts.run(panel.queries[0].text, kind=["rental"])
    assert {row["asset_id"] for row in rentals} == {
        a for a in reported if facts.assets[a]["kind"] == "rental"}


def test_the_state_counts_add_up_to_the_fleet(facts: Facts) -> None:
    board = BOARDS["boomerang-fleet-map"]
    counts = {}
    for panel in board.rows[0]:
        rows = facts.run(panel.queries[0].text)
        counts[panel.title] = int(rows[0][next(iter(rows[0].keys() - {"time"}))]) if rows else 0
    conditions = Counter(_expected_condition(facts, a) for a in facts.assets)
    assert counts["Overdue"] == conditions["overdue"]
    assert counts["Recalled"] == conditions["recalled"]
    assert counts["Received"] == conditions["received"] > 0
    assert sum(counts.values()) == len(facts.assets)


def test_the_overdue_panel_lists_the_overdue_rentals(facts: Facts) -> None:
    overdue_rentals = {a for a in facts.open_on("overdue")
                       if facts.assets[a]["kind"] == "rental"}
    expected_by_truth = {e.asset_id for e in facts.played.timeline.expected
                         if e.kind == "overdue"}
    assert overdue_rentals and overdue_rentals <= expected_by_truth
    rows = facts.run(_panel("boomerang-rentals", "Overdue rentals, by days").queries[0].text)
    assert {row["asset_id"] for row in rows} == overdue_rentals
    assert all(row["days_overdue"] > 0 for row in rows)
    by_customer = facts.run(_panel("boomerang-rentals", "Overdue by customer").queries[0].text)
    assert sum(row["overdue"] for row in by_customer) == len(overdue_rentals)
    assert {row["customer"] for row in by_customer} == {
        facts.assets[a]["customer"] for a in overdue_rentals}


def test_the_recall_panels_show_the_recalled_items_still_out(facts: Facts) -> None:
    located = _panel("boomerang-recalls", "Recalled items located").queries[0].text
    # By the end every recalled item of the scenario is in quarantine: none still out.
    assert not facts.open_on("recall")
    assert facts.run(located) == []
    # Halfway to a recalled item's arrival in quarantine, it was out, and located. (Its
    # alert opened when the scenario registered it: at the wall clock, not on event time.)
    recalls = [a for a in facts.all_alerts if a["kind"] == "recall"]
    assert recalls
    for alert in recalls:
        resolved = datetime.fromisoformat(alert["resolved_at"])
        then = resolved - (resolved - facts.played.timeline.start) / 2
        rows = facts.run(located, end=then)
        assert alert["asset_id"] in {row["asset_id"] for row in rows}
        assert all(row["lat"] is not None and row["lon"] is not None for row in rows)
    hits = facts.run(_panel("boomerang-recalls", "Recall hits in the range").queries[0].text)
    assert hits[0]["hits"] == sum(
        1 for a in facts.all_alerts if a["kind"] == "recall")
    resolved = facts.run(_panel("boomerang-recalls",
                                "Recall alerts resolved in the range").queries[0].text)
    assert resolved[0]["resolved"] == len(recalls)  # all of them, by arriving in quarantine
    # Halfway, the count of items still out agrees with the located list, and none of them
    # was never located (every recalled tag of the scenario reports positions).
    then = min(datetime.fromisoformat(a["resolved_at"]) for a in recalls)
    then -= (then - facts.played.timeline.start) / 2
    out = facts.run(_panel("boomerang-recalls", "Recalled, still out").queries[0].text,
                    end=then)
    assert out[0]["recalled"] == len(facts.run(located, end=then)) > 0
    never = facts.run(_panel("boomerang-recalls", "Recalled items never located")
                      .queries[0].text, end=then)
    assert never == []


def test_the_rentals_counts_agree_with_the_api(facts: Facts) -> None:
    rentals = {a: asset for a, asset in facts.assets.items() if asset["kind"] == "rental"}
    out = facts.run(_panel("boomerang-rentals", "Out with customers").queries[0].text)
    assert out[0]["out"] == sum(1 for a in rentals.values() if a["state"] != "returned") > 0
    returned = facts.run(_panel("boomerang-rentals", "Returned in the range").queries[0].text)
    assert {row["asset_id"] for row in returned} == {
        a for a, asset in rentals.items() if asset["state"] == "returned"} != set()
    for row in returned:  # the trip as the asset.arrived webhook reported it
        assert row["transit_s"] == facts.arrivals[row["asset_id"]]["trip"]["duration_s"]
        assert row["disposition"] == facts.arrivals[row["asset_id"]]["disposition"]


def test_the_fleet_lists_exactly_the_assets_with_an_open_alert(facts: Facts) -> None:
    rows = facts.run(_panel("boomerang-fleet-map", "Needing attention").queries[0].text)
    assert {row["asset_id"] for row in rows} == {a["asset_id"] for a in facts.open_alerts}
    for row in rows:
        assert row["open_alerts"] == sum(1 for a in facts.open_alerts
                                         if a["asset_id"] == row["asset_id"])


def test_the_returns_panels_count_receipts_per_flow_and_their_dispositions(
        facts: Facts) -> None:
    received = Counter(a["flow"] for a in facts.assets.values()
                       if a["kind"] == "shipment" and a["state"] == "received")
    assert received
    rows = facts.run(_panel("boomerang-returns", "Received per flow").queries[0].text)
    assert {row["flow"]: row["received"] for row in rows} == dict(received)
    dispositions = _panel("boomerang-returns", "Dispositions recommended at receipt")
    total = 0
    for query in dispositions.queries:
        total += sum(value for row in facts.run(query.text)
                     for key, value in row.items() if key != "time")
    assert total == sum(received.values())
    transit = facts.run(_panel("boomerang-returns",
                               "Transit times of received shipments (hours)").queries[0].text)
    assert {row["flow"] for row in transit} == set(received)
    for row in transit:  # the trips as the asset.arrived webhooks reported them
        hours = [facts.arrivals[a]["trip"]["duration_s"] / 3600
                 for a, asset in facts.assets.items()
                 if asset["flow"] == row["flow"] and asset["kind"] == "shipment"
                 and asset["state"] == "received"]
        assert row["max"] == pytest.approx(max(hours))
        assert row["mean"] == pytest.approx(sum(hours) / len(hours))
    on_the_way = Counter(a["flow"] for a in facts.assets.values()
                         if a["kind"] == "shipment" and a["state"] != "received")
    rows = facts.run(_panel("boomerang-returns", "In transit per flow").queries[0].text)
    assert {row["flow"]: row["in transit"] for row in rows} == dict(on_the_way)
    late = facts.run(_panel("boomerang-returns", "Late returns").queries[0].text)
    assert {row["asset_id"] for row in late} == {
        a for a in facts.open_on("overdue") if facts.assets[a]["kind"] == "shipment"}
    listed = facts.run(_panel("boomerang-returns", "Received in the range").queries[0].text)
    assert {row["asset_id"] for row in listed} == {
        a for a, asset in facts.assets.items()
        if asset["kind"] == "shipment" and asset["state"] == "received"}


def test_the_asset_detail_draws_the_profile_limits_and_the_alerts(facts: Facts) -> None:
    asset = _cold_chain_asset(facts)
    temperature = _panel("boomerang-asset", "Temperature")
    readings = facts.run(temperature.queries[0].text, asset=asset)
    limits = facts.run(temperature.queries[1].text, asset=asset)
    assert readings and max(row["temp_c"] for row in readings) > 8
    # (Before the asset's first state point in the range the limits are null: not drawn.)
    assert {(row["min"], row["max"]) for row in limits if row["max"] is not None} == {
        (2.0, 8.0)}
    annotation = BOARDS["boomerang-asset"].annotations[0]
    transitions = facts.run(annotation.query, asset=asset)
    opened = [a for a in facts.all_alerts if a["asset_id"] == asset]
    assert len(transitions) >= len(opened) > 0
    track = facts.run(_panel("boomerang-asset", "Track").queries[0].text, asset=asset)
    assert len(track) > 10


def test_the_health_dashboard_shows_readings_dead_letters_and_duplicates(
        facts: Facts) -> None:
    # Stats come every 0.5 s here; Grafana's $__interval would be a few seconds or more.
    rate = facts.run(_panel("boomerang-gateway", "Readings per second").queries[0].text,
                     interval="1s")
    assert any(row["readings/s"] > 0 for row in rate)
    dead = facts.run(_panel("boomerang-gateway",
                            "Dead letters in the range, by cause").queries[0].text)
    by_cause = {row["cause"]: row["dead letters"] for row in dead}
    assert sum(by_cause.values()) == facts.dead_letters > 0
    assert by_cause["not_json"] > 0 and by_cause["too_large"] > 0
    duplicates = facts.run(_panel("boomerang-gateway", "Duplicates per second").queries[0].text,
                           interval="1s")
    assert any(row["duplicates/s"] > 0 for row in duplicates)
    webhooks = _panel("boomerang-gateway", "Webhook deliveries per second")
    delivered = facts.run(webhooks.queries[0].text, interval="1s")
    assert any(row["delivered/s"] > 0 for row in delivered)
    assert all(row["failed/s"] == 0 for row in facts.run(webhooks.queries[2].text,
                                                         interval="1s"))
    transitions = facts.run(_panel("boomerang-gateway", "Alert transitions").queries[0].text)
    assert {row["kind"] for row in transitions} == {a["kind"] for a in facts.all_alerts}


def test_previews_are_drawn_from_the_dashboards_queries(facts: Facts, tmp_path: Path) -> None:
    """With BOOMERANG_WRITE_PREVIEWS=DIR, into DIR: that is how docs/img's are made
    (scripts/dashboard-previews)."""
    from dashboards.preview import Window, render_asset_conditions, render_fleet_map

    out = Path(os.environ.get("BOOMERANG_WRITE_PREVIEWS", tmp_path))
    source = InfluxQL(facts.influxdb.url, facts.played.database)
    # The map at the moment of the scenario that shows the most kinds of state.
    timeline = facts.played.timeline
    fleet = _panel("boomerang-fleet-map", "Where every asset is now").queries[0].text
    moments = [timeline.start + (timeline.end - timeline.start) * k / 96 for k in range(1, 96)]

    def variety(moment: datetime) -> tuple[int, int]:
        states = Counter(row["state"] for row in facts.run(fleet, end=moment))
        return len(states), states["in_transit"]

    busiest = max(moments, key=variety)
    early = Window(facts.start, busiest)
    on_map = render_fleet_map(source, early, out / "fleet-map.png")
    assert on_map == len(facts.rows(
        "SELECT last(\"lat\") FROM \"telemetry\" WHERE asset_id != 'unassigned' AND "
        f"time <= {int(early.end.timestamp() * 1000)}ms GROUP BY asset_id"))
    drawn = render_asset_conditions(source, Window(facts.start, facts.end),
                                    _cold_chain_asset(facts),
                                    out / "asset-conditions.png")
    assert drawn > 100
    for name in ("fleet-map.png", "asset-conditions.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).stat().st_size > 20_000


def test_the_preview_command_draws_from_a_given_influxdb(facts: Facts, tmp_path: Path) -> None:
    asset = _cold_chain_asset(facts)
    drawn = boomerang("dashboards", "preview", "--asset", asset, "--influx-url",
                      facts.influxdb.url, "--influx-db", facts.played.database,
                      "--hours", "60", "--out", str(tmp_path))
    assert drawn.returncode == 0, drawn.stderr
    assert f"readings of {asset}" in drawn.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"fleet-map.png", "asset-conditions.png"}
    nowhere = boomerang("dashboards", "preview", "--asset", asset, "--influx-url",
                        f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path))
    assert nowhere.returncode == 1
    assert "cannot query InfluxDB at" in nowhere.stderr


def test_the_committed_dashboards_match_the_generator() -> None:
    from dashboards.generate import stale

    assert stale() == [], "run `boomerang dashboards generate`"


def test_a_changed_dashboard_is_caught(tmp_path: Path) -> None:
    from dashboards.generate import stale, write

    write(tmp_path)
    assert stale(tmp_path) == []
    first = sorted(tmp_path.glob("*.json"))[0]
    first.write_text(first.read_text().replace("Boomerang", "Boomerang!", 1))
    (tmp_path / "old.json").write_text("{}")
    assert stale(tmp_path) == [f"{first.name}: differs from the generator",
                               "old.json: no dashboard generates it"]
