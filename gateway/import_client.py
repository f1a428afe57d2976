"""The client side of `boomerang import`: sends a CSV file to a running gateway's REST API
and renders the per-row report it answers with."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import httpx
from rich.table import Table

Resource = Literal["assets", "recalls"]


class ImportFailed(Exception):
    """The file was not imported at all: unreadable, unreachable gateway, refused request."""


def post_csv(
    api: str, api_key: str, resource: Resource, path: Path, *, mode: str = "upsert",
    timeout_s: float = 300,
) -> dict[str, Any]:
    """The gateway's import report for the file at `path`."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror or exc}") from None
    url = f"{api.rstrip('/')}/api/v1/{resource}:import"
    try:
        response = httpx.post(url, params={"mode": mode}, content=body, timeout=timeout_s,
                              headers={"Authorization": f"Bearer {api_key}",
                                       "Content-Type": "text/csv"})
    except httpx.HTTPError as exc:
        raise ImportFailed(f"{url}: {exc} (is the gateway running? --api)") from None
    if response.status_code != 200:
        try:
            detail: Any = response.json().get("detail")
        except ValueError:
            detail = response.text[:500]
        if isinstance(detail, list):  # validation errors: where and why
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}"
                               for d in detail if isinstance(d, dict))
        raise ImportFailed(f"{url}: {response.status_code} {detail}")
    report: dict[str, Any] = response.json()
    return report


def render(report: dict[str, Any], path: Path) -> tuple[Table | None, str]:
    """A table of the rejected rows (None when there is none) and a line of totals."""
    rejected = [row for row in report["rows"] if row["outcome"] == "rejected"]
    table = None
    if rejected:
        table = Table(title=f"{path.name}: rejected rows")
        for column in ("row", "id", "field", "reason"):
            table.add_column(column)
        for row in rejected:
            for n, error in enumerate(row["errors"] or [{"field": "", "reason": ""}]):
                first = n == 0
                table.add_row(str(row["row"]) if first else "", (row["id"] or "") if first else "",
                              error["field"], error["reason"])
    total = len(report["rows"])
    summary = (f"{path.name}: {total} rows: created {report['created']}, updated "
               f"{report['updated']}, rejected {report['rejected']}")
    return table, summary
