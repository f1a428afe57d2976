"""The durable outbox: one delivery row per (event, subscription), written in the same
transaction as the alert transition that caused it, and worked off in order."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.events import Event
from alerts.subscriptions import Subscription

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    last_latency_ms REAL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS pending_by_subscription
    ON deliveries (subscription_id, seq) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS delivery_attempts (
    delivery_seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    latency_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON delivery_attempts (delivery_seq);
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status: int | None
    error: str | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Delivery:
    seq: int
    msg_id: str
    subscription_id: str
    event_type: str
    body: bytes
    created_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    last_latency_ms: float | None
    finished_at: datetime | None


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(
        seq=row[0], msg_id=row[1], subscription_id=row[2], event_type=row[3],
        body=bytes(row[4]), created_at=datetime.fromisoformat(row[5]), state=row[6],
        attempts=row[7], next_attempt_at=datetime.fromisoformat(row[8]), last_status=row[9],
        last_error=row[10], last_latency_ms=row[11],
        finished_at=datetime.fromisoformat(row[12]) if row[12] else None,
    )


class WebhookOutbox:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def enqueue(self, event: Event, subscriptions: list[Subscription]) -> int:
        """Add a delivery per interested subscription; no commit: the caller's transaction
        covers it, so the event exists if and only if the transition does."""
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = event.body()
        now = datetime.now(UTC).isoformat()
        rows = [
            (msg_id, sub.id, event.type, body, now, now)
            for sub in subscriptions
            if sub.wants(event)
        ]
        self.db.executemany(
            "INSERT INTO deliveries (msg_id, subscription_id, event_type, body, created_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        return len(rows)

    def head(self, subscription_id: str) -> Delivery | None:
        """The oldest pending delivery of a subscription: later ones wait behind it."""
        row = self.db.execute(
            "SELECT * FROM deliveries WHERE subscription_id=? AND state='pending' "
            "ORDER BY seq LIMIT 1",
            (subscription_id,),
        ).fetchone()
        return _delivery(row) if row else None

    def pending_subscriptions(self) -> set[str]:
        """Enabled subscriptions with deliveries waiting. A disabled or deleted one keeps its
        pending deliveries (for a replay) but gets no worker."""
        rows = self.db.execute(
            "SELECT DISTINCT d.subscription_id FROM deliveries d "
            "JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.state = 'pending' AND s.enabled = 1"
        )
        return {row[0] for row in rows}

    def pending_count(self) -> int:
        """Deliveries waiting to go out (the partial index makes this a short count)."""
        return int(self.db.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()[0])

    def record_attempt(
        self,
        seq: int,
        *,
        status: int | None,
        error: str | None,
        latency_ms: float,
        outcome: str,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """`outcome` is 'delivered', 'failed' or 'pending' (to be retried at next_attempt_at)."""
        now = datetime.now(UTC)
        finished = now.isoformat() if outcome != "pending" else None
        with self.db:
            self.db.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_status=?, last_error=?, "
                "last_latency_ms=?, state=?, next_attempt_at=COALESCE(?, next_attempt_at), "
                "finished_at=? WHERE seq=?",
                (status, error, latency_ms, outcome,
                 next_attempt_at.isoformat() if next_attempt_at else None, finished, seq),
            )
            self.db.execute("INSERT INTO delivery_attempts VALUES (?, ?, ?, ?, ?)",
                            (seq, now.isoformat(), status, error, latency_ms))

    def attempts(self, seqs: list[int]) -> dict[int, list[Attempt]]:
        """Every attempt of these deliveries, oldest first."""
        found: dict[int, list[Attempt]] = {seq: [] for seq in seqs}
        if not seqs:
            return found
        rows = self.db.execute(
            "SELECT delivery_seq, at, status, error, latency_ms FROM delivery_attempts "
            f"WHERE delivery_seq IN ({', '.join('?' * len(seqs))}) ORDER BY rowid", seqs)
        for seq, at, status, error, latency_ms in rows:
            found[seq].append(Attempt(datetime.fromisoformat(at), status, error, latency_ms))
        return found

    def list(self, subscription_id: str, *, limit: int = 100) -> list[Delivery]:
        rows = self.db.execute(
            "SELECT * FROM deliveries WHERE subscription_id=? ORDER BY seq DESC LIMIT ?",
            (subscription_id, limit),
        )
        return [_delivery(row) for row in rows]

    def replay(
        self,
        subscription_id: str,
        seq: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Put failed deliveries back in the queue: one (`seq`), or all of the subscription's
        whose event was created in [since, until). They keep their place in the order."""
        now = datetime.now(UTC).isoformat()
        query = (
            "UPDATE deliveries SET state='pending', attempts=0, next_attempt_at=?, "
            "finished_at=NULL WHERE subscription_id=? AND state='failed'"
        )
        args: list[Any] = [now, subscription_id]
        for clause, value in (("seq = ?", seq),
                              ("created_at >= ?", since.astimezone(UTC).isoformat()
                               if since else None),
                              ("created_at < ?", until.astimezone(UTC).isoformat()
                               if until else None)):
            if value is not None:
                query += f" AND {clause}"
                args.append(value)
        with self.db:
            return self.db.execute(query, args).rowcount
