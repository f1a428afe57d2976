"""Telemetry in SQLite, for when no InfluxDB is configured (the demo, small sites)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import orjson

from gateway.domain import MEASUREMENTS
from ingest.sinks._points import Point, epoch_us

_COLUMNS = ("tag_id", "asset_id", "asset_kind", "flow", "ts_us", "seq", *MEASUREMENTS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS telemetry (
    tag_id TEXT NOT NULL, asset_id TEXT NOT NULL, asset_kind TEXT, flow TEXT,
    ts_us INTEGER NOT NULL, seq INTEGER,
    {", ".join(f"{name} REAL" for name in MEASUREMENTS)},
    PRIMARY KEY (tag_id, ts_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_by_asset ON telemetry (asset_id, ts_us);
CREATE TABLE IF NOT EXISTS alert_points (
    ts_us INTEGER NOT NULL, tags TEXT NOT NULL, fields TEXT NOT NULL
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

    async def write(self, points: Sequence[Point]) -> None:
        await asyncio.to_thread(self._write, points)

    def _write(self, points: Sequence[Point]) -> None:
        telemetry = []
        alerts = []
        for point in points:
            if point.measurement == "telemetry":
                row = {**point.tags, **point.fields, "ts_us": epoch_us(point.ts)}
                telemetry.append(tuple(row.get(column) for column in _COLUMNS))
            else:
                alerts.append((epoch_us(point.ts), orjson.dumps(point.tags).decode(),
                               orjson.dumps(point.fields).decode()))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO telemetry ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                telemetry,
            )
            self._db.executemany("INSERT INTO alert_points VALUES (?, ?, ?)", alerts)

    async def close(self) -> None:
        self._db.close()
