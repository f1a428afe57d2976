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
  trips on their way at a moment of the run; utilization per asset class."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import pytest
from support.common import ROOT
from support.gateways import PlayedScenario, boomerang, every_item, play_scenario
from support.servers import InfluxDB

from dashboards.boards import TRIP_STATUSES, all_dashboards
from dashboards.model import Panel
from dashboards.preview import InfluxQL
from dashboards.variables import ALL, interpolate
from device_sim._lifecycle import ARRIVED_STATUS, ExpectedStatus, inspection_moves
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
            alerts=[e for e in run.truth.expected if e.asset_id == trip.asset_id
                    and e.kind != "arrival" and begin <= e.at <= end])
    return trips


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


def _region(lat: float, lon: float) -> str:
    """docs/eta.md: a cell of whole degrees, named like 51N7E."""
    la, lo = math.floor(lat), math.floor(lon)
    return f"{abs(la)}{'N' if la >= 0 else 'S'}{abs(lo)}{'E' if lo >= 0 else 'W'}"


def _within(shown: float, values: list[tuple[float, float]], n: float) -> None:
    """The nearest-rank percentile `n` of the true values, each known within its slack: a
    percentile moves no further than the values it is taken of."""
    assert shown == pytest.approx(_influx_percentile([v for v, _ in values], n),
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
    hours = []
    for trip in repairs:
        arrived, done = trip.changes["arrived"], trip.changes["dispositioned"]
        hours.append((_hours(done.at - arrived.at), _hours(done.tolerance + arrived.tolerance)))
    (row,) = run.run(_panel(RETURNS, "Warranty repair turnaround (hours)").queries[0].text)
    assert row["repairs"] == len(repairs)
    _within(row["p50"], hours, 50)
    _within(row["p90"], hours, 90)
    # To the second, as the trips' histories date the arrival and the disposition.
    recorded = [_hours(_dated(run, t.id)["dispositioned"] - _dated(run, t.id)["arrived"])
                for t in repairs]
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
        row, hours = shown[category], []
        for trip in trips:
            returned, available = trip.changes["returned"], trip.changes["available"]
            hours.append((_hours(available.at - returned.at),
                          _hours(available.tolerance + returned.tolerance)))
        slack = max(s for _, s in hours)
        assert row["mean"] == pytest.approx(mean(h for h, _ in hours), abs=slack), category
        _within(row["p50"], hours, 50)
        _within(row["p90"], hours, 90)
        # To the second, as the trips' histories date them.
        recorded = [_hours(_dated(run, t.id)["available"] - _dated(run, t.id)["returned"])
                    for t in trips]
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
