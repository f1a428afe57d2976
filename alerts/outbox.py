"""The durable outbox: one delivery row per (event, subscription), written in the same
transaction as the alert transition that caused it, and worked off in order."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    Row,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)

from alerts.events import Event
from alerts.subscriptions import SUBSCRIPTIONS, Subscription
from ingest.statedb import METADATA, Id, StateDb, Utc

DELIVERIES = Table(
    "deliveries", METADATA,
    Column("seq", Id, primary_key=True),
    Column("msg_id", Text, nullable=False),
    Column("subscription_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", Utc, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Utc, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("last_latency_ms", Float),
    Column("finished_at", Utc),
    Index("pending_by_subscription", "subscription_id", "seq",
          sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    sqlite_autoincrement=True,
)
# No key of its own: read per delivery, in the order of `at` (a delivery's attempts are made
# one after another, by its subscription's one worker).
DELIVERY_ATTEMPTS = Table(
    "delivery_attempts", METADATA,
    Column("delivery_seq", Id, nullable=False),
    Column("at", Utc, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("latency_ms", Float, nullable=False),
    Index("attempts_by_delivery", "delivery_seq"),
)


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


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        seq=row.seq, msg_id=row.msg_id, subscription_id=row.subscription_id,
        event_type=row.event_type, body=bytes(row.body), created_at=row.created_at,
        state=row.state, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        last_status=row.last_status, last_error=row.last_error,
        last_latency_ms=row.last_latency_ms, finished_at=row.finished_at,
    )


OUTBOX_ORDER_LOCK = 0x626F6F6D_6F757462  # "boomoutb": enqueuing transactions, in turn


def _claim_key(subscription_id: str) -> int:
    """The advisory lock of a subscription: 63 bits of a hash of its id, the same in every
    gateway (Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"boomerang.subscription:{subscription_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class WebhookOutbox:
    def __init__(self, db: StateDb) -> None:
        self.db = db
        self._claims: set[str] = set()

    def claim(self, subscription_id: str) -> bool:
        """Whether this gateway may deliver the subscription's webhooks now. On PostgreSQL,
        where several gateways may share the outbox, a session advisory lock on it: held
        until `release`, or until this gateway's connection ends (a crash, a cut-off
        network), when PostgreSQL frees it for another. Advisory rather than row locks: a
        row lock lasts a transaction, and no transaction should stay open across an HTTP
        delivery. On SQLite (one gateway) always."""
        if not self.db.is_postgresql or subscription_id in self._claims:
            return True
        if not self.db.scalar(select(func.pg_try_advisory_lock(_claim_key(subscription_id)))):
            return False
        self._claims.add(subscription_id)
        return True

    def still_claimed(self, subscription_id: str) -> bool:
        """Whether the claim still holds: a new connection (the old one broke) holds none."""
        if not self.db.is_postgresql:
            return True
        if subscription_id not in self._claims:
            return False
        key = _claim_key(subscription_id)
        held = bool(self.db.scalar(text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
            "AND classid = :high AND objid = :low)"), {"high": key >> 32, "low": key & 0xFFFFFFFF}))
        if not held:
            self._claims.discard(subscription_id)
        return held

    def release(self, subscription_id: str) -> None:
        if subscription_id in self._claims:
            self._claims.discard(subscription_id)
            self.db.scalar(select(func.pg_advisory_unlock(_claim_key(subscription_id))))

    def enqueue(self, event: Event, subscriptions: list[Subscription]) -> int:
        """Add a delivery per interested subscription; no commit: the caller's transaction
        covers it, so the event exists if and only if the transition does. (Called outside
        a transaction, it commits on its own.)"""
        wanting = [sub for sub in subscriptions if sub.wants(event)]
        if not wanting:
            return 0  # nobody to tell: not even the body is made
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = event.body()
        now = datetime.now(UTC)
        rows = [
            {"msg_id": msg_id, "subscription_id": sub.id, "event_type": event.type,
             "body": body, "created_at": now, "next_attempt_at": now}
            for sub in wanting
        ]
        if rows:
            with self.db.transaction() as conn:
                if self.db.is_postgresql:
                    # Numbered and committed in one order: a sequence hands out numbers as
                    # transactions insert, not as they commit, and a dispatcher could send
                    # 12 before 11 (of another gateway's transaction) were visible. Held
                    # to the commit; SQLite has one writer at a time anyway.
                    conn.execute(select(func.pg_advisory_xact_lock(OUTBOX_ORDER_LOCK)))
                conn.execute(insert(DELIVERIES), rows)
        return len(rows)

    def head(self, subscription_id: str) -> Delivery | None:
        """The oldest pending delivery of a subscription: later ones wait behind it."""
        row = self.db.row(
            select(DELIVERIES)
            .where(DELIVERIES.c.subscription_id == subscription_id,
                   DELIVERIES.c.state == "pending")
            .order_by(DELIVERIES.c.seq).limit(1))
        return _delivery(row) if row else None

    def pending_subscriptions(self) -> set[str]:
        """Enabled subscriptions with deliveries waiting. A disabled or deleted one keeps its
        pending deliveries (for a replay) but gets no worker."""
        rows = self.db.rows(
            select(DELIVERIES.c.subscription_id).distinct()
            .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == DELIVERIES.c.subscription_id)
            .where(DELIVERIES.c.state == "pending", SUBSCRIPTIONS.c.enabled == 1))
        return {row.subscription_id for row in rows}

    def pending_count(self) -> int:
        """Deliveries waiting to go out (the partial index makes this a short count)."""
        return int(self.db.scalar(
            select(func.count()).select_from(DELIVERIES).where(DELIVERIES.c.state == "pending")))

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
        values: dict[str, Any] = {
            "attempts": DELIVERIES.c.attempts + 1, "last_status": status, "last_error": error,
            "last_latency_ms": latency_ms, "state": outcome,
            "finished_at": now if outcome != "pending" else None,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.db.transaction():
            self.db.execute(update(DELIVERIES).where(DELIVERIES.c.seq == seq).values(values))
            self.db.execute(insert(DELIVERY_ATTEMPTS).values(
                delivery_seq=seq, at=now, status=status, error=error, latency_ms=latency_ms))

    def attempts(self, seqs: list[int]) -> dict[int, list[Attempt]]:
        """Every attempt of these deliveries, oldest first."""
        found: dict[int, list[Attempt]] = {seq: [] for seq in seqs}
        if not seqs:
            return found
        rows = self.db.rows(
            select(DELIVERY_ATTEMPTS.c.delivery_seq, DELIVERY_ATTEMPTS.c.at,
                   DELIVERY_ATTEMPTS.c.status, DELIVERY_ATTEMPTS.c.error,
                   DELIVERY_ATTEMPTS.c.latency_ms)
            .where(DELIVERY_ATTEMPTS.c.delivery_seq.in_(seqs))
            .order_by(DELIVERY_ATTEMPTS.c.delivery_seq, DELIVERY_ATTEMPTS.c.at))
        for row in rows:
            found[row.delivery_seq].append(Attempt(row.at, row.status, row.error, row.latency_ms))
        return found

    def list(self, subscription_id: str, *, limit: int = 100) -> list[Delivery]:
        rows = self.db.rows(
            select(DELIVERIES).where(DELIVERIES.c.subscription_id == subscription_id)
            .order_by(DELIVERIES.c.seq.desc()).limit(limit))
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
        statement = (
            update(DELIVERIES)
            .where(DELIVERIES.c.subscription_id == subscription_id,
                   DELIVERIES.c.state == "failed")
            .values(state="pending", attempts=0, next_attempt_at=datetime.now(UTC),
                    finished_at=None)
        )
        if seq is not None:
            statement = statement.where(DELIVERIES.c.seq == seq)
        if since is not None:
            statement = statement.where(DELIVERIES.c.created_at >= since)
        if until is not None:
            statement = statement.where(DELIVERIES.c.created_at < until)
        return self.db.execute(statement).rowcount
