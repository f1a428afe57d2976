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
  rentals available now, their turnaround and utilization are what the trips say;
- the return analytics (the `trips` points) and the estimates of arrival agree with the
  ground truth: arrivals, transit times, alerts, excursions and damage per flow, hub, lane
  and SKU; return reasons per SKU; the disposition mix and how often it matched the
  recommendation; warranty repair and rental turnarounds; recall recovery over time; the
  trips on their way at a moment of the run; utilization per asset class;
- the return analytics API's tables (`GET /api/v1/analytics/{table}`, docs/analytics.md)
  agree with the same ground truth, over a window that covers the run: transit times per
  flow and hub, damage rates per SKU, return reasons, dispositions, recall recovery per day,
  rental utilization per category and warranty turnaround per hub; and a table's CSV holds
  the rows of its JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import httpx
import pytest
from support.common import ROOT
from support.gateways import PlayedScenario, boomerang, every_item, play_scenario
from support.servers import InfluxDB

from dashboards.boards import TRIP_STATUSES, all_dashboards
from dashboards.model import Panel
from dashboards.preview import InfluxQL
from dashboards.variables import ALL, interpolate
from device_sim._lifecycle import (
    ARRIVED_STATUS,
    FINAL_STATUSES,
    ExpectedStatus,
    inspection_moves,
    machine_of,
)
from device_sim.scenario import load_scenario
from device_sim.timeline import Expected
from device_sim.verify import GroundTruth

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
    truth: GroundTruth
    """What `boomerang sim play` wrote as the scenario's ground truth."""

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
                        rentals_span=rentals_span, truth=GroundTruth.load(played.truth))


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


def _dated(run: Lifecycle, trip_id: str) -> dict[str, datetime]:
    """Status -> when the trip's history says it reached it."""
    return {status: at for at, status in run.history(run.trips[trip_id])}


def _hours(span: timedelta) -> float:
    return span / timedelta(hours=1)


def _turnarounds(run: Lifecycle) -> list[float]:
    """Hours from returned to available, of each rental trip made available in the run."""
    hours = []
    for trip in run.trips.values():
        at = _dated(run, trip["id"])
        if trip["flow"] == "rental_return" and "available" in at and "returned" in at:
            hours.append(_hours(at["available"] - at["returned"]))
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


# --- Return analytics, against the ground truth ------------------------------------------------

READING_EVERY = max(group.report_every for group in load_scenario(SCENARIO).fleet)
"""How often the scenario's tags report: a trip's last leg starts at the reading before the
one that shows it has left, by which the truth dates the departure."""
# docs/dashboards.md: an excursion is an out_of_spec on temperature, humidity or light;
# damage one on shock or tilt.
EXCURSION_KEYS = frozenset({"temp_c", "humidity_pct", "light_lux"})
DAMAGE_KEYS = frozenset({"shock_g", "tilt_deg"})
# The statuses of a return or recall on its way (docs/eta.md), and those in which its tag has
# reported a position, so that it has an estimate of arrival.
ON_ITS_WAY = frozenset({"authorized", "in_transit", "identified", "located"})
MOVING = frozenset({"in_transit", "located"})
# Recall recovery's lines: the statuses a recall trip has reached (docs/lifecycle.md).
RECOVERY = {"recalled": ("identified",), "located": ("located",),
            "in transit": ("in_transit",), "received": ("received",),
            "remedied or destroyed": ("remedied", "destroyed")}


@dataclass(frozen=True)
class TrueTrip:
    """A trip as the ground truth has it, with what the simulator said when opening it."""

    id: str
    asset_id: str
    flow: str
    hub: str
    rerouted: bool
    recommended: str | None
    disposition: str | None
    """What the simulator's inspection recorded."""
    changes: dict[str, ExpectedStatus]
    """Status -> the change to it (a trip passes each status once)."""
    sku: str
    category: str
    """"" when the asset has none, as the tag's value reads in a GROUP BY."""
    reason: str
    origin: tuple[float, float]
    due_at: datetime
    alerts: list[Expected]
    """The alerts the truth expects of the asset from the trip's opening to its arrival."""

    @property
    def arrival(self) -> ExpectedStatus | None:
        return next((change for status, change in self.changes.items()
                     if status in ARRIVED_STATUS.values()), None)

    def statuses_at(self, moment: datetime, margin: timedelta = timedelta(0)
                    ) -> set[str | None]:
        """The statuses it may have at `moment`, each change known within its tolerance (or
        `margin`, if longer); None: not opened yet."""
        changes = sorted(self.changes.values(), key=lambda change: change.at)

        def slack(change: ExpectedStatus) -> timedelta:
            return max(change.tolerance, margin)

        possible: set[str | None] = set()
        if moment < changes[0].at + slack(changes[0]):
            possible.add(None)
        for change, following in zip(changes, [*changes[1:], None], strict=True):
            if change.at - slack(change) < moment and (
                    following is None or moment < following.at + slack(following)):
                possible.add(change.status)
        return possible

    def had(self, keys: frozenset[str]) -> bool:
        return any(alert.kind == "out_of_spec" and alert.key in keys for alert in self.alerts)


