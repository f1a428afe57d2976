"""What every telemetry reader offers: an asset's readings over a time window, and a tag's
newest reading; the read side of the sinks, over the same schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class TelemetryUnavailable(Exception):
    """The telemetry store did not answer, or refused the query; the message says which."""


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One point of measurement `telemetry` as it was stored."""

    tag_id: str
    asset_id: str
    ts: datetime
    seq: int | None
    values: dict[str, float]

    @property
    def position(self) -> tuple[float, float] | None:
        """(lat, lon), or None for a reading without a position."""
        lat, lon = self.values.get("lat"), self.values.get("lon")
        return (lat, lon) if lat is not None and lon is not None else None


@dataclass(frozen=True, slots=True)
class TrackReadings:
    """An asset's readings in a window, oldest first, at most the limit asked for."""

    readings: list[StoredReading]
    next_from: datetime | None
    """Where the readings left out by the limit begin; None when nothing was left out."""

    @property
    def truncated(self) -> bool:
        return self.next_from is not None


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class LatestReading:
    reading: StoredReading
    """The tag's newest reading by reading time, not by arrival."""
    position: Position | None
    """The newest position known: the newest reading's own, or an older reading's."""


class TelemetryReader(Protocol):
    name: str

    async def track(
        self, asset_id: str, start: datetime, end: datetime, limit: int
    ) -> TrackReadings:
        """Readings stored for the asset with start <= ts < end, oldest first, at most
        `limit`. Raises TelemetryUnavailable."""
        ...

    async def latest(self, tag_id: str) -> LatestReading | None:
        """None when the tag has no reading stored. Raises TelemetryUnavailable."""
        ...

    async def close(self) -> None: ...
