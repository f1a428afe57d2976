"""`/api/v1/analytics`: the return analytics tables (docs/analytics.md), each filtered by time
range, flow, sku, hub, carrier and customer, as JSON or as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from alerts.domain import Flow
from gateway.api._csv import CSV_MEDIA_TYPES
from gateway.api._deps import ReadKey, ServicesDep
from gateway.services.analytics import TABLES, AnalyticsFilter, AnalyticsTable

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

TableName = Literal["transit-times", "damage-rates", "return-reasons", "dispositions",
                    "recall-recovery", "rental-utilization", "warranty-turnaround"]
assert set(get_args(TableName)) == set(TABLES), "TableName names every table of TABLES"
ExportFormat = Literal["json", "csv"]
JSON_MEDIA_TYPE = "application/json"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell a spreadsheet would take for a formula (OWASP's CSV injection): written with
a leading `'`."""

FilterText = Annotated[str | None, Query(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]


class AnalyticsFiltersOut(BaseModel):
    from_: datetime = Field(alias="from", description="Start of the window (inclusive), UTC")
    to: datetime = Field(description="End of the window (exclusive), UTC")
    flow: str | None
    sku: str | None
    hub: str | None
    carrier: str | None
    customer: str | None

    model_config = ConfigDict(populate_by_name=True)


class AnalyticsOut(BaseModel):
    table: str
    by: str | None = Field(description="The grouping of transit-times and damage-rates; null "
                           "for the other tables")
    window: str = Field(description="What `from` and `to` bound: the event the table is about")
    filters: AnalyticsFiltersOut
    columns: list[str] = Field(description="The columns of every row, in order")
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]] = Field(description=(
        "Rows over all groups, `*` in the grouping columns (empty where totals make no sense)"))


class AnalyticsTableOut(BaseModel):
    name: str
    window: str
    by: list[str] = Field(description="The groupings `by` takes, the default first; empty: "
                          "fixed")
    columns: list[str] = Field(description="The columns after the grouping one")


class AnalyticsTablesOut(BaseModel):
    tables: list[AnalyticsTableOut]


@router.get("", response_model=AnalyticsTablesOut)
async def list_analytics_tables(_: ReadKey) -> AnalyticsTablesOut:
    """The tables, what their time range bounds, their groupings and columns."""
    return AnalyticsTablesOut(tables=[
        AnalyticsTableOut(name=spec.name, window=spec.window, by=list(spec.by),
                          columns=list(spec.columns)) for spec in TABLES.values()])


@router.get("/{table}", response_model=AnalyticsOut, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "The table: JSON, or CSV with `format=csv` or `Accept: text/csv`"},
    422: {"description": "an unknown table; a `by` the table is not grouped by; `from` not "
          "before `to`; a bad flow, time, filter or format"}})
async def analytics_table(
    table: TableName,
    request: Request,
    services: ServicesDep,
    _: ReadKey,
    from_: Annotated[datetime | None, Query(alias="from", description=(
        "Start of the window, inclusive (what it bounds: see `window`); default 30 days "
        "before `to`"))] = None,
    to: Annotated[datetime | None, Query(description=(
        "End of the window, exclusive; default now"))] = None,
    flow: Flow | None = None,
    sku: FilterText = None,
    hub: Annotated[str | None, Query(min_length=1, max_length=256, pattern=r"^[^\x00]*$",
                                     description="The destination geofence id")] = None,
    carrier: FilterText = None,
    customer: FilterText = None,
    by: Annotated[str | None, Query(max_length=32, description=(
        "transit-times: flow (default), lane, hub, carrier; damage-rates: sku (default), "
        "packaging, carrier, lane"))] = None,
    format_: Annotated[ExportFormat | None, Query(alias="format", description=(
        "csv or json; not given: CSV when `Accept` prefers text/csv, else JSON"))] = None,
) -> Response:
    """One analytics table (docs/analytics.md): fixed columns, a row per group, and totals."""
    filters = AnalyticsFilter(start=from_, end=to, flow=flow, sku=sku, hub=hub, carrier=carrier,
                              customer=customer)
    found = await services.analytics.table(table, filters, by)
    if format_ == "csv" or (format_ is None and prefers_csv(request.headers.get("accept"))):
        suffix = f"-by-{found.by}" if found.by else ""
        return Response(csv_text(found), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{found.name}{suffix}.csv"'})
    return Response(orjson.dumps(json_body(found), option=orjson.OPT_UTC_Z),
                    media_type=JSON_MEDIA_TYPE)


def prefers_csv(accept: str | None) -> bool:
    """Whether `Accept` ranks CSV above JSON (by q, then by order; */* is JSON, text/* CSV)."""
    ranked = []
    for position, part in enumerate((accept or "").split(",")):
        media, *parameters = (item.strip().lower() for item in part.split(";"))
        media = {"*/*": JSON_MEDIA_TYPE, "text/*": CSV_MEDIA_TYPES[0]}.get(media, media)
        if media not in (*CSV_MEDIA_TYPES, JSON_MEDIA_TYPE):
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, media))
    return bool(ranked) and min(ranked)[2] in CSV_MEDIA_TYPES


def json_body(found: AnalyticsTable) -> dict[str, Any]:
    f = found.filters
    return {
        "table": found.name, "by": found.by, "window": found.window,
        "filters": {"from": found.start, "to": found.end, "flow": f.flow, "sku": f.sku,
                    "hub": f.hub, "carrier": f.carrier, "customer": f.customer},
        "columns": list(found.columns), "rows": found.rows, "totals": found.totals}


def csv_text(found: AnalyticsTable) -> str:
    """The header, the rows, then the totals; UTF-8 with a byte-order mark, which Excel needs
    to read it as UTF-8 (the imports take one too)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(found.columns)
    for row in (*found.rows, *found.totals):
        writer.writerow([_cell(row[column]) for column in found.columns])
    return "\ufeff" + buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    return str(value)