@pytest.fixture(scope="module")
def truth(run: Lifecycle) -> dict[str, TrueTrip]:
    """Every trip of the ground truth, by id."""
    timeline = run.played.timeline
    assert {t.id for t in timeline.trips} == {t.id for t in run.truth.trips}  # the same play
    opened = {action.trip_id: action.body for action in timeline.actions
              if action.method == "POST" and action.path == "/api/v1/trips"}
    assets = {body["id"]: body for body in timeline.assets}
    changes: dict[str, dict[str, ExpectedStatus]] = defaultdict(dict)
    for change in run.truth.trip_changes:
        changes[change.trip_id][change.status] = change
    trips = {}
    for trip in run.truth.trips:
        body, asset, mine = opened[trip.id], assets[trip.asset_id], changes[trip.id]
        arrival = [c.at for s, c in mine.items() if s in ARRIVED_STATUS.values()]
        begin, end = min(c.at for c in mine.values()), min(arrival, default=run.truth.end)
        trips[trip.id] = TrueTrip(
            id=trip.id, asset_id=trip.asset_id, flow=trip.flow, hub=trip.destination,
            rerouted=trip.rerouted_from is not None, recommended=trip.recommendation,
            disposition=trip.disposition, changes=mine, sku=asset.get("sku") or "",
            category=asset.get("category") or "", reason=body.get("reason") or "",
            origin=(body["origin"]["lat"], body["origin"]["lon"]), due_at=_at(body["due_at"]),
            alerts=_expected_of(run, trip.asset_id, begin, end))
    return trips


def _expected_of(run: Lifecycle, asset_id: str, begin: datetime, end: datetime
                 ) -> list[Expected]:
    """The alerts the truth expects of the asset from `begin` to `end`, both included."""
    return [e for e in run.truth.expected if e.asset_id == asset_id
            and e.kind != "arrival" and begin <= e.at <= end]


def _returns(truth: dict[str, TrueTrip]) -> list[TrueTrip]:
    """The trips of the Returns dashboard: every flow's but rentals'."""
    return [trip for trip in truth.values() if trip.flow != "rental_return"]


def _arrived(truth: dict[str, TrueTrip]) -> list[TrueTrip]:
    arrived = [trip for trip in _returns(truth) if trip.arrival is not None]
    assert arrived
    return arrived


def _rows_by(run: Lifecycle, uid: str, title: str, tag: str) -> dict[str, dict[str, Any]]:
    """A table's rows by the value of the tag it groups by."""
    rows = run.run(_panel(uid, title).queries[0].text)
    by = {row[tag]: row for row in rows}
    assert len(by) == len(rows), rows
    return by


def _true_transit(trip: TrueTrip) -> tuple[float, float]:
    """The trip's last leg in hours, and how far the truth may be off: from the reading before
    the one that showed it leaving, or for a trip a recall re-routed, from the recall (a new
    destination starts a new leg, docs/eta.md); to its arrival."""
    assert trip.arrival is not None
    if trip.rerouted:
        (recall,) = [alert for alert in trip.alerts if alert.kind == "recall"]
        start, slack = recall.at, recall.tolerance
    else:
        departed = trip.changes["in_transit"]
        start, slack = departed.at - READING_EVERY, departed.tolerance
    return (_hours(trip.arrival.at - start),
            _hours(trip.arrival.tolerance + slack + READING_EVERY))


def _true_hours(trip: TrueTrip, since: str, until: str) -> tuple[float, float]:
    """Hours from the trip's change to `since` to its change to `until`, and how far the
    truth may be off."""
    first, then = trip.changes[since], trip.changes[until]
    return _hours(then.at - first.at), _hours(then.tolerance + first.tolerance)


def _recorded_hours(run: Lifecycle, trip_id: str, since: str, until: str) -> float:
    """Hours from `since` to `until`, to the second, as the trip's history dates them."""
    dated = _dated(run, trip_id)
    return _hours(dated[until] - dated[since])


def _region(lat: float, lon: float) -> str:
    """docs/eta.md: a cell of whole degrees, named like 51N7E."""
    la, lo = math.floor(lat), math.floor(lon)
    return f"{abs(la)}{'N' if la >= 0 else 'S'}{abs(lo)}{'E' if lo >= 0 else 'W'}"


