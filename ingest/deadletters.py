"""The dead-letter store: what could not be ingested, with the raw payload and the reason.

Bounded twice: each tag keeps its newest `max_per_tag` dead letters, so a tag sending
garbage at a high rate pushes out only its own; and the store keeps the newest `max_total`.
Evicted letters are counted (`boomerang_ingest_dead_letters_evicted_total`) and logged,
never dropped silently."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.domain import DeadLetter
from ingest import _metrics

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    tag_id TEXT,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_tag ON dead_letters (tag_id, id);
"""
EVICTION_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    letter: DeadLetter


class DeadLetterStore:
    def __init__(
        self, db: sqlite3.Connection, *, max_total: int = 100_000, max_per_tag: int = 1000
    ) -> None:
        self._db = db
        self._db.executescript(SCHEMA)
        self._max_total = max_total
        self._max_per_tag = max_per_tag
        self._rows = self.count()
        self._evicted_since_log: dict[str, int] = {}
        self._logged_at = 0.0

    def add(self, letters: list[DeadLetter]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO dead_letters (received_at, topic, tag_id, reason, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (d.received_at.isoformat(), d.topic, d.tag_id, d.reason, d.payload)
                    for d in letters
                ],
            )
            self._rows += len(letters)
            for tag_id in {d.tag_id for d in letters}:
                self._evict(
                    "per_tag_quota",
                    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
                    "WHERE tag_id IS ? ORDER BY id DESC LIMIT -1 OFFSET ?)",
                    (tag_id, self._max_per_tag),
                )
            if self._rows > self._max_total:
                self._evict(
                    "total_limit",
                    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
                    "ORDER BY id LIMIT ?)",
                    (self._rows - self._max_total,),
                )
        self._log_evictions()

    def _evict(self, why: str, delete: str, args: tuple[object, ...]) -> None:
        evicted = self._db.execute(delete, args).rowcount
        if evicted > 0:
            self._rows -= evicted
            _metrics.DEAD_LETTERS_EVICTED.labels(why).inc(evicted)
            self._evicted_since_log[why] = self._evicted_since_log.get(why, 0) + evicted

    def _log_evictions(self) -> None:
        # A flood evicts on every batch: one line a minute says so without adding to it.
        now = time.monotonic()
        if self._evicted_since_log and now - self._logged_at >= EVICTION_LOG_EVERY_S:
            log.warning("dead-letter store full: evicted the oldest %s (limits: %d per tag, "
                        "%d in all)", ", ".join(f"{n} by {why}" for why, n in
                                               sorted(self._evicted_since_log.items())),
                        self._max_per_tag, self._max_total)
            self._evicted_since_log.clear()
            self._logged_at = now

    def list(
        self, *, limit: int = 100, before_id: int | None = None, tag_id: str | None = None
    ) -> list[StoredDeadLetter]:
        """Newest first; page with `before_id` (the smallest id of the previous page)."""
        query = "SELECT id, received_at, topic, tag_id, reason, payload FROM dead_letters"
        clauses: list[str] = []
        args: list[object] = []
        if before_id is not None:
            clauses.append("id < ?")
            args.append(before_id)
        if tag_id is not None:
            clauses.append("tag_id = ?")
            args.append(tag_id)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._db.execute(query, (*args, limit)).fetchall()
        return [
            StoredDeadLetter(
                id=row[0],
                letter=DeadLetter(
                    topic=row[2],
                    payload=bytes(row[5]),
                    reason=row[4],
                    received_at=datetime.fromisoformat(row[1]).astimezone(UTC),
                    tag_id=row[3],
                ),
            )
            for row in rows
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
