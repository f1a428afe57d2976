"""What every telemetry sink offers: write a batch of points, and close."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ingest.sinks._points import Point


class SinkRejected(Exception):
    """The sink refused the batch for its content; writing it again cannot succeed. (Some
    point of it, not all: the batcher splits it until the refused points are found.)"""


class SinkUnavailable(Exception):
    """The sink could not take the batch now (unreachable, overloaded, timed out, out of
    space): the same batch may succeed later, so it is spooled or retried."""


class TelemetrySink(Protocol):
    name: str

    async def write(self, points: Sequence[Point]) -> None:
        """Store the points durably, or raise: SinkUnavailable (or OSError, TimeoutError)
        when writing again later can succeed; anything else, SinkRejected first, means
        something in the points cannot be stored, and is never retried as it is."""
        ...

    async def close(self) -> None: ...
