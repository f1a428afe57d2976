"""Line protocol to InfluxDB's v1 `/write`: InfluxDB 1.x, and the portable path into 2.x and 3.x."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from ingest.sinks._base import SinkRejected
from ingest.sinks._points import Point, to_line

log = logging.getLogger(__name__)


class InfluxV1Sink:
    name = "influx_v1"

    def __init__(
        self, url: str, database: str, user: str | None = None, password: str | None = None
    ) -> None:
        self._database = database
        # 1.6 rejects `Authorization: Token`; query parameters work on 1.x, 2.x and 3.x alike.
        self._auth = {"u": user, "p": password or ""} if user else {}
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30.0)

    async def ensure_database(self) -> None:
        """Create the database on 1.x; 2.x and 3.x answer with an error we can ignore."""
        try:
            response = await self._http.post(
                "/query", params={"q": f'CREATE DATABASE "{self._database}"', **self._auth}
            )
            if response.status_code >= 300:
                log.info("could not create database %s: %s", self._database, response.text)
        except httpx.HTTPError as exc:
            log.warning("InfluxDB not reachable yet at start-up: %s", exc)

    async def ping(self) -> bool:
        try:
            return (await self._http.get("/ping")).status_code < 300
        except httpx.HTTPError:
            return False

    async def write(self, points: Sequence[Point]) -> None:
        body = "\n".join(to_line(point) for point in points).encode()
        response = await self._http.post(
            "/write",
            params={"db": self._database, "precision": "u", **self._auth},
            content=body,
        )
        if response.status_code == 400:
            raise SinkRejected(f"InfluxDB refused the batch: {response.text.strip()}")
        response.raise_for_status()

    async def close(self) -> None:
        await self._http.aclose()
