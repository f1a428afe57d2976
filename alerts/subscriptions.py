"""Webhook subscriptions: who wants which events, and the secret their deliveries carry."""

from __future__ import annotations

import base64
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    alert_kinds TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    created_at TEXT NOT NULL
);
"""

EVENT_TYPES = (
    "alert.opened",
    "alert.updated",
    "alert.acknowledged",
    "alert.resolved",
    "asset.arrived",
    "webhook.test",
)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    """Empty: every event type."""
    alert_kinds: tuple[str, ...]
    """Empty: every alert kind."""
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    def wants(self, event_type: str, alert_kind: str | None) -> bool:
        if not self.enabled:
            return False
        if self.event_types and event_type not in self.event_types:
            return False
        return not (alert_kind and self.alert_kinds and alert_kind not in self.alert_kinds)


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes, as the Standard Webhooks specification asks."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _subscription(row: tuple[Any, ...]) -> Subscription:
    return Subscription(
        id=row[0], url=row[1], secret=row[2],
        event_types=tuple(orjson.loads(row[3])), alert_kinds=tuple(orjson.loads(row[4])),
        description=row[5], enabled=bool(row[6]), disabled_reason=row[7],
        created_at=datetime.fromisoformat(row[8]),
    )


class SubscriptionStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def create(
        self,
        url: str,
        event_types: tuple[str, ...] = (),
        alert_kinds: tuple[str, ...] = (),
        description: str = "",
    ) -> Subscription:
        subscription = Subscription(
            id=f"sub_{uuid.uuid4().hex[:16]}", url=url, secret=new_secret(),
            event_types=event_types, alert_kinds=alert_kinds, description=description,
            enabled=True, disabled_reason=None, created_at=datetime.now(UTC),
        )
        with self.db:
            self.db.execute(
                "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subscription.id, url, subscription.secret,
                    orjson.dumps(list(event_types)).decode(),
                    orjson.dumps(list(alert_kinds)).decode(), description, 1, None,
                    subscription.created_at.isoformat(),
                ),
            )
        return subscription

    def all(self) -> list[Subscription]:
        rows = self.db.execute("SELECT * FROM subscriptions ORDER BY created_at").fetchall()
        return [_subscription(row) for row in rows]

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.db.execute(
            "SELECT * FROM subscriptions WHERE id=?", (subscription_id,)
        ).fetchone()
        return _subscription(row) if row else None

    def disable(self, subscription_id: str, reason: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE subscriptions SET enabled=0, disabled_reason=? WHERE id=?",
                (reason, subscription_id),
            )

    def delete(self, subscription_id: str) -> bool:
        with self.db:
            cursor = self.db.execute("DELETE FROM subscriptions WHERE id=?", (subscription_id,))
        return cursor.rowcount > 0
