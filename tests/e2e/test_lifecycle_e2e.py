"""The lifecycle scenario (rentals checked out, returned, inspected and made available
again; returns of every flow authorized, routed, inspected and closed; a recall re-routing
items on the road) played once through a real broker and gateway on event time into a real
InfluxDB, its REST calls made between the readings. Then:

- every trip moves, is routed and is recommended a disposition as the ground truth (the
  model of docs/lifecycle.md in device_sim/_lifecycle.py) says, and no trip does anything
  else (`boomerang sim verify`);
- the trip dashboards agree with the trips API: the returns pipeline counts the trips in
  each status, the dispositions recommended against actual are the trips' recommendations
  and inspections, each arrival is listed once however far its trip moves on, and the
  rentals available now, their turnaround and utilization are what the trips say."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.common import ROOT
from support.gateways import PlayedScenario, boomerang, every_item, play_scenario
from support.servers import InfluxDB

from dashboards.boards import TRIP_STATUSES, all_dashboards
from dashboards.model import Panel
from dashboards.preview import InfluxQL
from dashboards.variables import ALL, interpolate

# SQLite state only: the trips' store on PostgreSQL is tested in-process by
# test_trips_api.py (routing, moves by telemetry and by people, a recall re-routing, rentals
# cycling), and a minute more of CI for this scenario again buys little.
STATE_ENGINES = ("sqlite",)

SCENARIO = ROOT / "device_sim" / "scenarios" / "lifecycle.yaml"
BOARDS = {board.uid: board for board in all_dashboards()}
RETURNS, RENTALS = "boomerang-returns", "boomerang-rentals"
# Slow enough that the snapshots (every 10 simulated minutes) keep their interval: the
# gateway's timer ticks every 0.1 s, 4 simulated minutes at this scale.
TIME_SCALE = "2400"
SNAPSHOT_INTERVAL_S = 600
# The longest a trip's change waits, in simulated time, for its point: the point is stamped
# with the rules' clock (the newest reading handled) when it is written, the history with the
# reading that moved the trip. Moments of the run compared with the histories have no
# change in the QUIET before them.
QUIET = timedelta(minutes=30)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Lifecycle:
    """The scenario's run, and what the gateway's API says about it."""

    played: PlayedScenario
    influxdb: InfluxDB
    start: datetime
    end: datetime
    assets: dict[str, dict[str, Any]]
    trips: dict[str, dict[str, Any]]
    """Every trip, with its history (GET /api/v1/trips/{id})."""
    open_trips: list[dict[str, Any]]
    """GET /api/v1/trips?open=true."""
    utilization: dict[str, Any]
    """GET /api/v1/rentals/utilization over the span of the rentals' points."""
    rentals_span: tuple[datetime, datetime]

    def run(self, query: str, *, end: datetime | None = None,
            **values: str | list[str]) -> list[dict[str, Any]]:
        """The query's rows, with Grafana's variables filled in (all selected)."""
        filled = {"flow": ALL, "kind": ALL, "customer": ALL, **values}
        text = interpolate(query, filled, start=self.start, end=end or self.end,
                           interval="10m")
        return InfluxQL(self.influxdb.url, self.played.database).rows(text)

    def history(self, trip: dict[str, Any]) -> list[tuple[datetime, str]]:
        return [(_at(change["at"]), change["status"]) for change in trip["history"]]

    def played_trips_of(self, asset_ids: set[str]) -> set[str]:
        """The assets all of whose trips changed only while the scenario played. (A trip
        opened when an asset is registered, before the first reading on event time, is
        stamped with the wall clock, after every reading: its history and the points
        written on the scenario's time cannot be compared.)"""
        start, end = self.played.timeline.start, self.played.timeline.end
        return {a for a in asset_ids
                if all(start <= at <= end for trip in self.trips.values()
                       if trip["asset_id"] == a for at, _ in self.history(trip))}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB) -> Iterator[Lifecycle]:
    env = {"BOOMERANG_SNAPSHOT_INTERVAL_S": str(SNAPSHOT_INTERVAL_S)}
    with play_scenario(tmp_path_factory.mktemp("lifecycle"), influxdb, SCENARIO, "lifecycle",
                       env, time_scale=TIME_SCALE) as played:
        api = played.figures.get("api", {})
        assert api.get("made") and not api.get("failed"), api  # the trips were made
        rentals_span = _span(influxdb, played.database)
        with played.gateway.client() as client:
            trips = {t["id"]: client.get(f"/api/v1/trips/{t['id']}").json()
                     for t in every_item(client, "/api/v1/trips")}
            open_trips = every_item(client, "/api/v1/trips", open="true")
            assets = {a["id"]: a for a in every_item(client, "/api/v1/assets")}
            utilization = client.get("/api/v1/rentals/utilization", params={
                "from": rentals_span[0].isoformat(), "to": rentals_span[1].isoformat()})
            utilization.raise_for_status()
        yield Lifecycle(played=played, influxdb=influxdb,
                        start=played.timeline.start - timedelta(hours=1),
                        end=datetime.now(UTC) + timedelta(minutes=1), assets=assets,
                        trips=trips, open_trips=open_trips, utilization=utilization.json(),
                        rentals_span=rentals_span)


