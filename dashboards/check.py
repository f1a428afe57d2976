"""Structural checks of a dashboard's JSON, the mistakes Grafana loads silently and shows as
broken or empty panels: duplicate panel ids, panels off the grid or on top of each other,
data sources that do not exist, empty or unresolvable queries, maps without table data."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dashboards.variables import VARIABLE

GRID_WIDTH = 24
BUILT_IN_VARIABLES = {"timeFilter", "__interval", "__interval_ms", "__from", "__to",
                      "__range", "__range_s", "__range_ms", "__rate_interval"}
GRAFANA_BUILT_IN_DATASOURCE = "-- Grafana --"


def _datasource_uid(ref: Any) -> str | None:
    if isinstance(ref, dict):
        uid = ref.get("uid")
        return uid if isinstance(uid, str) else None
    return ref if isinstance(ref, str) else None


def problems(board: dict[str, Any], datasource_uids: Collection[str]) -> list[str]:
    """Everything wrong with `board`, given the uids of the data sources that exist."""
    found: list[str] = []
    title = board.get("title") or "?"

    def bad(where: str, what: str) -> None:
        found.append(f"{title}: {where}: {what}")

    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in board:
            bad("dashboard", f"no {key}")
    uid = board.get("uid", "")
    if not isinstance(uid, str) or not 0 < len(uid) <= 40:
        bad("dashboard", f"uid {uid!r} must be 1-40 characters")

    variables = {v.get("name") for v in board.get("templating", {}).get("list", [])}
    known = {*datasource_uids, GRAFANA_BUILT_IN_DATASOURCE}

    def check_datasource(where: str, ref: Any) -> None:
        uid = _datasource_uid(ref)
        if uid is None:
            bad(where, "no data source")
        elif uid.startswith("$"):
            if uid.strip("${}") not in variables:
                bad(where, f"data source variable {uid} is not defined")
        elif uid not in known:
            bad(where, f"data source {uid!r} does not exist")

    def check_query(where: str, query: Any) -> None:
        if not isinstance(query, str) or not query.strip():
            bad(where, "empty query")
            return
        for match in VARIABLE.finditer(query):
            name = match.group(1) or match.group(2)
            if name not in variables and name not in BUILT_IN_VARIABLES:
                bad(where, f"${name} is not a variable of the dashboard")

    for variable in board.get("templating", {}).get("list", []):
        where = f"variable {variable.get('name')}"
        if variable.get("type") == "query":
            check_datasource(where, variable.get("datasource"))
            check_query(where, variable.get("query"))

    for annotation in board.get("annotations", {}).get("list", []):
        if annotation.get("builtIn"):
            continue
        where = f"annotation {annotation.get('name')}"
        check_datasource(where, annotation.get("datasource"))
        check_query(where, annotation.get("query"))

    ids: set[int] = set()
    cells: dict[tuple[int, int], str] = {}
    for panel in board.get("panels", []):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        panel_id = panel.get("id")
        if not isinstance(panel_id, int):
            bad(where, "no numeric id")
        elif panel_id in ids:
            bad(where, "id used twice")
        else:
            ids.add(panel_id)
        if not panel.get("title"):
            bad(where, "no title")
        grid = panel.get("gridPos", {})
        x, y, w, h = (grid.get(k) for k in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) for v in (x, y, w, h)):
            bad(where, "gridPos needs integer x, y, w, h")
        else:
            assert isinstance(x, int) and isinstance(y, int)
            assert isinstance(w, int) and isinstance(h, int)
            if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > GRID_WIDTH:
                bad(where, f"gridPos {grid} is off the {GRID_WIDTH}-column grid")
            for cell in ((cx, cy) for cx in range(x, x + w) for cy in range(y, y + h)):
                if cell in cells:
                    bad(where, f"overlaps panel {cells[cell]}")
                    break
                cells[cell] = str(panel_id)
        if panel.get("type") == "row":
            continue
        check_datasource(where, panel.get("datasource"))
        targets = panel.get("targets") or []
        if not targets:
            bad(where, "no targets")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
            bad(where, f"refIds {ref_ids} must be present and unique")
        for target in targets:
            target_where = f"{where} target {target.get('refId')}"
            check_datasource(target_where, target.get("datasource", panel.get("datasource")))
            check_query(target_where, target.get("query"))
            if panel.get("type") == "geomap" and target.get("resultFormat") != "table":
                # Grafana splits time series lat and lon into frames the map cannot pair.
                bad(target_where, "a geomap needs resultFormat table")
    return found
