"""The verdict: what a scenario says the gateway should raise (its ground truth, written
by `boomerang sim play` as JSON), against what the gateway raised, read through the REST
API as any client would.

An expected alert is `raised` when the gateway has an alert of the same kind for the same
asset (and metric, for out_of_spec) opened within the expectation's tolerance plus `slack`
of the expected time, `missed` otherwise; an alert of a scenario asset that no expectation
explains is `unexpected`. An expected arrival is checked by the asset's state (the API does
not keep an arrival time).

Trips (scenarios with lifecycle groups), read through `GET /api/v1/trips?asset_id=` and
`GET /api/v1/trips/{id}`: an expected status change is `raised` when the trip's history has
that move (status and previous status) within its tolerance plus `slack`, `missed` otherwise;
a history entry of a scenario asset's trip that no expectation explains is `unexpected`. Each
trip's destination (and for a routed one, its routing's choice) is `right` or `wrong`, and so
is the disposition recommended at arrival and the rule that chose it.

`late_predicted` alerts are predictions, not facts a truth can hold: each is `caught` on an
asset the truth expects an `overdue` alert for (it did end up late), a `false_alarm` on any
other, and neither misses nor adds to the unexpected (tests/bench/bench_eta.py measures
them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Group, RenderableType
from rich.table import Table

from device_sim._lifecycle import ExpectedStatus, ExpectedTrip
from device_sim.timeline import Expected, Timeline

ARRIVED_STATES = ("received", "returned")
PAGE = 1000
TRIP_ROWS = ("status", "hub", "recommendation")
"""The kinds of rows about trips; every other row is about an alert or an arrival."""
PREDICTED = "late_predicted"
"""The alert kind that is a prediction (verdicts `caught` and `false_alarm`)."""


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the gateway should raise for one played scenario."""

    scenario: str
    seed: int
    start: datetime
    end: datetime
    assets: list[str]
    expected: list[Expected]
    trips: list[ExpectedTrip] = field(default_factory=list)
    trip_changes: list[ExpectedStatus] = field(default_factory=list)

    @classmethod
    def of(cls, timeline: Timeline) -> GroundTruth:
        return cls(timeline.scenario, timeline.seed, timeline.start, timeline.end,
                   [body["id"] for body in timeline.assets], list(timeline.expected),
                   list(timeline.trips), list(timeline.trip_changes))

    @property
    def trip_assets(self) -> list[str]:
        """The assets whose trips the simulator opens: every trip of theirs is checked."""
        return sorted({trip.asset_id for trip in self.trips})

    def save(self, path: Path) -> None:
        path.write_bytes(orjson.dumps({
            "scenario": self.scenario, "seed": self.seed,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "assets": self.assets,
            "expected": [{"kind": e.kind, "asset_id": e.asset_id, "key": e.key,
                          "at": e.at.isoformat(),
                          "tolerance_s": e.tolerance.total_seconds()}
                         for e in self.expected],
            "trips": [_trip_data(t) for t in self.trips],
            "trip_changes": [{"trip_id": c.trip_id, "asset_id": c.asset_id,
                              "status": c.status, "previous_status": c.previous_status,
                              "at": c.at.isoformat(),
                              "tolerance_s": c.tolerance.total_seconds(), "by": c.by}
                             for c in self.trip_changes],
        }, option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        data = orjson.loads(path.read_bytes())
        return cls(
            data["scenario"], data["seed"], datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]), list(data["assets"]),
            [Expected(kind=e["kind"], asset_id=e["asset_id"], key=e["key"],
                      at=datetime.fromisoformat(e["at"]),
                      tolerance=timedelta(seconds=e["tolerance_s"]))
             for e in data["expected"]],
            # A truth written before trips has neither.
            [_trip(t) for t in data.get("trips", [])],
            [ExpectedStatus(trip_id=c["trip_id"], asset_id=c["asset_id"], status=c["status"],
                            previous_status=c["previous_status"],
                            at=datetime.fromisoformat(c["at"]),
                            tolerance=timedelta(seconds=c["tolerance_s"]), by=c["by"])
             for c in data.get("trip_changes", [])],
        )


def _trip_data(trip: ExpectedTrip) -> dict[str, Any]:
    return {
        "id": trip.id, "asset_id": trip.asset_id, "flow": trip.flow,
        "destination": trip.destination, "routed": trip.routed, "service": trip.service,
        "rerouted_from": trip.rerouted_from,
        "recommendation": ({"disposition": trip.recommendation, "rule": trip.rule}
                           if trip.recommendation is not None else None),
        "disposition": trip.disposition,
        "routings": list(trip.routings),
    }