def test_trips_played_on_event_time_move_route_and_recommend_as_the_truth_says(
        run: Lifecycle) -> None:
    played = run.played
    calls = played.figures["api"]
    assert calls["failed"] == 0, calls["errors"]
    assert calls["made"] == calls["of"] > 0
    verdict = boomerang("sim", "verify", str(played.truth), "--api", played.gateway.api)
    print(verdict.stdout)
    figures = json.loads(verdict.stdout.strip().splitlines()[-1])
    assert figures["alerts"]["missed"] == 0, verdict.stdout
    assert figures["alerts"]["unexpected"] == 0, verdict.stdout
    assert figures["trip_changes"]["expected"] > 100
    assert figures["trip_changes"]["missed"] == 0, verdict.stdout
    assert figures["trip_changes"]["unexpected"] == 0, verdict.stdout
    assert figures["hubs"]["wrong"] == 0, verdict.stdout
    assert figures["recommendations"]["wrong"] == 0, verdict.stdout
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def _span(influxdb: InfluxDB, database: str) -> tuple[datetime, datetime]:
    """The first and last of the rentals' points: each snapshot writes every rental."""
    def moment(selector: str) -> datetime:
        series = influxdb.query(database, f'SELECT {selector}("available") FROM '
                                          "\"asset_states\" WHERE \"asset_kind\" = 'rental'")
        return _at(series[0]["values"][0][0])

    return moment("first"), moment("last")


def _panel(uid: str, title: str) -> Panel:
    found = [p for p in BOARDS[uid].panels() if p.title == title]
    assert len(found) == 1, f"{len(found)} panels named {title!r} on {uid}"
    return found[0]


def _value(rows: list[dict[str, Any]], column: str) -> Any:
    """A stat's value: its query's one row (none when nothing matched: 0)."""
    return rows[0][column] if rows else 0


QUERIES = [(f"{uid}: {panel.title} {chr(65 + i)}", query.text)
           for uid in (RETURNS, RENTALS) for panel in BOARDS[uid].panels()
           for i, query in enumerate(panel.queries)]


@pytest.mark.parametrize(("where", "query"), QUERIES, ids=[w for w, _ in QUERIES])
def test_every_query_of_the_returns_and_rentals_dashboards_runs_on_trips(
        run: Lifecycle, where: str, query: str) -> None:
    run.run(query)  # raises on any InfluxQL error


# --- The returns pipeline ----------------------------------------------------------------

