"""A telemetry sink that keeps what it is given, for tests of the pipeline's bookkeeping
(storage itself is tested against real InfluxDB and SQLite)."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.sinks import Point


class CollectingSink:
    name = "collect"

    def __init__(self) -> None:
        self.points: list[Point] = []

    async def write(self, points: Sequence[Point]) -> None:
        self.points.extend(points)

    async def close(self) -> None:
        pass