def _trip(data: Mapping[str, Any]) -> ExpectedTrip:
    recommendation = data["recommendation"]
    return ExpectedTrip(
        id=data["id"], asset_id=data["asset_id"], flow=data["flow"],
        destination=data["destination"], routed=data["routed"], service=data["service"],
        rerouted_from=data["rerouted_from"],
        recommendation=recommendation["disposition"] if recommendation else None,
        rule=recommendation["rule"] if recommendation else None,
        disposition=data["disposition"], routings=tuple(data["routings"]))


@dataclass(frozen=True, slots=True)
class Row:
    verdict: str
    """raised, missed, unexpected; for hubs and recommendations right or wrong."""
    kind: str
    """An alert kind or "arrival"; for trips "status", "hub" or "recommendation"."""
    asset_id: str
    key: str
    """The metric of an alert; a status change (`previous -> status`); the expected hub or
    recommendation."""
    expected_at: datetime | None
    raised_at: datetime | None
    alert_id: str | None = None
    trip_id: str = ""
    got: str = ""
    """For hubs and recommendations: what the gateway has."""


@dataclass(frozen=True, slots=True)
class Verdict:
    rows: list[Row]

    def count(self, verdict: str, kind: str | None = None) -> int:
        """Rows with `verdict`: of one of the trip kinds (TRIP_ROWS), or with None, of the
        alerts and arrivals."""
        return sum(1 for row in self.rows if row.verdict == verdict and (
            row.kind == kind if kind is not None else row.kind not in TRIP_ROWS))

    @property
    def ok(self) -> bool:
        """Nothing missed, no hub or recommendation wrong (unexpected ones are reported)."""
        return (self.count("missed") == 0 and self.count("missed", "status") == 0
                and self.count("wrong", "hub") == 0
                and self.count("wrong", "recommendation") == 0)

    def figures(self, truth: GroundTruth) -> dict[str, Any]:
        """The counts, for a machine to read."""
        figures: dict[str, Any] = {
            "scenario": truth.scenario, "seed": truth.seed, "ok": self.ok,
            "alerts": {"expected": len(truth.expected), "raised": self.count("raised"),
                       "missed": self.count("missed"),
                       "unexpected": self.count("unexpected")},
            "late_predicted": {"caught": self.count("caught"),
                               "false_alarms": self.count("false_alarm")}}
        if truth.trips:
            figures["trip_changes"] = {
                "expected": len(truth.trip_changes), "raised": self.count("raised", "status"),
                "missed": self.count("missed", "status"),
                "unexpected": self.count("unexpected", "status")}
            figures["hubs"] = {"checked": len(truth.trips),
                               "wrong": self.count("wrong", "hub")}
            figures["recommendations"] = {
                "checked": self.count("right", "recommendation")
                + self.count("wrong", "recommendation"),
                "wrong": self.count("wrong", "recommendation")}
        return figures


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def judge(truth: GroundTruth, alerts: list[dict[str, Any]],
          asset_states: dict[str, str], slack: timedelta,
          trips: Sequence[Mapping[str, Any]] = ()) -> Verdict:
    """Pure: the comparison, given the gateway's alerts, asset states and (for a truth with
    trips) the trips of its trip assets, each as `GET /api/v1/trips/{id}` gives it."""
    ours = set(truth.assets)
    candidates = [a for a in alerts if a["asset_id"] in ours]
    used: set[str] = set()
    rows: list[Row] = []
    for expected in sorted(truth.expected, key=lambda e: (e.at, e.asset_id, e.kind)):
        if expected.kind == "arrival":
            state = asset_states.get(expected.asset_id, "")
            rows.append(Row("raised" if state in ARRIVED_STATES else "missed", "arrival",
                            expected.asset_id, "", expected.at, None))
            continue
        match = _best_match(expected, candidates, used, slack)
        if match is None:
            rows.append(Row("missed", expected.kind, expected.asset_id, expected.key,
                            expected.at, None))
        else:
            used.add(match["id"])
            rows.append(Row("raised", expected.kind, expected.asset_id, expected.key,
                            expected.at, _time(match["opened_at"]), match["id"]))
    late = {e.asset_id for e in truth.expected if e.kind == "overdue"}
    for alert in sorted(candidates, key=lambda a: (a["opened_at"], a["id"])):
        if alert["kind"] == PREDICTED:
            rows.append(Row("caught" if alert["asset_id"] in late else "false_alarm",
                            PREDICTED, alert["asset_id"], "", None, _time(alert["opened_at"]),
                            alert["id"]))
        elif alert["id"] not in used:
            rows.append(Row("unexpected", alert["kind"], alert["asset_id"], alert["key"], None,
                            _time(alert["opened_at"]), alert["id"]))
    if truth.trips:
        rows += _judge_trips(truth, trips, slack)
    return Verdict(rows)