def _pipeline(run: Lifecycle, end: datetime | None = None) -> Counter[tuple[str, str]]:
    """(flow, status) -> trips, joined by flow across the panel's queries as its joinByField
    transformation joins them."""
    panel = _panel(RETURNS, "Trips by status and flow")
    assert panel.transformations == [{"id": "joinByField",
                                      "options": {"byField": "flow", "mode": "outer"}}]
    shown: Counter[tuple[str, str]] = Counter()
    for query in panel.queries:
        for row in run.run(query.text, end=end):
            (status,) = row.keys() - {"time", "flow"}
            shown[(row["flow"], status)] += row[status]
    return shown


def test_the_pipeline_counts_the_open_trips_in_each_status_and_flow(run: Lifecycle) -> None:
    expected = Counter((t["flow"], t["status"]) for t in run.open_trips
                       if t["flow"] != "rental_return")
    assert expected  # the scenario leaves trips open
    assert {status for _, status in expected} <= set(TRIP_STATUSES)
    assert _pipeline(run) == expected


def _pipeline_at(run: Lifecycle, moment: datetime) -> Counter[tuple[str, str]]:
    """From the trips' histories: each asset's newest trip opened by `moment`, in the status
    it had then, if that is in the pipeline."""
    newest: dict[str, tuple[datetime, str, str]] = {}
    for trip in run.trips.values():
        history = [(at, status) for at, status in run.history(trip) if at <= moment]
        if history and trip["flow"] != "rental_return":
            opened = history[0][0]
            if trip["asset_id"] not in newest or opened >= newest[trip["asset_id"]][0]:
                newest[trip["asset_id"]] = (opened, trip["flow"], history[-1][1])
    return Counter((flow, status) for _, flow, status in newest.values()
                   if status in TRIP_STATUSES)


def _quiet_moments(run: Lifecycle, asset_ids: set[str]) -> list[datetime]:
    """Moments of the run, every 10 simulated minutes, with no change of these assets' trips
    in the QUIET before them."""
    changes = sorted(at for trip in run.trips.values() if trip["asset_id"] in asset_ids
                     for at, _ in run.history(trip))
    timeline = run.played.timeline
    moments = [timeline.start + timedelta(minutes=10 * k)
               for k in range(int((timeline.end - timeline.start) / timedelta(minutes=10)))]
    return [m for m in moments if not any(m - QUIET <= at <= m for at in changes)]


def test_the_pipeline_at_a_moment_of_the_run_counts_the_trips_then_in_each_status(
        run: Lifecycle) -> None:
    """The end of the range is "now": at the busiest quiet moment of the run, the panel
    shows each trip in the status its history gives it then."""
    returns = {t["asset_id"] for t in run.trips.values() if t["flow"] != "rental_return"}
    assert run.played_trips_of(returns) == returns
    moment = max(_quiet_moments(run, returns),
                 key=lambda m: (len(_pipeline_at(run, m)), m))
    expected = _pipeline_at(run, moment)
    assert len({status for _, status in expected}) >= 3, (moment, expected)
    assert _pipeline(run, end=moment) == expected, moment


# --- Dispositions --------------------------------------------------------------------------

