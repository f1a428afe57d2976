"""The outage spool: batches the telemetry sink could not take wait on disk, bounded, and
are written in their order when it is back."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ingest.sinks._points import Point, epoch_us

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


def _encode(points: Sequence[Point]) -> tuple[bytes, list[Point], list[Point]]:
    """The batch's body, the points in it, and the points that cannot be written to disk
    (an integer past 64 bits, say): those are refused alone, like the sink's refusals."""
    try:
        return orjson.dumps([_row(p) for p in points]), list(points), []
    except (TypeError, orjson.JSONEncodeError):
        kept, refused = [], []
        for point in points:
            try:
                orjson.dumps(_row(point))
            except (TypeError, orjson.JSONEncodeError):
                refused.append(point)
            else:
                kept.append(point)
        return orjson.dumps([_row(p) for p in kept]), kept, refused


def _row(point: Point) -> list[object]:
    return [point.measurement, point.tags, point.fields, epoch_us(point.ts)]


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

    def append(self, points: Sequence[Point]) -> list[Point]:
        """Spool the points; returns those that cannot be written to disk."""
        body, kept, refused = _encode(points)
        if kept:
            with self._db:
                self._db.execute("INSERT INTO spooled (points, body) VALUES (?, ?)",
                                 (len(kept), body))
            self.batches += 1
            self.points += len(kept)
        return refused

    def oldest(self) -> tuple[int, list[Point]] | None:
        while True:
            row = self._db.execute(
                "SELECT id, points, body FROM spooled ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            try:
                return row[0], _decode(row[2])
            except (ValueError, TypeError) as exc:
                # Not what append wrote (a damaged file): waiting on it would stop the
                # drain for good, and nothing can write it.
                log.error("spooled batch %d (%d points) does not read back (%s): dropped",
                          row[0], row[1], exc)
                self.remove(row[0], int(row[1]))

    def remove(self, batch_id: int, count: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM spooled WHERE id=?", (batch_id,))
        self.batches -= 1
        self.points -= count

    def close(self) -> None:
        self._db.close()
