"""Webhook subscriptions: who wants which events, and the secret their deliveries carry."""

from __future__ import annotations

import base64
import contextlib
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from alerts.events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    alert_kinds TEXT NOT NULL,
    severities TEXT NOT NULL DEFAULT '[]',
    asset_kinds TEXT NOT NULL DEFAULT '[]',
    flows TEXT NOT NULL DEFAULT '[]',
    previous_secret TEXT,
    previous_secret_until TEXT,
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
class Filters:
    """What a subscription wants; an empty tuple means every value."""

    event_types: tuple[str, ...] = ()
    alert_kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    asset_kinds: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()

    def match(self, event: Event) -> bool:
        for allowed, value in ((self.event_types, event.type),
                               (self.alert_kinds, event.alert_kind),
                               (self.severities, event.severity),
                               (self.asset_kinds, event.asset_kind),
                               (self.flows, event.flow)):
            # A filter on a fact the event does not have (the kind of an arrival) lets it by.
            if allowed and value is not None and value not in allowed:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    secret: str
    filters: Filters
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None

    def wants(self, event: Event) -> bool:
        return self.enabled and self.filters.match(event)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and during a rotation's overlap the previous one too."""
        secrets_ = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            secrets_.append(self.previous_secret)
        return secrets_


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes, as the Standard Webhooks specification asks."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


_COLUMNS = (
    "id, url, secret, event_types, alert_kinds, severities, asset_kinds, flows, "
    "previous_secret, previous_secret_until, description, enabled, disabled_reason, created_at"
)


def _subscription(row: tuple[Any, ...]) -> Subscription:
    lists = [tuple(orjson.loads(text)) for text in row[3:8]]
    return Subscription(
        id=row[0], url=row[1], secret=row[2], filters=Filters(*lists),
        previous_secret=row[8],
        previous_secret_until=datetime.fromisoformat(row[9]) if row[9] else None,
        description=row[10], enabled=bool(row[11]), disabled_reason=row[12],
        created_at=datetime.fromisoformat(row[13]),
    )


@contextlib.contextmanager
def _overwriting_removed_secrets(db: sqlite3.Connection) -> Iterator[None]:
    """SQLite leaves a replaced or deleted value in the file's free space unless
    `secure_delete` is on (some builds turn it on by default, others not): a secret taken out
    of a row must be taken out of the file too. FAST: zeroed where that costs no extra I/O,
    which covers a value removed from a row that is itself rewritten."""
    (mode,) = db.execute("PRAGMA secure_delete").fetchone()
    if mode:
        yield
        return
    db.execute("PRAGMA secure_delete=FAST")
    try:
        yield
    finally:
        db.execute("PRAGMA secure_delete=OFF")


class SubscriptionStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def create(
        self, url: str, filters: Filters | None = None, description: str = ""
    ) -> Subscription:
        subscription = Subscription(
            id=f"sub_{uuid.uuid4().hex[:16]}", url=url, secret=new_secret(),
            filters=filters or Filters(), description=description, enabled=True,
            disabled_reason=None, created_at=datetime.now(UTC),
        )
        f = subscription.filters
        with self.db:
            self.db.execute(
                f"INSERT INTO subscriptions ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                (
                    subscription.id, url, subscription.secret,
                    *(orjson.dumps(list(values)).decode() for values in (
                        f.event_types, f.alert_kinds, f.severities, f.asset_kinds, f.flows)),
                    None, None, description, 1, None, subscription.created_at.isoformat(),
                ),
            )
        return subscription

    def update(self, subscription: Subscription) -> None:
        """Its URL, filters, description and whether it is enabled (the secrets stay)."""
        f = subscription.filters
        with self.db:
            self.db.execute(
                "UPDATE subscriptions SET url=?, event_types=?, alert_kinds=?, severities=?, "
                "asset_kinds=?, flows=?, description=?, enabled=?, disabled_reason=? "
                "WHERE id=?",
                (subscription.url,
                 *(orjson.dumps(list(values)).decode() for values in (
                     f.event_types, f.alert_kinds, f.severities, f.asset_kinds, f.flows)),
                 subscription.description, int(subscription.enabled),
                 subscription.disabled_reason, subscription.id),
            )

    def rotate_secret(self, subscription_id: str, overlap: timedelta) -> Subscription | None:
        """A new secret; the old one keeps signing (beside the new) for `overlap`."""
        current = self.get(subscription_id)
        if current is None:
            return None
        until = datetime.now(UTC) + overlap
        with _overwriting_removed_secrets(self.db), self.db:
            self.db.execute(
                "UPDATE subscriptions SET secret=?, previous_secret=?, previous_secret_until=? "
                "WHERE id=?",
                (new_secret(), current.secret, until.isoformat(), subscription_id),
            )
        return self.get(subscription_id)

    def erase_expired_secrets(self, now: datetime) -> int:
        """Set to NULL each previous secret whose overlap has ended by `now`: it signs
        nothing any more, and a secret that is not kept cannot leak. Returns how many."""
        rows = self.db.execute(
            "SELECT id, previous_secret_until FROM subscriptions "
            "WHERE previous_secret IS NOT NULL").fetchall()
        expired = [(subscription_id, until) for subscription_id, until in rows
                   if until is None or datetime.fromisoformat(until) <= now]
        if expired:
            with _overwriting_removed_secrets(self.db), self.db:
                # The same `until` in the WHERE: a rotation made since the SELECT keeps its
                # new previous secret.
                self.db.executemany(
                    "UPDATE subscriptions SET previous_secret=NULL, previous_secret_until=NULL "
                    "WHERE id=? AND previous_secret_until IS ?", expired)
        return len(expired)

    def all(self) -> list[Subscription]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscriptions ORDER BY created_at").fetchall()
        return [_subscription(row) for row in rows]

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE id=?", (subscription_id,)
        ).fetchone()
        return _subscription(row) if row else None

    def disable(self, subscription_id: str, reason: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE subscriptions SET enabled=0, disabled_reason=? WHERE id=?",
                (reason, subscription_id),
            )

    def delete(self, subscription_id: str) -> bool:
        """With its deliveries: no worker would send them, nothing could replay them, and
        they would count as pending forever."""
        with _overwriting_removed_secrets(self.db), self.db:
            cursor = self.db.execute("DELETE FROM subscriptions WHERE id=?", (subscription_id,))
            self.db.execute(
                "DELETE FROM delivery_attempts WHERE delivery_seq IN "
                "(SELECT seq FROM deliveries WHERE subscription_id=?)", (subscription_id,))
            self.db.execute("DELETE FROM deliveries WHERE subscription_id=?", (subscription_id,))
        return cursor.rowcount > 0
