"""The dead-letter store: what could not be ingested, with the raw payload and the reason.

Bounded in rows and in bytes, each twice: each tag keeps its newest `max_per_tag` dead
letters and `max_bytes_per_tag` payload bytes, so a tag sending garbage at a high rate pushes
out only its own; and the store keeps the newest `max_total` letters and `max_bytes` bytes.
A payload over `payload_bytes` keeps its head only, with its length and SHA-256, enough to
recognise it and to say what it was. Evicted letters are counted
(`boomerang_ingest_dead_letters_evicted_total`) and logged, never dropped silently."""

from __future__ import annotations

import hashlib
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
SIZE_AND_CAUSE = """
ALTER TABLE dead_letters ADD COLUMN cause TEXT NOT NULL DEFAULT 'invalid_reading';
ALTER TABLE dead_letters ADD COLUMN payload_bytes INTEGER;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;
"""
"""Schema version 4 (gateway.migrations): the cause, and the size and hash of a payload
kept in part. A store on a database of its own (a test's) adds them itself."""

EVICTION_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    letter: DeadLetter
    payload_bytes: int
    """The whole payload's length; more than len(letter.payload) when only its head is kept."""
    payload_sha256: str | None = None
    """The whole payload's hash, when only its head is kept."""


class DeadLetterStore:
    def __init__(
        self, db: sqlite3.Connection, *, max_total: int = 100_000, max_per_tag: int = 1000,
        max_bytes: int = 64 * 1024 * 1024, max_bytes_per_tag: int = 1024 * 1024,
        payload_bytes: int = 4096,
    ) -> None:
        self._db = db
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(dead_letters)")}
        if "cause" not in columns:
            db.executescript(SIZE_AND_CAUSE)
        self._max_total = max_total
        self._max_per_tag = max_per_tag
        self._max_bytes = max_bytes
        self._max_bytes_per_tag = max_bytes_per_tag
        self._payload_bytes = payload_bytes
        self._rows, self._bytes = (int(n) for n in db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM dead_letters").fetchone())
        self._evicted_since_log: dict[str, int] = {}
        self._logged_at = 0.0

    def add(self, letters: list[DeadLetter]) -> None:
        rows = [self._row(letter) for letter in letters]
        stored_bytes = sum(min(len(letter.payload), self._payload_bytes) for letter in letters)
        with self._db:
            try:
                self._insert(rows)
            except UnicodeEncodeError:  # a lone surrogate in a text: kept escaped instead
                self._db.rollback()  # the rows inserted before it
                self._insert([tuple(_printable(v) if isinstance(v, str) else v for v in row)
                              for row in rows])
            self._rows += len(rows)
            self._bytes += stored_bytes
            for tag_id in {letter.tag_id for letter in letters}:
                self._evict_over_tag_quota(tag_id)
            if self._rows > self._max_total or self._bytes > self._max_bytes:
                self._evict_oldest()
        self._log_evictions()

    def _row(self, letter: DeadLetter) -> tuple[object, ...]:
        payload, size, digest = letter.payload, len(letter.payload), None
        if size > self._payload_bytes:
            payload, digest = payload[:self._payload_bytes], hashlib.sha256(payload).hexdigest()
        return (letter.received_at.isoformat(), letter.topic, letter.tag_id, letter.reason,
                payload, letter.cause, size, digest)

    def _insert(self, rows: list[tuple[object, ...]]) -> None:
        self._db.executemany(
            "INSERT INTO dead_letters (received_at, topic, tag_id, reason, payload, cause, "
            "payload_bytes, payload_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _evict_over_tag_quota(self, tag_id: str | None) -> None:
        """The tag's oldest letters past its quotas of rows and of bytes (newest first)."""
        over = self._db.execute(
            "SELECT id, size, n > ? FROM (SELECT id, length(payload) AS size, "
            "row_number() OVER newest AS n, sum(length(payload)) OVER newest AS kept "
            "FROM dead_letters WHERE tag_id IS ? WINDOW newest AS (ORDER BY id DESC)) "
            "WHERE n > ? OR kept > ?",
            (self._max_per_tag, tag_id, self._max_per_tag, self._max_bytes_per_tag)).fetchall()
        if not over:
            return
        self._delete([row[0] for row in over])
        by_count = sum(1 for row in over if row[2])
        self._evicted("per_tag_quota", by_count)
        self._evicted("per_tag_bytes", len(over) - by_count)
        self._rows -= len(over)
        self._bytes -= sum(row[1] for row in over)

    def _evict_oldest(self) -> None:
        """The oldest letters of all, until both totals are within their limits. Reads only
        the rows it deletes (the oldest, by the primary key), so a store kept full by a
        flood pays per batch for what the batch added."""
        ids: list[int] = []
        rows, size = self._rows, self._bytes
        for letter_id, length in self._db.execute(
                "SELECT id, length(payload) FROM dead_letters ORDER BY id"):
            if rows <= self._max_total and size <= self._max_bytes:
                break
            ids.append(letter_id)
            rows, size = rows - 1, size - length
        self._delete(ids)
        why = "total_limit" if self._rows > self._max_total else "total_bytes"
        self._evicted(why, len(ids))
        self._rows, self._bytes = rows, size

    def _delete(self, ids: list[int]) -> None:
        self._db.executemany("DELETE FROM dead_letters WHERE id = ?", [(i,) for i in ids])

    def _evicted(self, why: str, count: int) -> None:
        if count > 0:
            _metrics.DEAD_LETTERS_EVICTED.labels(why).inc(count)
            self._evicted_since_log[why] = self._evicted_since_log.get(why, 0) + count

    def _log_evictions(self) -> None:
        # A flood evicts on every batch: one line a minute says so without adding to it.
        now = time.monotonic()
        if self._evicted_since_log and now - self._logged_at >= EVICTION_LOG_EVERY_S:
            log.warning("dead-letter store full: evicted the oldest %s (limits: %d letters "
                        "and %d bytes per tag, %d letters and %d bytes in all)",
                        ", ".join(f"{n} by {why}" for why, n in
                                  sorted(self._evicted_since_log.items())),
                        self._max_per_tag, self._max_bytes_per_tag, self._max_total,
                        self._max_bytes)
            self._evicted_since_log.clear()
            self._logged_at = now

    def list(
        self, *, limit: int = 100, before_id: int | None = None, tag_id: str | None = None
    ) -> list[StoredDeadLetter]:
        """Newest first; page with `before_id` (the smallest id of the previous page)."""
        query = ("SELECT id, received_at, topic, tag_id, reason, payload, cause, payload_bytes, "
                 "payload_sha256 FROM dead_letters")
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
                    cause=row[6],
                ),
                # Letters from before version 4 kept their payload whole.
                payload_bytes=row[7] if row[7] is not None else len(row[5]),
                payload_sha256=row[8],
            )
            for row in rows
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
