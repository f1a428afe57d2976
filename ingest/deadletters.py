"""The dead-letter store: what could not be ingested, with the raw payload and the reason."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.domain import DeadLetter

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    tag_id TEXT,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    letter: DeadLetter


class DeadLetterStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

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