def _grafana_group_by(rows: list[dict[str, Any]], transformation: dict[str, Any]
                      ) -> dict[tuple[Any, ...], dict[str, int]]:
    """Grafana's groupBy transformation as the panel configures it: rows grouped by the
    `groupby` fields; each `aggregate` field reduced (distinctCount, the only one used)."""
    assert transformation["id"] == "groupBy"
    fields = transformation["options"]["fields"]
    keys = [name for name, how in fields.items() if how["operation"] == "groupby"]
    reduced = {name: how["aggregations"] for name, how in fields.items()
               if how["operation"] == "aggregate"}
    assert all(aggregations == ["distinctCount"] for aggregations in reduced.values())
    seen: dict[tuple[Any, ...], dict[str, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        for name in reduced:
            seen[tuple(row[key] for key in keys)][name].add(row[name])
    return {group: {f"{name} (distinctCount)": len(values) for name, values in by.items()}
            for group, by in seen.items()}


def _inspected(run: Lifecycle) -> dict[str, tuple[str | None, str]]:
    """Trip id -> (recommended, actual) of the returns and recalls inspected."""
    return {trip["id"]: ((trip["recommendation"] or {}).get("disposition"),
                         trip["inspection"]["disposition"])
            for trip in run.trips.values()
            if trip["inspection"] is not None and trip["flow"] != "rental_return"}


def test_the_dispositions_recommended_against_actual_are_the_trips(run: Lifecycle) -> None:
    panel = _panel(RETURNS, "Dispositions recommended against actual")
    rows = run.run(panel.queries[0].text)
    inspected = _inspected(run)
    assert inspected and any(rec != act for rec, act in inspected.values())
    # Every row belongs to an inspected trip and says what its API says.
    assert {row["trip_id"] for row in rows} == set(inspected)
    for row in rows:
        assert (row["disposition_recommended"], row["disposition_actual"]) == \
            inspected[row["trip_id"]], row
    # The table: trips per (recommended, actual), each trip once though several of its
    # points carry the inspection (inspected, dispositioned, closed).
    assert len(rows) > len(inspected)
    table = _grafana_group_by(rows, panel.transformations[0])
    assert {pair: counts["trip_id (distinctCount)"] for pair, counts in table.items()} == \
        dict(Counter(inspected.values()))
    renamed = panel.transformations[1]["options"]["renameByName"]
    assert renamed["trip_id (distinctCount)"] == "trips"

    followed = _panel(RETURNS, "Recommendation followed")
    counts = {key: value for query in followed.queries for row in run.run(query.text)
              for key, value in row.items() if key != "time"}
    assert counts == {"inspected": len(inspected),
                      "followed": sum(1 for rec, act in inspected.values() if rec == act)}


def test_each_arrival_is_listed_once_however_far_its_trip_moves_on(run: Lifecycle) -> None:
    """Every change of a trip after its arrival carries the recommendation too; the
    arrival's panels count the point of the arrival only."""
    def arrived(kind: str, status: str) -> Counter[str]:
        return Counter(trip["asset_id"] for trip in run.trips.values()
                       if run.assets[trip["asset_id"]]["kind"] == kind
                       and any(change["status"] == status for change in trip["history"]))

    shipments = arrived("shipment", "arrived") + arrived("shipment", "received")
    received = run.run(_panel(RETURNS, "Received in the range").queries[0].text)
    assert Counter(row["asset_id"] for row in received) == shipments
    recommended = sum(row[key] for query in _panel(
        RETURNS, "Dispositions recommended at receipt").queries
        for row in run.run(query.text) for key in row if key != "time")
    assert recommended == shipments.total()
    returned = run.run(_panel(RENTALS, "Returned in the range").queries[0].text)
    assert Counter(row["asset_id"] for row in returned) == arrived("rental", "returned")
    assert max(arrived("rental", "returned").values()) > 1  # rentals went round again


# --- Rentals ---------------------------------------------------------------------------------

def test_the_rentals_available_now_are_those_whose_last_trip_is_over(run: Lifecycle) -> None:
    rentals = {a: asset for a, asset in run.assets.items() if asset["kind"] == "rental"}
    expected = {a for a, asset in rentals.items()
                if asset["trip_status"] in (None, "available")}
    assert expected
    count = run.run(_panel(RENTALS, "Available now").queries[0].text)
    assert _value(count, "available") == len(expected)
    table = _panel(RENTALS, "Rentals available now").queries[0].text
    listed = run.run(table)
    assert {row["asset_id"] for row in listed} == expected
    assert {row["trip_status"] for row in listed} <= {None, "available"}
    # And at a quiet moment of the run when some were out and some in, as their trips say.
    played = run.played_trips_of(set(rentals))
    moment = max(_quiet_moments(run, played),
                 key=lambda m: (min(len(_available_at(run, m)),
                                    len(played - _available_at(run, m))), m))
    then = _available_at(run, moment)
    assert set() < then < played, moment
    assert {row["asset_id"] for row in run.run(table, end=moment)} & played == then, moment


def _available_at(run: Lifecycle, moment: datetime) -> set[str]:
    """The rentals of whole played trips available at `moment`: no trip opened by then, or
    the newest in status available."""
    rentals = run.played_trips_of({a for a, asset in run.assets.items()
                                   if asset["kind"] == "rental"})
    newest: dict[str, tuple[datetime, str]] = {}
    for trip in run.trips.values():
        history = [(at, status) for at, status in run.history(trip) if at <= moment]
        if trip["asset_id"] in rentals and history:
            if trip["asset_id"] not in newest or history[0][0] >= newest[trip["asset_id"]][0]:
                newest[trip["asset_id"]] = (history[0][0], history[-1][1])
    return {a for a in rentals if a not in newest or newest[a][1] == "available"}


def _turnarounds(run: Lifecycle) -> list[float]:
    """Hours from returned to available, of each rental trip made available in the run."""
    hours = []
    for trip in run.trips.values():
        at = {status: moment for moment, status in run.history(trip)}
        if trip["flow"] == "rental_return" and "available" in at and "returned" in at:
            hours.append((at["available"] - at["returned"]).total_seconds() / 3600)
    return sorted(hours)


def _influx_percentile(values: list[float], n: float) -> float:
    """InfluxQL's percentile(): the nearest rank."""
    ordered = sorted(values)
    return ordered[math.floor(len(ordered) * n / 100 + 0.5) - 1]


def test_the_turnaround_is_the_rentals_returned_to_available(run: Lifecycle) -> None:
    hours = _turnarounds(run)
    assert len(hours) > 3
    made = run.run(_panel(RENTALS, "Made available in the range").queries[0].text)
    assert _value(made, "made available") == len(hours)
    (row,) = run.run(_panel(RENTALS, "Turnaround (hours)").queries[0].text)
    assert row["turnaround mean"] == pytest.approx(sum(hours) / len(hours), abs=1e-3)
    assert row["turnaround mean"] == pytest.approx(
        run.utilization["fleet"]["turnaround_h_mean"], abs=1e-3)
    assert row["turnaround p90"] == pytest.approx(_influx_percentile(hours, 90), abs=1e-3)
    per_rental = run.run(_panel(RENTALS, "Utilization and turnaround per rental")
                         .queries[0].text)
    from_api = {r["asset_id"]: r for r in run.utilization["assets"]}
    for rental in per_rental:
        expected = from_api.get(rental["asset_id"], {}).get("turnaround_h_mean")
        if expected is None:
            assert rental["turnaround mean"] is None
        else:
            assert rental["turnaround mean"] == pytest.approx(expected, abs=1e-3)


def test_utilization_is_the_share_of_the_time_out_as_the_rentals_api_says(
        run: Lifecycle) -> None:
    """Within what a snapshot every SNAPSHOT_INTERVAL_S can tell: the mean of points is the
    share of time only as fine as the points are."""
    rentals = {a for a, asset in run.assets.items() if asset["kind"] == "rental"}
    comparable = run.played_trips_of(rentals)
    assert comparable
    from_api = {r["asset_id"]: r["utilization"] for r in run.utilization["assets"]}
    rows = run.run(_panel(RENTALS, "Utilization and turnaround per rental").queries[0].text)
    shown = {row["asset_id"]: row["utilization"] for row in rows}
    assert set(shown) == rentals
    for asset_id in comparable:
        assert shown[asset_id] == pytest.approx(from_api.get(asset_id, 0.0), abs=0.05), \
            asset_id
    assert any(shown[a] > 0.1 for a in comparable)
    (fleet,) = run.run(_panel(RENTALS, "Utilization").queries[0].text)
    assert 0 < fleet["utilization"] < 1
