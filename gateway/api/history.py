"""Position and condition history: `/api/v1/assets/{id}/track` and
`/api/v1/tags/{tag_id}/latest`, read from the telemetry store (InfluxDB or SQLite)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AwareDatetime

from alerts.domain import Asset
from gateway.api._deps import GatewayDep, ReadKey
from gateway.api.schemas import (
    AssetOut,
    LineStringOut,
    LocationOut,
    TagLatestOut,
    TrackOut,
    TrackPropertiesOut,
)
from ingest.readings import MEASUREMENTS
from ingest.sinks import TelemetryUnavailable, TrackReadings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")

CONDITIONS = tuple(name for name in MEASUREMENTS if name not in ("lat", "lon"))
DEFAULT_WINDOW = timedelta(hours=24)
# The contract accepts readings up to 5 minutes ahead of the gateway's clock; a default
# window that ended at "now" would hide a tag's newest reading.
FUTURE_ALLOWANCE = timedelta(minutes=5)

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "the telemetry store (InfluxDB or SQLite) did not answer"},
}


def _unavailable(exc: TelemetryUnavailable) -> HTTPException:
    # The store's own error text may name its URL, its database, the query: for the
    # operator's log, not for API clients.
    log.warning("answered 503 to a history request: %s", exc)
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         "the telemetry store did not answer; try again later")


def _bad_query(name: str, msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": ["query", name], "msg": msg, "type": "value_error"}])


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The window in UTC, with the defaults filled in."""
    try:
        end = (end or datetime.now(UTC) + FUTURE_ALLOWANCE).astimezone(UTC)
    except OverflowError:
        raise _bad_query("to", "out of range in UTC") from None
    try:
        start = (start or end - DEFAULT_WINDOW).astimezone(UTC)
    except OverflowError:
        raise _bad_query("from", "out of range in UTC (or 24 h before `to`)") from None
    if end < start:
        raise _bad_query("to", f"to ({end.isoformat()}) is before from ({start.isoformat()})")
    return start, end


def track_out(
    asset: Asset, start: datetime, end: datetime, limit: int, found: TrackReadings
) -> TrackOut:
    coordinates: list[tuple[float, float]] = []
    times: list[datetime] = []
    series: dict[str, list[tuple[datetime, float]]] = {name: [] for name in CONDITIONS}
    for reading in found.readings:
        if (position := reading.position) is not None:
            coordinates.append((position[1], position[0]))
            times.append(reading.ts)
        for name, value in reading.values.items():
            if name in series:
                series[name].append((reading.ts, value))
    properties = TrackPropertiesOut.model_validate({
        "asset_id": asset.id, "tag_id": asset.tag_id, "from": start, "to": end,
        "points": len(coordinates), "readings": len(found.readings), "limit": limit,
        "truncated": found.truncated, "next_from": found.next_from, "times": times,
        "series": {name: pairs for name, pairs in series.items() if pairs},
    })
    return TrackOut(geometry=LineStringOut(coordinates=coordinates), properties=properties)


def _track_json(
    asset: Asset, start: datetime, end: datetime, limit: int, found: TrackReadings
) -> bytes:
    return track_out(asset, start, end, limit, found).model_dump_json(by_alias=True).encode()


@router.get(
    "/assets/{asset_id}/track", tags=["assets"], response_model=TrackOut,
    responses={404: {"description": "no asset"},
               422: {"description": "`to` before `from`, a time without offset, or a bad "
                                    "`limit`"},
               **UNAVAILABLE},
)
async def asset_track(
    asset_id: str,
    gateway: GatewayDep,
    _: ReadKey,
    start: Annotated[AwareDatetime | None, Query(
        alias="from", description="RFC 3339 with offset, inclusive; default `to` - 24 h")] = None,
    end: Annotated[AwareDatetime | None, Query(
        alias="to", description="RFC 3339 with offset, exclusive; default now + 5 min (tag "
        "clocks may run ahead by that much)")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Most readings returned; "
                                "the oldest are kept")] = 10_000,
) -> Response:
    """The asset's path as a GeoJSON Feature with a LineString, and its condition series."""
    asset = await gateway.services.assets.get(asset_id)
    start, end = _window(start, end)
    try:
        found = await gateway.telemetry.track(asset.id, start, end, limit)
    except TelemetryUnavailable as exc:
        raise _unavailable(exc) from None
    # Up to 100,000 readings make tens of MB of JSON: built in a worker thread, so that the
    # event loop goes on serving ingest and other requests meanwhile.
    body = await asyncio.to_thread(_track_json, asset, start, end, limit, found)
    return Response(body, media_type="application/json")


@router.get(
    "/tags/{tag_id}/latest", tags=["tags"], response_model=TagLatestOut,
    responses={404: {"description": "the tag has never reported and is not registered"},
               **UNAVAILABLE},
)
async def tag_latest(tag_id: str, gateway: GatewayDep, _: ReadKey) -> TagLatestOut:
    """The tag's newest reading by reading time, the newest known position, and its asset."""
    asset = await gateway.services.assets.bound_to(tag_id)
    try:
        latest = await gateway.telemetry.latest(tag_id)
    except TelemetryUnavailable as exc:
        raise _unavailable(exc) from None
    if latest is None and asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"tag {tag_id!r} has never reported and is not registered")
    reading = latest.reading if latest else None
    position = latest.position if latest else None
    return TagLatestOut.model_validate({
        "tag_id": tag_id,
        "asset_id": asset.id if asset else None,
        "asset": AssetOut.model_validate(asdict(asset)) if asset else None,
        "ts": reading.ts if reading else None,
        "seq": reading.seq if reading else None,
        "values": reading.values if reading else {},
        "position": LocationOut(lat=position.lat, lon=position.lon, ts=position.ts)
        if position else None,
    })