def _within(shown: float, values: list[tuple[float, float]], n: float,
            percentile: Callable[[list[float], float], float] = _influx_percentile) -> None:
    """The percentile `n` of the true values (InfluxQL's nearest rank, unless `percentile`
    says otherwise), each known within its slack: a percentile moves no further than the
    values it is taken of."""
    assert shown == pytest.approx(percentile([v for v, _ in values], n),
                                  abs=max(slack for _, slack in values) + 1e-3)


ARRIVALS_BY = {"flow": "Arrivals by flow", "hub": "Arrivals by hub", "sku": "Arrivals by SKU"}


@pytest.mark.parametrize("tag", sorted(ARRIVALS_BY))
def test_arrivals_per_flow_hub_and_sku_are_the_truths_with_their_transit_times_and_alerts(
        run: Lifecycle, truth: dict[str, TrueTrip], tag: str) -> None:
    arrived = _arrived(truth)
    # None of the scenario's trips arrives after its due date.
    assert all(t.arrival and t.arrival.at + t.arrival.tolerance < t.due_at for t in arrived)
    groups: dict[str, list[TrueTrip]] = defaultdict(list)
    for trip in arrived:
        groups[getattr(trip, tag)].append(trip)
    shown = _rows_by(run, RETURNS, ARRIVALS_BY[tag], tag)
    assert {key: row["trips"] for key, row in shown.items()} == \
        {key: len(trips) for key, trips in groups.items()}
    for key, trips in groups.items():
        row, transits = shown[key], [_true_transit(trip) for trip in trips]
        _within(row["transit p50"], transits, 50)
        _within(row["transit p90"], transits, 90)
        assert row["alerts per trip"] == pytest.approx(mean(len(t.alerts) for t in trips)), key
        assert row["excursions"] == pytest.approx(mean(t.had(EXCURSION_KEYS) for t in trips))
        assert row["damage"] == pytest.approx(mean(t.had(DAMAGE_KEYS) for t in trips)), key
        assert row["late"] == 0, key
    # The scenario's faults show: a hot van, a drop, a recall on the road.
    assert any(row["excursions"] > 0 for row in shown.values())
    assert any(row["damage"] > 0 for row in shown.values())
    assert any(0 < row["alerts per trip"] < 1 for row in shown.values())


