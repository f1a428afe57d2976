"""Telemetry in SQLite, for when no InfluxDB is configured (the demo, small sites)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ingest.errors import error_text
from ingest.readings import MEASUREMENTS
from ingest.sinks._base import SinkRejected, SinkUnavailable
from ingest.sinks._points import Point, epoch_us
from ingest.sinks._reader import (
    LatestReading,
    Position,
    StoredReading,
    TelemetryUnavailable,
    TrackReadings,
)

_COLUMNS = ("tag_id", "asset_id", "asset_kind", "flow", "ts_us", "seq", *MEASUREMENTS,
            "extra")
_KNOWN = frozenset(_COLUMNS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS telemetry (
    tag_id TEXT NOT NULL, asset_id TEXT NOT NULL, asset_kind TEXT, flow TEXT,
    ts_us INTEGER NOT NULL, seq INTEGER,
    {", ".join(f"{name} REAL" for name in MEASUREMENTS)},
    extra TEXT,
    PRIMARY KEY (tag_id, ts_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_by_asset ON telemetry (asset_id, ts_us);
CREATE TABLE IF NOT EXISTS alert_points (
    ts_us INTEGER NOT NULL, tags TEXT NOT NULL, fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS other_points (
    measurement TEXT NOT NULL, ts_us INTEGER NOT NULL, tags TEXT NOT NULL, fields TEXT NOT NULL
);
"""


class SqliteTelemetrySink:
    """Same series and time overwrite, as in InfluxDB, so a replayed batch is stored once."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from one worker thread at a time (the batcher writes serially).
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(telemetry)")}
        if "extra" not in columns:  # a telemetry.db from before extra fields were kept
            self._db.execute("ALTER TABLE telemetry ADD COLUMN extra TEXT")

    async def write(self, points: Sequence[Point]) -> None:
        try:
            await asyncio.to_thread(self._write, points)
        except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, ValueError,
                TypeError, OverflowError) as exc:
            # A value SQLite cannot hold (an integer past 64 bits, say): the batcher finds
            # which point by splitting the batch.
            raise SinkRejected(error_text(exc)) from exc
        except sqlite3.Error as exc:
            # Locked, full, an I/O error, a damaged file: the file, not the points.
            raise SinkUnavailable(error_text(exc)) from exc

    def _write(self, points: Sequence[Point]) -> None:
        telemetry = []
        alerts = []
        others = []
        for point in points:
            if point.measurement == "telemetry":
                row: dict[str, object] = {**point.tags, **point.fields,
                                          "ts_us": epoch_us(point.ts)}
                extra = {k: v for k, v in point.fields.items() if k not in _KNOWN}
                if extra:
                    row["extra"] = orjson.dumps(extra).decode()
                telemetry.append(tuple(row.get(column) for column in _COLUMNS))
                continue
            stored = (epoch_us(point.ts), orjson.dumps(point.tags).decode(),
                      orjson.dumps(point.fields).decode())
            if point.measurement == "alerts":
                alerts.append(stored)
            else:
                others.append((point.measurement, *stored))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO telemetry ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                telemetry,
            )
            self._db.executemany("INSERT INTO alert_points VALUES (?, ?, ?)", alerts)
            self._db.executemany("INSERT INTO other_points VALUES (?, ?, ?, ?)", others)

    async def close(self) -> None:
        self._db.close()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_READ_COLUMNS = ", ".join(("tag_id", "asset_id", "ts_us", "seq", *MEASUREMENTS))


def _stored(row: tuple[Any, ...]) -> StoredReading:
    tag_id, asset_id, ts_us, seq, *values = row
    return StoredReading(
        tag_id=tag_id, asset_id=asset_id, ts=_EPOCH + timedelta(microseconds=ts_us), seq=seq,
        values={name: value for name, value in zip(MEASUREMENTS, values, strict=True)
                if value is not None},
    )


class SqliteTelemetryReader:
    """Reads what SqliteTelemetrySink writes, on a connection of its own (WAL lets it read
    while the sink writes), in a worker thread so the event loop never waits on the disk."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        # One connection shared by the worker threads of concurrent requests: one at a time.
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA query_only=ON")
            db.execute("PRAGMA busy_timeout=5000")
            self._db = db
        return self._db

    def _rows(self, query: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(query, args).fetchall()
            except sqlite3.Error as exc:
                raise TelemetryUnavailable(f"reading {self._path} failed: {exc}") from exc

    async def track(
        self, asset_id: str, start: datetime, end: datetime, limit: int
    ) -> TrackReadings:
        rows = await asyncio.to_thread(
            self._rows,
            f"SELECT {_READ_COLUMNS} FROM telemetry WHERE asset_id = ? AND ts_us >= ? "
            "AND ts_us < ? ORDER BY ts_us LIMIT ?",
            (asset_id, epoch_us(start), epoch_us(end), limit + 1),
        )
        readings = [_stored(row) for row in rows[:limit]]
        next_from = _stored(rows[limit]).ts if len(rows) > limit else None
        return TrackReadings(readings, next_from)

    async def latest(self, tag_id: str) -> LatestReading | None:
        return await asyncio.to_thread(self._latest, tag_id)

    def _latest(self, tag_id: str) -> LatestReading | None:
        rows = self._rows(f"SELECT {_READ_COLUMNS} FROM telemetry WHERE tag_id = ? "
                          "ORDER BY ts_us DESC LIMIT 1", (tag_id,))
        if not rows:
            return None
        newest = _stored(rows[0])
        if (position := newest.position) is not None:
            return LatestReading(newest, Position(*position, newest.ts))
        located = self._rows("SELECT lat, lon, ts_us FROM telemetry WHERE tag_id = ? "
                             "AND lat IS NOT NULL AND lon IS NOT NULL "
                             "ORDER BY ts_us DESC LIMIT 1", (tag_id,))
        if not located:
            return LatestReading(newest, None)
        lat, lon, ts_us = located[0]
        return LatestReading(newest, Position(lat, lon, _EPOCH + timedelta(microseconds=ts_us)))

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
