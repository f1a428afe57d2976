"""Every committed dashboard passes the structural checks against the data source Grafana is
provisioned with; and each check catches the mistake it is for."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.check import problems
from dashboards.generate import JSON_DIR
from dashboards.model import DATASOURCE_UID

ROOT = Path(__file__).resolve().parents[3]
PROVISIONED = yaml.safe_load(
    (ROOT / "dashboards/provisioning/datasources/influxdb.yaml").read_text())
DATASOURCES = {source["uid"] for source in PROVISIONED["datasources"]}
BOARDS = {path.name: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def test_the_provisioned_data_source_is_the_one_the_dashboards_use() -> None:
    assert DATASOURCES == {DATASOURCE_UID}


def test_there_are_the_six_dashboards_with_distinct_uids() -> None:
    titles = {board["title"] for board in BOARDS.values()}
    assert titles == {f"Boomerang / {name}" for name in (
        "Fleet map", "Asset detail", "Returns", "Rentals", "Recalls", "Gateway health")}
    assert len({board["uid"] for board in BOARDS.values()}) == len(BOARDS)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_a_committed_dashboard_has_no_structural_problem(name: str) -> None:
    assert problems(BOARDS[name], DATASOURCES) == []


def _first_panel(board: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["type"] == "geomap")


BREAKAGES = {
    "id used twice": lambda b: b["panels"][1].update(id=b["panels"][0]["id"]),
    "does not exist": lambda b: b["panels"][0]["targets"][0].update(
        datasource={"type": "influxdb", "uid": "gone"}),
    "empty query": lambda b: b["panels"][0]["targets"][0].update(query="  "),
    "no targets": lambda b: b["panels"][0].update(targets=[]),
    "is not a variable": lambda b: b["panels"][0]["targets"][0].update(
        query="SELECT 1 FROM x WHERE a =~ /$nowhere/"),
    "overlaps panel": lambda b: b["panels"][1].update(gridPos=dict(b["panels"][0]["gridPos"])),
    "off the 24-column grid": lambda b: b["panels"][0]["gridPos"].update(x=20, w=10),
    "needs resultFormat table": lambda b: _first_panel(b)["targets"][0].update(
        resultFormat="time_series"),
    "must be present and unique": lambda b: b["panels"][0]["targets"].append(
        dict(b["panels"][0]["targets"][0])),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_check_catches_its_mistake(breakage: str) -> None:
    board = copy.deepcopy(BOARDS["fleet-map.json"])
    BREAKAGES[breakage](board)
    found = problems(board, DATASOURCES)
    assert any(breakage in problem for problem in found), found
