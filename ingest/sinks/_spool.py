"""The outage spool: batches the telemetry sink could not take wait on disk, bounded, and
are written in their order when it is back."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ingest.sinks._points import Point, epoch_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


def _encode(points: Sequence[Point]) -> bytes:
    return orjson.dumps([[p.measurement, p.tags, p.fields, epoch_us(p.ts)] for p in points])


def _decode(body: bytes) -> list[Point]:
    return [Point(m, tags, fields, _EPOCH + timedelta(microseconds=us))
            for m, tags, fields, us in orjson.loads(body)]


class Spool:
    """A SQLite file of its own (WAL, synchronous=FULL: what it holds was acknowledged to
    the broker, so it must survive even an OS crash)."""

    def __init__(self, path: Path, max_points: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self.max_points = max_points
        row = self._db.execute("SELECT count(*), coalesce(sum(points), 0) FROM spooled")
        batches, points = row.fetchone()
        self.batches: int = int(batches)
        self.points: int = int(points)

    def room_for(self, count: int) -> bool:
        return self.points + count <= self.max_points

    def append(self, points: Sequence[Point]) -> None:
        with self._db:
            self._db.execute("INSERT INTO spooled (points, body) VALUES (?, ?)",
                             (len(points), _encode(points)))
        self.batches += 1
        self.points += len(points)

    def oldest(self) -> tuple[int, list[Point]] | None:
        row = self._db.execute("SELECT id, body FROM spooled ORDER BY id LIMIT 1").fetchone()
        return (row[0], _decode(row[1])) if row else None

    def remove(self, batch_id: int, count: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM spooled WHERE id=?", (batch_id,))
        self.batches -= 1
        self.points -= count

    def close(self) -> None:
        self._db.close()