def _move(status: str, previous: str | None) -> str:
    return f"{previous or '-'} -> {status}"


def _judge_trips(truth: GroundTruth, trips: Sequence[Mapping[str, Any]],
                 slack: timedelta) -> list[Row]:
    ours = set(truth.trip_assets)
    gateway = {trip["id"]: trip for trip in trips if trip.get("asset_id") in ours}
    rows: list[Row] = []
    used: set[tuple[str, int]] = set()
    for change in sorted(truth.trip_changes, key=lambda c: (c.at, c.trip_id)):
        history = (gateway.get(change.trip_id) or {}).get("history") or []
        best: tuple[timedelta, int, datetime] | None = None
        for i, entry in enumerate(history):
            if ((change.trip_id, i) in used or entry.get("status") != change.status
                    or entry.get("previous_status") != change.previous_status):
                continue
            at = _time(entry.get("at"))
            if at is None:
                continue
            off = abs(at - change.at)
            if off <= change.tolerance + slack and (best is None or off < best[0]):
                best = (off, i, at)
        if best is None:
            rows.append(Row("missed", "status", change.asset_id,
                            _move(change.status, change.previous_status), change.at, None,
                            trip_id=change.trip_id))
        else:
            used.add((change.trip_id, best[1]))
            rows.append(Row("raised", "status", change.asset_id,
                            _move(change.status, change.previous_status), change.at, best[2],
                            trip_id=change.trip_id))
    for trip_id, trip in sorted(gateway.items()):
        for i, entry in enumerate(trip.get("history") or []):
            if (trip_id, i) not in used:
                rows.append(Row("unexpected", "status", trip["asset_id"],
                                _move(entry.get("status", "?"), entry.get("previous_status")),
                                None, _time(entry.get("at")), trip_id=trip_id))
    for expected in truth.trips:
        rows += _judge_trip(expected, gateway.get(expected.id))
    return rows


def _judge_trip(expected: ExpectedTrip, trip: Mapping[str, Any] | None) -> list[Row]:
    """The trip's hub, and its recommendation if it arrives within the run."""
    trip = trip or {}
    destination = trip.get("destination")
    got = destination or "(none)"
    right = destination == expected.destination
    if expected.routed:
        chosen = (trip.get("routing") or {}).get("chosen")
        right = right and chosen == expected.destination
        if chosen != destination:
            got = f"{got} (routing chose {chosen})"
    rows = [Row("right" if right else "wrong", "hub", expected.asset_id, expected.destination,
                None, None, trip_id=expected.id, got=got)]
    if expected.recommendation is not None:
        recommendation = trip.get("recommendation") or {}
        got = (f"{recommendation.get('disposition')} ({recommendation.get('rule')})"
               if recommendation else "(none)")
        right = (recommendation.get("disposition") == expected.recommendation
                 and recommendation.get("rule") == expected.rule)
        rows.append(Row("right" if right else "wrong", "recommendation", expected.asset_id,
                        f"{expected.recommendation} ({expected.rule})", None, None,
                        trip_id=expected.id, got=got))
    return rows


def _best_match(expected: Expected, alerts: list[dict[str, Any]], used: set[str],
                slack: timedelta) -> dict[str, Any] | None:
    window = expected.tolerance + slack
    best: tuple[timedelta, dict[str, Any]] | None = None
    for alert in alerts:
        if (alert["id"] in used or alert["kind"] != expected.kind
                or alert["asset_id"] != expected.asset_id
                or (expected.key and alert["key"] != expected.key)):
            continue
        opened = _time(alert["opened_at"])
        assert opened is not None
        off = abs(opened - expected.at)
        if off <= window and (best is None or off < best[0]):
            best = (off, alert)
    return best[1] if best else None


