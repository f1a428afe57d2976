"""Line protocol to InfluxDB's v1 `/write`: InfluxDB 1.x, and the portable path into 2.x and 3.x."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import httpx

from ingest.errors import error_text
from ingest.sinks._base import SinkRejected, SinkUnavailable
from ingest.sinks._points import Point, to_line

log = logging.getLogger(__name__)


class InfluxV1Sink:
    name = "influx_v1"

    def __init__(
        self, url: str, database: str, user: str | None = None, password: str | None = None
    ) -> None:
        self._database = database
        # Basic auth: 1.6 rejects `Authorization: Token`, and credentials in the query string
        # would be in every logged request URL.
        auth = httpx.BasicAuth(user, password or "") if user else None
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30.0, auth=auth)

    async def ensure_database(self) -> None:
        """Create the database on 1.x; 2.x and 3.x answer with an error we can ignore."""
        try:
            response = await self._http.post(
                "/query", params={"q": f'CREATE DATABASE "{self._database}"'})
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
        try:
            # Handed over by a generator, which lets go of it once sent: httpcore leaves each
            # request in a reference cycle, and a body held there (half a megabyte a batch)
            # waited for a full garbage collection, rare once `serve` has tuned the collector:
            # a gateway with 100,000 assets grew by about 30 MB a snapshot (issue 18).
            response = await self._http.post(
                "/write", params={"db": self._database, "precision": "u"},
                content=_sent_once(body), headers={"Content-Length": str(len(body))})
        except httpx.TransportError as exc:  # connection refused or reset, timeouts
            raise SinkUnavailable(f"InfluxDB did not answer: {error_text(exc)}") from exc
        if response.status_code in REFUSALS:
            log.info("InfluxDB refused a write of %d points: %s", len(points),
                     response.text.strip()[:500])
            raise SinkRejected(f"InfluxDB refused it ({refusal_reason(response.text)})")
        if response.status_code >= 300:
            # 5xx, and also 401/403/404: the credentials or the database, which an operator
            # fixes; the points themselves are fine.
            raise SinkUnavailable(f"InfluxDB answered {response.status_code}: "
                                  f"{response.text.strip()[:300]}")

    async def close(self) -> None:
        await self._http.aclose()


async def _sent_once(body: bytes) -> AsyncIterator[bytes]:
    yield body


REFUSALS = (400, 413, 422)
"""Answers about the content of a write: 400 (a point it cannot parse or store; InfluxDB
1.x stores the rest and still answers 400), 413 (too large), 422 (2.x, unprocessable)."""

# InfluxDB's own words for why, reduced to these phrases in dead letters: its error text can
# carry anything, and dead letters reach API clients.
_REFUSAL_PHRASES = ("field type conflict", "unable to parse", "beyond retention policy",
                    "out of range", "invalid field", "invalid number", "max-values-per-tag",
                    "request entity too large", "missing fields", "invalid boolean",
                    "bad timestamp")


def refusal_reason(text: str) -> str:
    lowered = text.lower()
    found = [phrase for phrase in _REFUSAL_PHRASES if phrase in lowered]
    return ", ".join(found) if found else "no reason recognised; see the gateway's log"

