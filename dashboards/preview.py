"""Static previews (PNG) of two dashboards, drawn with matplotlib from the very queries the
dashboards run: the fleet map, and one asset's condition charts with its profile's limits
and its alert transitions. For the README, where no Grafana can take a screenshot."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from dashboards.boards import asset_detail, fleet_map
from dashboards.model import STATE_COLOURS, Dashboard, Panel
from dashboards.variables import ALL, interpolate


@dataclass(frozen=True)
class InfluxQL:
    """InfluxQL over the v1 `/query` endpoint: InfluxDB 1.x, 2.x (DBRP) and 3.x."""

    url: str
    database: str
    token: str | None = None
    user: str | None = None
    password: str | None = None

    def rows(self, query: str) -> list[dict[str, Any]]:
        """Every row of every series, with the series' tags, as a table panel shows them."""
        params = {"db": self.database, "q": query, "epoch": "ms"}
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        if self.user:
            params |= {"u": self.user, "p": self.password or ""}
        response = httpx.get(f"{self.url.rstrip('/')}/query", params=params, headers=headers,
                             timeout=30)
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"{result['error']}: {query}")
        return [{**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
                for series in result.get("series", []) for values in series["values"]]


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    interval: str = "10m"

    def fill(self, query: str, values: Mapping[str, str | Sequence[str]]) -> str:
        return interpolate(query, values, start=self.start, end=self.end,
                           interval=self.interval)


def _panel(board: Dashboard, title: str) -> Panel:
    return next(panel for panel in board.panels() if panel.title == title)


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot.figure(figsize=(width, height), dpi=100)


def render_fleet_map(source: InfluxQL, window: Window, out: Path) -> int:
    """The fleet map's markers; returns how many assets it drew."""
    values = {"flow": ALL, "kind": ALL, "customer": ALL}
    panel = _panel(fleet_map(), "Where every asset is now")
    rows = [row for row in source.rows(window.fill(panel.queries[0].text, values))
            if row.get("lat") is not None and row.get("lon") is not None]
    figure = _figure(9, 7)
    axes = figure.add_subplot()
    for state, colour in STATE_COLOURS.items():
        mine = [row for row in rows if row.get("state") == state]
        if mine:
            axes.scatter([r["lon"] for r in mine], [r["lat"] for r in mine], s=36,
                         color=colour, edgecolors="white", linewidths=0.6,
                         label=f"{state.replace('_', ' ')} ({len(mine)})", zorder=3)
    if rows:
        middle = sum(r["lat"] for r in rows) / len(rows)
        axes.set_aspect(1 / math.cos(math.radians(middle)))  # degrees of lon shrink north
    axes.grid(color="#dddddd", linewidth=0.5)
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    axes.legend(loc="best", fontsize=8, title="state", title_fontsize=9)
    axes.set_title(f"Fleet map: where every asset is now ({len(rows)} assets)\n"
                   f"{window.end:%Y-%m-%d %H:%M} UTC", fontsize=11)
    figure.tight_layout()
    figure.savefig(out)
    return len(rows)


def render_asset_conditions(source: InfluxQL, window: Window, asset_id: str, out: Path,
                            metrics: Sequence[str] = ("temp_c", "humidity_pct",
                                                      "battery_pct")) -> int:
    """The asset detail's condition charts for `metrics`, with the profile's limits dashed
    and the alert transitions as vertical lines; returns how many readings it drew."""
    board = asset_detail()
    values = {"asset": asset_id}
    annotation = board.annotations[0]
    transitions = source.rows(window.fill(annotation.query, values))
    figure = _figure(10, 2.6 * len(metrics))
    drawn = 0
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(len(metrics), 1, index + 1)
        panel = next(p for p in board.panels()
                     if p.type == "timeseries" and p.queries[0].text.find(f'"{metric}"') > 0)
        readings = source.rows(window.fill(panel.queries[0].text, values))
        limits = source.rows(window.fill(panel.queries[1].text, values))
        drawn += len(readings)
        axes.plot([_time(r["time"]) for r in readings], [r[metric] for r in readings],
                  color="#1f77b4", linewidth=1.2, label=metric)
        for bound in ("min", "max"):
            points = [(_time(r["time"]), r[bound]) for r in limits if r.get(bound) is not None]
            if points:
                axes.plot(*zip(*points, strict=True), color="red", linestyle="--",
                          linewidth=1, label=f"profile {bound}")
        for transition in transitions:
            colour = "red" if transition.get("state") == "open" else "green"
            axes.axvline(_time(transition["time"]), color=colour, alpha=0.35, linewidth=1)
        axes.set_ylabel(f"{panel.title} ({panel.unit})", fontsize=8)
        axes.grid(color="#eeeeee", linewidth=0.5)
        axes.legend(loc="upper right", fontsize=7)
    figure.suptitle(f"Asset detail: {asset_id} (vertical lines: alerts opened in red, "
                    "resolved in green)", fontsize=10)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out)
    return drawn


def _time(value: int | str) -> datetime:
    from datetime import UTC

    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
