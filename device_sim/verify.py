"""The verdict: what a scenario says the gateway should raise (its ground truth, written
by `boomerang sim play` as JSON), against what the gateway raised, read through the REST
API as any client would.

An expected alert is `raised` when the gateway has an alert of the same kind for the same
asset (and metric, for out_of_spec) opened within the expectation's tolerance plus `slack`
of the expected time, `missed` otherwise; an alert of a scenario asset that no expectation
explains is `unexpected`. An expected arrival is checked by the asset's state (the API does
not keep an arrival time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.table import Table

from device_sim.timeline import Expected, Timeline

ARRIVED_STATES = ("received", "returned")
PAGE = 1000


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the gateway should raise for one played scenario."""

    scenario: str
    seed: int
    start: datetime
    end: datetime
    assets: list[str]
    expected: list[Expected]

    @classmethod
    def of(cls, timeline: Timeline) -> GroundTruth:
        return cls(timeline.scenario, timeline.seed, timeline.start, timeline.end,
                   [body["id"] for body in timeline.assets], list(timeline.expected))

    def save(self, path: Path) -> None:
        path.write_bytes(orjson.dumps({
            "scenario": self.scenario, "seed": self.seed,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "assets": self.assets,
            "expected": [{"kind": e.kind, "asset_id": e.asset_id, "key": e.key,
                          "at": e.at.isoformat(),
                          "tolerance_s": e.tolerance.total_seconds()}
                         for e in self.expected],
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
        )


@dataclass(frozen=True, slots=True)
class Row:
    verdict: str  # raised, missed, unexpected
    kind: str
    asset_id: str
    key: str
    expected_at: datetime | None
    raised_at: datetime | None
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    rows: list[Row]

    def count(self, verdict: str) -> int:
        return sum(1 for row in self.rows if row.verdict == verdict)

    @property
    def ok(self) -> bool:
        return self.count("missed") == 0


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def judge(truth: GroundTruth, alerts: list[dict[str, Any]],
          asset_states: dict[str, str], slack: timedelta) -> Verdict:
    """Pure: the comparison, given the gateway's alerts and asset states."""
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
    for alert in sorted(candidates, key=lambda a: (a["opened_at"], a["id"])):
        if alert["id"] not in used:
            rows.append(Row("unexpected", alert["kind"], alert["asset_id"], alert["key"], None,
                            _time(alert["opened_at"]), alert["id"]))
    return Verdict(rows)


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


def render(truth: GroundTruth, verdict: Verdict) -> tuple[Table, str]:
    """The verdict as a table, misses first, and a one-line summary."""
    def when(at: datetime | None) -> str:
        return at.strftime("%Y-%m-%d %H:%M") if at else ""

    table = Table(title=f"{truth.scenario} (seed {truth.seed})")
    for column in ("verdict", "kind", "asset", "key", "expected at", "raised at"):
        table.add_column(column)
    order = {"missed": 0, "unexpected": 1, "raised": 2}
    colours = {"missed": "red", "unexpected": "yellow", "raised": "green"}
    for row in sorted(verdict.rows, key=lambda r: (order[r.verdict], r.asset_id)):
        table.add_row(f"[{colours[row.verdict]}]{row.verdict}[/]", row.kind, row.asset_id,
                      row.key, when(row.expected_at), when(row.raised_at))
    summary = (f"expected {len(truth.expected)}, raised {verdict.count('raised')}, "
               f"missed {verdict.count('missed')}, unexpected {verdict.count('unexpected')}")
    return table, summary
