"""Typed builders for the part of Grafana's dashboard JSON our dashboards use: panels laid
out on the grid, raw InfluxQL targets, template variables and annotations. Plain
dataclasses that turn into the JSON Grafana 10/11 loads; nothing is sent anywhere here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DATASOURCE_UID = "boomerang-influxdb"
"""The data source of dashboards/provisioning/datasources/influxdb.yaml and of
`boomerang dashboards push`: every panel, variable and annotation refers to it."""
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39

ResultFormat = Literal["time_series", "table"]

# Colours of the fleet map's states, also used by the static previews.
STATE_COLOURS = {
    "in_transit": "blue",
    "overdue": "orange",
    "out_of_spec": "purple",
    "recalled": "red",
    "received": "green",
    "returned": "green",
}


@dataclass(frozen=True)
class Query:
    """One raw InfluxQL target. Its text may use Grafana's `$timeFilter`, `$__interval`
    and the dashboard's variables."""

    text: str
    result_format: ResultFormat = "time_series"
    alias: str = ""

    def target(self, ref_id: str) -> dict[str, Any]:
        target: dict[str, Any] = {
            "refId": ref_id, "datasource": DATASOURCE, "rawQuery": True,
            "query": self.text, "resultFormat": self.result_format,
        }
        if self.alias:
            target["alias"] = self.alias
        return target


@dataclass
class Panel:
    title: str
    type: str
    queries: list[Query]
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    field_config: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = dict(self.field_config)
        if self.unit:
            defaults["unit"] = self.unit
        if self.thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": [
                {"value": value, "color": colour} for value, colour in self.thresholds]}
        if self.mappings:
            defaults["mappings"] = self.mappings
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        panel: dict[str, Any] = {
            "id": panel_id, "type": self.type, "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [query.target(refs[i]) for i, query in enumerate(self.queries)],
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self.options,
        }
        if self.transformations:
            panel["transformations"] = self.transformations
        return panel


@dataclass(frozen=True)
class Variable:
    """A query variable over tag values; `all` offers every value as `.*`, which also
    matches points without the tag (a shipment has no customer)."""

    name: str
    label: str
    query: str
    multi: bool = True
    all: bool = True

    def to_json(self) -> dict[str, Any]:
        current = ({"selected": True, "text": ["All"], "value": ["$__all"]}
                   if self.all else {})
        return {
            "name": self.name, "label": self.label, "type": "query",
            "datasource": DATASOURCE, "query": self.query, "definition": self.query,
            "refresh": 2, "multi": self.multi, "includeAll": self.all,
            "allValue": ".*" if self.all else None, "current": current,
            "sort": 1, "hide": 0, "options": [],
        }


@dataclass(frozen=True)
class Annotation:
    """Events from an InfluxQL query, drawn on every time series panel."""

    name: str
    query: str
    text_column: str
    tags_column: str = ""
    colour: str = "red"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "datasource": DATASOURCE, "enable": True,
            "iconColor": self.colour, "query": self.query,
            "textColumn": self.text_column, "tagsColumn": self.tags_column,
            "titleColumn": "",
        }


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[list[Panel]]
    """Panels left to right, row by row; each row's widths should add up to 24."""
    variables: list[Variable] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    time_from: str = "now-7d"
    refresh: str = "1m"
    tags: tuple[str, ...] = ("boomerang",)

    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row]

    def to_json(self) -> dict[str, Any]:
        panels, y, panel_id = [], 0, 1
        for row in self.rows:
            x = 0
            for panel in row:
                panels.append(panel.to_json(panel_id, x, y))
                panel_id += 1
                x += panel.width
            y += max(panel.height for panel in row)
        builtin = {
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard",
        }
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": list(self.tags), "timezone": "browser", "editable": False,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": [variable.to_json() for variable in self.variables]},
            "annotations": {"list": [builtin, *(a.to_json() for a in self.annotations)]},
            "links": [{"type": "dashboards", "tags": ["boomerang"], "asDropdown": True,
                       "title": "Boomerang", "includeVars": False, "keepTime": True}],
            "panels": panels,
        }
