"""What every telemetry sink offers: write a batch of points, and close."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ingest.sinks._points import Point


class SinkRejected(Exception):
    """The sink refused the batch for its content; writing it again cannot succeed."""


class TelemetrySink(Protocol):
    name: str

    async def write(self, points: Sequence[Point]) -> None:
        """Store the points durably, or raise. SinkRejected means: do not retry."""
        ...

    async def close(self) -> None: ...