def test_arrivals_per_lane_start_where_the_trips_left_and_end_at_their_hubs(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    arrived = _arrived(truth)
    shown = {lane: row["trips"] for lane, row in
             _rows_by(run, RETURNS, "Arrivals by lane", "lane").items()}
    hubs: Counter[str] = Counter()
    for lane, trips in shown.items():
        hubs[lane.split(">", 1)[1]] += trips
    assert hubs == Counter(trip.hub for trip in arrived)
    # A trip's lane starts in the cell it left from: the customer's, unless a recall sent it
    # elsewhere on the road (then where it was).
    left = Counter(f"{_region(*trip.origin)}>{trip.hub}" for trip in arrived
                   if not trip.rerouted)
    assert all(shown.get(lane, 0) >= trips for lane, trips in left.items()), (shown, left)


@pytest.mark.parametrize("tag", ["carrier", "packaging"])
def test_arrivals_without_a_carrier_or_packaging_are_one_row(
        run: Lifecycle, truth: dict[str, TrueTrip], tag: str) -> None:
    """The scenario names neither: every arrival is in the row of trips without one."""
    assert not any(tag in action.body for action in run.played.timeline.actions)
    rows = run.run(_panel(RETURNS, f"Arrivals by {tag}").queries[0].text)
    assert [(row[tag], row["trips"]) for row in rows] == [("", len(_arrived(truth)))]
    assert set(rows[0]) == {"time", tag, "trips", "transit p50", "transit p90",
                            "alerts per trip", "excursions", "damage", "late"}


def _grafana_grouping_to_matrix(rows: list[dict[str, Any]], transformation: dict[str, Any]
                                ) -> dict[str, dict[str, Any]]:
    """Grafana's groupingToMatrix transformation as the panel configures it: a row per value of
    `rowField`, a column per value of `columnField` (cells without a value are left out here;
    Grafana shows them as 0)."""
    assert transformation["id"] == "groupingToMatrix"
    options = transformation["options"]
    matrix: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in rows:
        matrix[row[options["rowField"]]][row[options["columnField"]]] = row[options["valueField"]]
    return matrix


def test_return_reasons_by_sku_are_those_the_returns_were_authorized_with(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    panel = _panel(RETURNS, "Return reasons by SKU")
    matrix = _grafana_grouping_to_matrix(run.run(panel.queries[0].text),
                                         panel.transformations[0])
    authorized = Counter((trip.sku, trip.reason) for trip in _returns(truth)
                         if "authorized" in trip.changes)
    assert len(authorized) > 3
    assert {(sku, reason): trips for sku, by in matrix.items()
            for reason, trips in by.items()} == dict(authorized)


def test_the_disposition_mix_and_match_rate_are_the_inspections_posted(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    # Every inspection that moves its trip on; a recall left received (quarantine) is not in
    # the `trips` points until it moves.
    inspected = [trip for trip in _returns(truth) if trip.disposition is not None
                 and inspection_moves(trip.flow, trip.disposition)]
    assert any(trip.disposition != trip.recommended for trip in inspected)
    mix = _rows_by(run, RETURNS, "Disposition mix", "actual")
    assert {actual: row["trips"] for actual, row in mix.items()} == \
        dict(Counter(trip.disposition for trip in inspected))
    (rate,) = run.run(_panel(RETURNS, "Recommendation match rate").queries[0].text)
    assert rate["matched"] == pytest.approx(
        mean(trip.disposition == trip.recommended for trip in inspected))


def test_warranty_repair_turnaround_is_from_arrival_to_disposition(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    repairs = [trip for trip in truth.values()
               if trip.flow == "warranty_repair" and "dispositioned" in trip.changes]
    assert repairs
    hours = [_true_hours(trip, "arrived", "dispositioned") for trip in repairs]
    (row,) = run.run(_panel(RETURNS, "Warranty repair turnaround (hours)").queries[0].text)
    assert row["repairs"] == len(repairs)
    _within(row["p50"], hours, 50)
    _within(row["p90"], hours, 90)
    # To the second, as the trips' histories date the arrival and the disposition.
    recorded = [_recorded_hours(run, t.id, "arrived", "dispositioned") for t in repairs]
    assert row["p50"] == pytest.approx(_influx_percentile(recorded, 50), abs=1e-3)
    assert row["p90"] == pytest.approx(_influx_percentile(recorded, 90), abs=1e-3)


def _recovered(recalls: list[TrueTrip], line: str, moment: datetime) -> int | None:
    """How many recall trips had reached the line's statuses before `moment` by the truth;
    None when a change to one lies within its tolerance of it."""
    if line == "still missing":
        recalled, located = (_recovered(recalls, name, moment) for name in ("recalled", "located"))
        return None if recalled is None or located is None else recalled - located
    reached = 0
    for trip in recalls:
        for status in RECOVERY[line]:
            change = trip.changes.get(status)
            if change is None or change.at - change.tolerance >= moment:
                continue
            if change.at + change.tolerance >= moment:
                return None
            reached += 1
    return reached


def test_recall_recovery_counts_the_recalls_that_reached_each_step_by_each_moment(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    recalls = [trip for trip in truth.values() if trip.flow == "recall"]
    assert recalls
    bucket = timedelta(minutes=10)  # the queries' $__interval (Lifecycle.run)
    panel = _panel(RETURNS, "Recall recovery")
    lines, midway = set(), 0
    for query in panel.queries:
        rows = run.run(query.text)
        (line,) = rows[0].keys() - {"time"}
        lines.add(line)
        for row in rows:
            # A bucket's cumulative sum counts the points before its end.
            end = datetime.fromtimestamp(row["time"] / 1000, UTC) + bucket
            expected = _recovered(recalls, line, end)
            if expected is not None:
                assert row[line] == expected, (line, end)
                midway += 0 < expected < len(recalls)
        final = _recovered(recalls, line, run.end)
        assert final == (0 if line == "still missing" else len(recalls))
        assert rows[-1][line] == final, line
    assert lines == {*RECOVERY, "still missing"}
    assert midway > 0  # the truth decides some moments while the recalls were under way


def test_the_trips_on_their_way_have_an_estimate_and_none_is_predicted_late(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """At the moment of the run with the most returns surely moving by the truth (each
    status change QUIET or its tolerance away), they are listed with an estimate, and none
    surely arrived or not yet opened is; the truth has every trip arriving before its due
    date, and none is predicted late."""
    returns = _returns(truth)
    assert all(t.arrival and t.arrival.at + t.arrival.tolerance < t.due_at for t in returns)
    timeline = run.played.timeline

    def moving(moment: datetime) -> set[str]:
        return {trip.asset_id for trip in returns
                if trip.statuses_at(moment, QUIET) <= MOVING}

    moment = max((timeline.start + timedelta(minutes=10 * k) for k in range(
        int((timeline.end - timeline.start) / timedelta(minutes=10)))),
        key=lambda m: (len(moving(m)), m))
    maybe = {trip.asset_id for trip in returns if trip.statuses_at(moment) & ON_ITS_WAY}
    table = _panel(RETURNS, "Estimated arrival of trips on their way").queries[0].text
    listed = run.run(table, end=moment)
    assert len(moving(moment)) > 3, moment
    assert moving(moment) <= {row["asset_id"] for row in listed} <= maybe, moment
    # At the end every one has arrived: none is on its way.
    assert not any(trip.statuses_at(run.end) & ON_ITS_WAY for trip in returns)
    assert run.run(table) == []
    assert all(row["eta_h"] >= 0 and 0 <= row["late_probability"] < 0.5 for row in listed)
    late = run.run(_panel(RETURNS, "Predicted late").queries[0].text, end=moment)
    assert _value(late, "predicted late") == 0


def test_rental_turnaround_per_asset_class_is_from_returned_to_available(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    by_class: dict[str, list[TrueTrip]] = defaultdict(list)
    for trip in truth.values():
        if trip.flow == "rental_return" and "available" in trip.changes:
            by_class[trip.category].append(trip)
    shown = _rows_by(run, RENTALS, "Turnaround by asset class (hours)", "category")
    assert {category: row["made available"] for category, row in shown.items()} == \
        {category: len(trips) for category, trips in by_class.items()}
    assert len(by_class) > 1
    for category, trips in by_class.items():
        row = shown[category]
        hours = [_true_hours(trip, "returned", "available") for trip in trips]
        slack = max(s for _, s in hours)
        assert row["mean"] == pytest.approx(mean(h for h, _ in hours), abs=slack), category
        _within(row["p50"], hours, 50)
        _within(row["p90"], hours, 90)
        # To the second, as the trips' histories date them.
        recorded = [_recorded_hours(run, t.id, "returned", "available") for t in trips]
        assert row["mean"] == pytest.approx(mean(recorded), abs=1e-3), category
        assert row["p90"] == pytest.approx(_influx_percentile(recorded, 90), abs=1e-3)


def test_utilization_per_asset_class_is_the_share_of_time_out_the_truth_gives(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """Within what snapshots every SNAPSHOT_INTERVAL_S can tell (0.05, as per rental) and the
    truth's own tolerance of when each rental went out and came back. A rental registered
    with its trip open (no `open_trip: false`) is out from its registration on."""
    start, end = run.rentals_span
    span = end - start
    shares: dict[str, list[tuple[float, float]]] = defaultdict(list)
    # The rentals API's, for the classes whose trips were all opened on the scenario's time
    # (Lifecycle.played_trips_of).
    from_api: dict[str, list[float | None]] = defaultdict(list)
    api = {row["asset_id"]: row["utilization"] for row in run.utilization["assets"]}
    rentals = {body["id"] for body in run.played.timeline.assets if body["kind"] == "rental"}
    comparable = run.played_trips_of(rentals)
    for body in run.played.timeline.assets:
        if body["id"] not in rentals:
            continue
        trips = [trip for trip in truth.values() if trip.asset_id == body["id"]]
        out = slack = timedelta(0)
        if not trips and body.get("open_trip", True):
            out = span  # registered with its trip open, and never back
        for trip in trips:
            left, back = trip.changes["checked_out"], trip.changes.get("returned")
            out += min(back.at if back else end, end) - max(left.at, start)
            slack += left.tolerance + (back.tolerance if back else timedelta(0))
        category = body.get("category") or ""
        shares[category].append((out / span, slack / span))
        from_api[category].append(api.get(body["id"], 0.0) if body["id"] in comparable
                                  else None)
    shown = {category: row["utilization"] for category, row in
             _rows_by(run, RENTALS, "Utilization by asset class", "category").items()}
    assert set(shown) == set(shares) and len(shares) > 2
    for category, values in shares.items():
        expected, unsure = mean(v for v, _ in values), mean(s for _, s in values)
        assert shown[category] == pytest.approx(expected, abs=0.05 + unsure), category
        if None not in from_api[category]:
            assert shown[category] == pytest.approx(
                mean(u for u in from_api[category] if u is not None), abs=0.05), category
    assert sum(None not in values for values in from_api.values()) > 1
    assert 0.1 < min(shown.values()) and max(shown.values()) == 1.0  # long-term rentals


# --- Return analytics through the API, against the same truth --------------------------------

ANALYTICS_MARGIN = timedelta(hours=1)
# Where a recall trip's status counts in recall-recovery (docs/analytics.md).
RECOVERY_COLUMN = {"identified": "missing", "located": "located", "in_transit": "in_transit",
                   "received": "received", "remedied": "received", "destroyed": "received"}


def _analytics_window(run: Lifecycle) -> tuple[datetime, datetime]:
    """The tables' `from` and `to`: the scenario's run, to an hour past its end. Not the
    default window: on event time it ends at the newest reading, exclusive (a change made at
    the last reading would fall out), and the scenario is dated days back. The long-term
    rentals' trips (`lv`), opened at their registration before the first reading, are
    stamped with the wall clock, hours after the run (Lifecycle.played_trips_of): outside
    the window, as they are outside the truth."""
    timeline = run.played.timeline
    return timeline.start, timeline.end + ANALYTICS_MARGIN


def _analytics_answer(run: Lifecycle, table: str, **params: str) -> httpx.Response:
    """GET /api/v1/analytics/{table} over _analytics_window."""
    start, end = _analytics_window(run)
    with run.played.gateway.client() as client:
        answer = client.get(f"/api/v1/analytics/{table}", params={
            "from": start.isoformat(), "to": end.isoformat(), **params})
    assert answer.status_code == 200, answer.text
    return answer


def _analytics(run: Lifecycle, table: str, **params: str) -> dict[str, Any]:
    """The table as JSON; every row, totals too, has exactly its columns, in order."""
    body = _analytics_answer(run, table, **params).json()
    assert all(list(row) == body["columns"] for row in body["rows"] + body["totals"]), body
    return body


def _keyed(rows: list[dict[str, Any]], *columns: str) -> dict[Any, dict[str, Any]]:
    """Rows by the value of their grouping column (of several: a tuple), each once."""
    keyed = {(row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)): row
             for row in rows}
    assert len(keyed) == len(rows), rows
    return keyed


def _linear_percentile(values: list[float], n: float) -> float:
    """docs/analytics.md's percentile: linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * n / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _share(part: int, whole: int) -> float:
    """docs/analytics.md: shares and rates have 4 decimals."""
    return round(part / whole, 4)


@pytest.mark.parametrize("by", ["flow", "hub"])
def test_api_transit_times_per_flow_and_hub_are_the_truths_legs(
        run: Lifecycle, truth: dict[str, TrueTrip], by: str) -> None:
    """Every arrival of the truth, timed by telemetry (none by its status changes), in
    groups of the truth's; the median, p90 and mean of the returns' and recalls' legs
    within the truth's tolerance (_true_transit). Unlike the dashboard's arrivals (returns
    and recalls), transit-times counts the rentals' returns too (docs/analytics.md): the
    truth does not date when a rental left its customer's site, where its last leg starts,
    so their legs are bounded by their trips only."""
    arrived = [trip for trip in truth.values() if trip.arrival is not None]
    groups: dict[str, list[TrueTrip]] = defaultdict(list)
    for trip in arrived:
        groups[getattr(trip, by)].append(trip)
    body = _analytics(run, "transit-times", by=by)
    shown = _keyed(body["rows"], by)
    assert {key: (row["trips"], row["timed_by_changes"]) for key, row in shown.items()} == \
        {key: (len(trips), 0) for key, trips in groups.items()}
    (totals,) = body["totals"]
    assert (totals[by], totals["trips"], totals["timed_by_changes"]) == ("*", len(arrived), 0)
    rentals = 0
    for key, trips in groups.items():
        row = shown[key]
        if any(trip.flow == "rental_return" for trip in trips):
            # A depot takes rentals only: the leg lies within the trip.
            assert all(trip.flow == "rental_return" for trip in trips), key
            longest = max(h + s for h, s in (_true_hours(t, "checked_out", "returned")
                                             for t in trips))
            assert 0 < row["p50_h"] <= row["p90_h"] <= longest, key
            rentals += len(trips)
            continue
        legs = [_true_transit(trip) for trip in trips]
        _within(row["p50_h"], legs, 50, _linear_percentile)
        _within(row["p90_h"], legs, 90, _linear_percentile)
        assert row["mean_h"] == pytest.approx(mean(h for h, _ in legs),
                                              abs=max(s for _, s in legs) + 1e-3), key
    assert 0 < rentals < len(arrived)


def _during(run: Lifecycle, trip: TrueTrip) -> TrueTrip:
    """The trip with the alerts the truth expects from its opening to its closing (its
    final status; still open: the end of the run). damage-rates counts every alert raised
    during the trip (docs/analytics.md), where the dashboard's arrival points count those
    before the arrival (TrueTrip.alerts)."""
    final = FINAL_STATUSES[machine_of(trip.flow)]
    opened = min(change.at for change in trip.changes.values())
    closed = min((c.at for s, c in trip.changes.items() if s in final), default=run.truth.end)
    return replace(trip, alerts=_expected_of(run, trip.asset_id, opened, closed))


def test_api_damage_rates_per_sku_are_the_alerts_the_truth_expects_during_each_trip(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """Every trip created in the window (rentals too; the window is the trip's creation,
    not its arrival as on the dashboard), its alerts, and the shares with an excursion and
    with damage."""
    of_sku: dict[str, list[TrueTrip]] = defaultdict(list)
    for trip in truth.values():
        of_sku[trip.sku].append(_during(run, trip))

    def rates(sku: str, trips: list[TrueTrip]) -> dict[str, Any]:
        alerts = sum(len(trip.alerts) for trip in trips)
        excursions = sum(trip.had(EXCURSION_KEYS) for trip in trips)
        damaged = sum(trip.had(DAMAGE_KEYS) for trip in trips)
        return {"sku": sku, "trips": len(trips), "alerts": alerts,
                "alerts_per_trip": _share(alerts, len(trips)), "excursion_trips": excursions,
                "excursion_rate": _share(excursions, len(trips)), "damaged_trips": damaged,
                "damage_rate": _share(damaged, len(trips))}

    body = _analytics(run, "damage-rates", by="sku")
    assert _keyed(body["rows"], "sku") == {sku: rates(sku, trips) for sku, trips in of_sku.items()}
    assert body["totals"] == [rates("*", [trip for trips in of_sku.values() for trip in trips])]
    # The scenario's faults show: a hot van, two drops, a recall on the road.
    (totals,) = body["totals"]
    assert totals["excursion_trips"] > 0 and totals["damaged_trips"] > 1
    assert 0 < totals["alerts_per_trip"] < 1


def test_api_return_reasons_per_sku_are_those_the_returns_were_authorized_with(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    authorized = Counter((trip.sku, trip.reason or None) for trip in _returns(truth)
                         if "authorized" in trip.changes)
    assert len(authorized) > 3
    of_sku: Counter[str] = Counter()
    of_reason: Counter[str | None] = Counter()
    for (sku, reason), trips in authorized.items():
        of_sku[sku] += trips
        of_reason[reason] += trips
    body = _analytics(run, "return-reasons")
    assert {key: (row["trips"], row["share"]) for key, row in
            _keyed(body["rows"], "sku", "reason").items()} == \
        {(sku, reason): (trips, _share(trips, of_sku[sku]))
         for (sku, reason), trips in authorized.items()}
    assert {key: (row["trips"], row["share"]) for key, row in
            _keyed(body["totals"], "sku", "reason").items()} == \
        {("*", reason): (trips, _share(trips, of_reason.total()))
         for reason, trips in of_reason.items()}


def test_api_dispositions_are_the_inspections_posted_against_the_recommendations(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """Every trip recommended a disposition at its arrival and inspected since: rentals
    too, and a recall an inspection leaves received (quarantine), which the dashboard's
    points leave out until it moves (docs/analytics.md, docs/dashboards.md)."""
    inspected = Counter((trip.recommended, trip.disposition) for trip in truth.values()
                        if trip.recommended is not None and trip.disposition is not None)
    assert any(recommended != actual for recommended, actual in inspected)
    body = _analytics(run, "dispositions")
    assert {key: (row["trips"], row["match_rate"]) for key, row in
            _keyed(body["rows"], "recommended", "actual").items()} == \
        {(rec, act): (trips, float(rec == act)) for (rec, act), trips in inspected.items()}
    held: dict[str, list[bool]] = defaultdict(list)
    for (recommended, actual), trips in inspected.items():
        for key in (recommended, "*"):
            held[key] += [recommended == actual] * trips
    assert {key: (row["trips"], row["match_rate"]) for key, row in
            _keyed(body["totals"], "recommended", "actual").items()} == \
        {(key, "*"): (len(matched), _share(sum(matched), len(matched)))
         for key, matched in held.items()}


def test_api_recall_recovery_counts_each_recall_by_its_status_at_each_days_end(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """A row per UTC day the window touches, each recall in the column of its status by the
    truth at the day's end (at `to` for the last), where the truth is sure of it; at the
    last, every recall received, none missing."""
    recalls = [trip for trip in truth.values() if trip.flow == "recall"]
    assert recalls
    start, end = _analytics_window(run)
    rows = _analytics(run, "recall-recovery")["rows"]
    assert [row["day"] for row in rows] == [
        (start.date() + timedelta(days=n)).isoformat()
        for n in range(((end - timedelta(microseconds=1)).date() - start.date()).days + 1)]
    sure = 0
    for row in rows:
        moment = min(datetime.fromisoformat(row["day"]).replace(tzinfo=UTC)
                     + timedelta(days=1), end)
        statuses = [trip.statuses_at(moment) for trip in recalls]
        if any(len(possible) > 1 for possible in statuses):
            continue  # a change within its tolerance of the moment
        counts = Counter(RECOVERY_COLUMN[status] for (status,) in statuses
                         if status is not None)
        assert row == {"day": row["day"], "recalled": counts.total(),
                       **{column: counts[column] for column in
                          ("missing", "located", "in_transit", "received")}}, row
        sure += 1
    assert sure > 0
    assert all(trip.statuses_at(end) <= set(FINAL_STATUSES["recall"]) for trip in recalls)
    assert rows[-1] == {"day": rows[-1]["day"], "recalled": len(recalls), "missing": 0,
                        "located": 0, "in_transit": 0, "received": len(recalls)}


def test_api_rental_utilization_per_category_is_the_share_of_time_out_the_truth_gives(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """Per category, the time out of the rentals with a trip in the window over the window
    times their number (docs/analytics.md; the dashboard's mean of points counts every
    rental, in a trip or not): within the tolerance the dashboard's test allows (0.05, and
    the truth's own of when each rental went out and came back), and to the second as the
    trips' histories date them. The turnaround, returned to available, likewise. The
    long-term rentals' trips, stamped with the wall clock (_analytics_window), are in none."""
    start, end = _analytics_window(run)
    span_h = _hours(end - start)
    of_category: dict[str | None, list[TrueTrip]] = defaultdict(list)
    for trip in truth.values():
        if trip.flow == "rental_return":
            of_category[trip.category or None].append(trip)
    shown = _keyed(_analytics(run, "rental-utilization")["rows"], "category")
    assert set(shown) == set(of_category) and len(shown) > 1
    for category, trips in of_category.items():
        row, assets = shown[category], len({trip.asset_id for trip in trips})
        assert (row["assets"], row["trips"]) == (assets, len(trips)), category
        assert all("returned" in trip.changes for trip in trips)  # all back by the end
        out = [_true_hours(trip, "checked_out", "returned") for trip in trips]
        assert row["utilization"] == pytest.approx(
            sum(h for h, _ in out) / (span_h * assets),
            abs=0.05 + sum(s for _, s in out) / (span_h * assets)), category
        recorded = [_recorded_hours(run, t.id, "checked_out", "returned") for t in trips]
        assert row["utilization"] == pytest.approx(sum(recorded) / (span_h * assets),
                                                   abs=1e-4), category
        made_available = [trip for trip in trips if "available" in trip.changes]
        hours = [_true_hours(trip, "returned", "available") for trip in made_available]
        assert row["turnaround_h_mean"] == pytest.approx(
            mean(h for h, _ in hours), abs=max(s for _, s in hours) + 1e-3), category
        _within(row["turnaround_h_p90"], hours, 90)  # the nearest rank (docs/analytics.md)
        recorded = [_recorded_hours(run, t.id, "returned", "available")
                    for t in made_available]
        assert row["turnaround_h_mean"] == pytest.approx(mean(recorded), abs=1e-3), category
        assert row["turnaround_h_p90"] == pytest.approx(_influx_percentile(recorded, 90),
                                                        abs=1e-3), category


def test_api_warranty_turnaround_per_hub_is_from_arrival_to_disposition_and_closing(
        run: Lifecycle, truth: dict[str, TrueTrip]) -> None:
    """Per hub, the repairs that arrived; of them those dispositioned and those closed, and
    the hours from the arrival to it: within the truth's tolerance, and to the second as the
    trips' histories date them. A repair not closed in the run leaves its hours null."""
    of_hub: dict[str, list[TrueTrip]] = defaultdict(list)
    for trip in truth.values():
        if trip.flow == "warranty_repair" and "arrived" in trip.changes:
            of_hub[trip.hub].append(trip)
    assert of_hub
    shown = _keyed(_analytics(run, "warranty-turnaround")["rows"], "hub")
    assert set(shown) == set(of_hub)
    for hub, trips in of_hub.items():
        row = shown[hub]
        assert row["arrived"] == len(trips), hub
        for step in ("dispositioned", "closed"):
            done = [trip for trip in trips if step in trip.changes]
            p50, p90 = row[f"to_{step}_p50_h"], row[f"to_{step}_p90_h"]
            assert row[step] == len(done), (hub, step)
            if not done:
                assert (p50, p90) == (None, None), (hub, step)
                continue
            hours = [_true_hours(trip, "arrived", step) for trip in done]
            _within(p50, hours, 50, _linear_percentile)
            _within(p90, hours, 90, _linear_percentile)
            recorded = [_recorded_hours(run, trip.id, "arrived", step) for trip in done]
            assert p50 == pytest.approx(_linear_percentile(recorded, 50), abs=1e-3), hub
            assert p90 == pytest.approx(_linear_percentile(recorded, 90), abs=1e-3), hub
    assert any(row["dispositioned"] for row in shown.values())


def test_api_csv_export_holds_the_rows_and_totals_of_the_json(run: Lifecycle) -> None:
    """warranty-turnaround: its null hours (no repair closed in the run) are empty cells."""
    body = _analytics(run, "warranty-turnaround")
    answer = _analytics_answer(run, "warranty-turnaround", format="csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == \
        'attachment; filename="warranty-turnaround.csv"'
    assert answer.text.startswith("\ufeff")
    cells = list(csv.reader(io.StringIO(answer.text.removeprefix("\ufeff"))))
    assert cells == [body["columns"], *(["" if row[column] is None else str(row[column])
                                         for column in body["columns"]]
                                        for row in body["rows"] + body["totals"])]
    assert len(cells) > 2 and any("" in line for line in cells[1:])
