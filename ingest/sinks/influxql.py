"""Telemetry read back from InfluxDB with InfluxQL over the v1 `/query` endpoint: the one
query path that InfluxDB 1.x, 2.x (through a DBRP mapping) and 3.x all answer, whichever
write API the sink uses."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from ingest.readings import MEASUREMENTS
from ingest.sinks._reader import (
    LatestReading,
    Position,
    StoredReading,
    TelemetryUnavailable,
    TrackReadings,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# InfluxDB stores int64 nanoseconds: a window reaching past these is cut to them, since
# InfluxDB refuses a time literal outside its range instead of returning nothing.
_FIRST = datetime(1677, 9, 22, tzinfo=UTC)
_LAST = datetime(2262, 4, 10, tzinfo=UTC)

_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})


def influxql_string(value: str) -> str:
    """A single-quoted InfluxQL string literal holding exactly `value`."""
    return f"'{value.translate(_ESCAPES)}'"


def influxql_time(ts: datetime) -> str:
    clamped = min(max(ts.astimezone(UTC), _FIRST), _LAST)
    return f"'{clamped.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"


def _time(value: Any) -> datetime:
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    # RFC 3339, from a server that ignores `epoch`; Python drops digits past microseconds.
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _readings(series: list[dict[str, Any]]) -> list[StoredReading]:
    readings = []
    for one in series:
        columns = one["columns"]
        for row in one.get("values", []):
            point = dict(zip(columns, row, strict=True))
            seq = point.get("seq")
            readings.append(StoredReading(
                tag_id=point.get("tag_id") or "",
                asset_id=point.get("asset_id") or "",
                ts=_time(point["time"]),
                seq=int(seq) if seq is not None else None,
                values={name: float(value) for name in MEASUREMENTS
                        if (value := point.get(name)) is not None},
            ))
    return readings


class InfluxQLTelemetryReader:
    name = "influxql"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        """With `token` (v2 and 3.x), `Authorization: Token`; otherwise Basic auth when a
        user is given (InfluxDB 1.6 refuses the Token scheme). Credentials go in a header,
        never in the URL, where request logs and error messages would show them."""
        parsed = httpx.URL(url)
        # For messages that reach logs: never the credentials a URL may carry.
        self._url = str(parsed.copy_with(username=None, password=None)).rstrip("/")
        self._database = database
        headers = {"Authorization": f"Token {token}"} if token is not None else {}
        auth = httpx.BasicAuth(user, password or "") if user and token is None else None
        self._http = httpx.AsyncClient(base_url=self._url, timeout=30.0, headers=headers,
                                       auth=auth)

    async def _select(self, query: str) -> tuple[list[StoredReading], bool]:
        """The readings of one SELECT, and whether InfluxDB cut the result short."""
        try:
            response = await self._http.get(
                "/query",
                params={"db": self._database, "q": query, "epoch": "u"},
            )
        except httpx.HTTPError as exc:
            raise TelemetryUnavailable(f"InfluxDB at {self._url} did not answer: {exc}") from exc
        if response.status_code >= 300:
            raise TelemetryUnavailable(
                f"InfluxDB at {self._url} answered {response.status_code}: "
                f"{response.text.strip()[:300]}"
            )
        # A track can be 100,000 rows: decoded in a worker thread, not on the event loop.
        return await asyncio.to_thread(self._decode, response.content)

    def _decode(self, body: bytes) -> tuple[list[StoredReading], bool]:
        try:
            result = orjson.loads(body)["results"][0]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise TelemetryUnavailable(f"InfluxDB at {self._url} sent no result: {exc}") from exc
        if "error" in result:
            raise TelemetryUnavailable(
                f"InfluxDB database {self._database!r}: {result['error']}")
        series = result.get("series", [])
        partial = bool(result.get("partial")) or any(s.get("partial") for s in series)
        return _readings(series), partial

    async def track(
        self, asset_id: str, start: datetime, end: datetime, limit: int
    ) -> TrackReadings:
        # SELECT * takes whichever fields exist: a fleet without tilt sensors has never
        # written tilt_deg, and naming it would ask for a field the schema lacks.
        readings, partial = await self._select(
            f"SELECT * FROM telemetry WHERE asset_id = {influxql_string(asset_id)} "
            f"AND time >= {influxql_time(start)} AND time < {influxql_time(end)} "
            f"ORDER BY time ASC LIMIT {limit + 1}"
        )
        if len(readings) > limit:
            return TrackReadings(readings[:limit], readings[limit].ts)
        if partial and readings:
            # The server's own row limit (`max-row-limit`) cut it; go on after the last one.
            log.warning("InfluxDB cut the track of %s at %d rows (its max-row-limit)",
                        asset_id, len(readings))
            return TrackReadings(readings, readings[-1].ts + timedelta(microseconds=1))
        return TrackReadings(readings, None)

    async def latest(self, tag_id: str) -> LatestReading | None:
        tag = influxql_string(tag_id)
        newest, _ = await self._select(
            f"SELECT * FROM telemetry WHERE tag_id = {tag} ORDER BY time DESC LIMIT 1")
        if not newest:
            return None
        reading = newest[0]
        if (position := reading.position) is not None:
            return LatestReading(reading, Position(*position, reading.ts))
        # A raw SELECT returns only rows where a selected field is set, and lat and lon
        # always come together: this is the newest located reading.
        located, _ = await self._select(
            f"SELECT lat, lon FROM telemetry WHERE tag_id = {tag} ORDER BY time DESC LIMIT 1")
        fix = located[0].position if located else None
        if fix is None:
            return LatestReading(reading, None)
        return LatestReading(reading, Position(*fix, located[0].ts))

    async def close(self) -> None:
        await self._http.aclose()