async def fetch(api_url: str, api_key: str, truth: GroundTruth
                ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every alert, and the state of every scenario asset."""
    async with httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30,
                                 headers={"Authorization": f"Bearer {api_key}"}) as api:
        alerts: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            response = await api.get("/api/v1/alerts", params=params)
            response.raise_for_status()
            page = response.json()
            alerts += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        states: dict[str, str] = {}
        for asset_id in truth.assets:
            response = await api.get(f"/api/v1/assets/{asset_id}")
            if response.status_code == 200:
                states[asset_id] = response.json()["state"]
    return alerts, states


async def fetch_trips(api_url: str, api_key: str, truth: GroundTruth, *,
                      transport: httpx.AsyncBaseTransport | None = None
                      ) -> list[dict[str, Any]]:
    """Every trip of the truth's trip assets, with its history, as any client reads them;
    none from a gateway without the trips API (every expectation is then missed)."""
    found: list[dict[str, Any]] = []
    if not truth.trips:
        return found
    async with httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30, transport=transport,
                                 headers={"Authorization": f"Bearer {api_key}"}) as api:
        for asset_id in truth.trip_assets:
            ids: list[str] = []
            cursor: str | None = None
            while True:
                params: dict[str, str | int] = {"asset_id": asset_id, "limit": PAGE}
                if cursor is not None:
                    params["cursor"] = cursor
                response = await api.get("/api/v1/trips", params=params)
                if response.status_code == 404:
                    return found
                response.raise_for_status()
                page = response.json()
                ids += [item["id"] for item in page["items"]]
                cursor = page.get("next_cursor")
                if cursor is None:
                    break
            for trip_id in ids:
                response = await api.get(f"/api/v1/trips/{trip_id}")
                if response.status_code == 200:
                    found.append(response.json())
    return found


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else ""


_ORDER = {"missed": 0, "wrong": 0, "unexpected": 1, "false_alarm": 1, "raised": 2,
          "right": 2, "caught": 2}
_COLOURS = {"missed": "red", "wrong": "red", "unexpected": "yellow", "raised": "green",
            "right": "green", "caught": "green", "false_alarm": "yellow"}


def render(truth: GroundTruth, verdict: Verdict) -> tuple[RenderableType, str]:
    """The verdict as a table, misses first (a second one for trips, when the scenario has
    them), and a one-line summary."""
    table = Table(title=f"{truth.scenario} (seed {truth.seed})")
    for column in ("verdict", "kind", "asset", "key", "expected at", "raised at"):
        table.add_column(column)
    for row in sorted((r for r in verdict.rows if r.kind not in TRIP_ROWS),
                      key=lambda r: (_ORDER[r.verdict], r.asset_id)):
        table.add_row(f"[{_COLOURS[row.verdict]}]{row.verdict}[/]", row.kind, row.asset_id,
                      row.key, _when(row.expected_at), _when(row.raised_at))
    summary = (f"expected {len(truth.expected)}, raised {verdict.count('raised')}, "
               f"missed {verdict.count('missed')}, unexpected {verdict.count('unexpected')}")
    if verdict.count("caught") or verdict.count("false_alarm"):
        summary += (f"; late predicted: caught {verdict.count('caught')}, "
                    f"false alarms {verdict.count('false_alarm')}")
    if not truth.trips:
        return table, summary
    trips = Table(title=f"{truth.scenario}: trips")
    for column in ("verdict", "what", "trip", "expected", "got", "expected at", "at"):
        trips.add_column(column)
    for row in sorted((r for r in verdict.rows if r.kind in TRIP_ROWS),
                      key=lambda r: (_ORDER[r.verdict], r.trip_id, r.expected_at or r.raised_at
                                     or truth.start)):
        trips.add_row(f"[{_COLOURS[row.verdict]}]{row.verdict}[/]", row.kind, row.trip_id,
                      row.key, row.got, _when(row.expected_at), _when(row.raised_at))
    recommendations = (verdict.count("right", "recommendation")
                       + verdict.count("wrong", "recommendation"))
    summary += (
        f"; trip status changes expected {len(truth.trip_changes)}, "
        f"raised {verdict.count('raised', 'status')}, "
        f"missed {verdict.count('missed', 'status')}, "
        f"unexpected {verdict.count('unexpected', 'status')}; "
        f"hubs {len(truth.trips)}, wrong {verdict.count('wrong', 'hub')}; "
        f"recommendations {recommendations}, wrong {verdict.count('wrong', 'recommendation')}")
    return Group(table, trips), summary
