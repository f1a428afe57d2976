"""Webhook subscriptions: who wants which events, and the secret their deliveries carry."""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    Row,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)

from alerts.events import Event
from ingest.statedb import METADATA, Json, StateDb, Utc

SUBSCRIPTIONS = Table(
    "subscriptions", METADATA,
    Column("id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("event_types", Json, nullable=False),
    Column("alert_kinds", Json, nullable=False),
    Column("severities", Json, nullable=False, server_default=text("'[]'")),
    Column("asset_kinds", Json, nullable=False, server_default=text("'[]'")),
    Column("flows", Json, nullable=False, server_default=text("'[]'")),
    Column("previous_secret", Text),
    Column("previous_secret_until", Utc),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("enabled", Integer, nullable=False, server_default=text("1")),
    Column("disabled_reason", Text),
    Column("created_at", Utc, nullable=False),
)

EVENT_TYPES = (
    "alert.opened",
    "alert.updated",
    "alert.acknowledged",
    "alert.resolved",
    "asset.arrived",
    "webhook.test",
    "trip.status_changed",
    "trip.rerouted",
    "trip.eta_changed",
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


_FILTER_COLUMNS = ("event_types", "alert_kinds", "severities", "asset_kinds", "flows")


def _filter_values(filters: Filters) -> dict[str, list[str]]:
    return {name: list(getattr(filters, name)) for name in _FILTER_COLUMNS}


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id, url=row.url, secret=row.secret,
        filters=Filters(*(tuple(getattr(row, name)) for name in _FILTER_COLUMNS)),
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        description=row.description, enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason, created_at=row.created_at,
    )


@contextlib.contextmanager
def _overwriting_removed_secrets(db: StateDb) -> Iterator[None]:
    """A transaction (the open one, or one of its own) in which a secret taken out of a row
    is taken out of the file too, as far as the engine allows.

    SQLite leaves a replaced or deleted value in the file's free space unless
    `secure_delete` is on (some builds turn it on by default, others not). FAST: zeroed
    where that costs no extra I/O, which covers a value removed from a row that is itself
    rewritten. The setting is the connection's, not the transaction's, and takes effect as
    a statement frees the space, so it is put back before the commit. (In WAL mode the
    replaced page stays in the -wal file until a checkpoint restarts the log: the zeroing
    covers the database file.)

    PostgreSQL has no equivalent: an UPDATE or DELETE leaves the old row version in the
    table's file, dead, until VACUUM (autovacuum) reclaims its space for new rows, and even
    then its bytes are not overwritten until reused. Nothing here stands in for it; what
    protects the secret there is the protection of the server's data directory and
    backups."""
    with db.transaction() as conn:
        if db.dialect != "sqlite":
            yield
            return
        mode = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
        if mode:
            yield
            return
        conn.exec_driver_sql("PRAGMA secure_delete=FAST")
        try:
            yield
        finally:
            conn.exec_driver_sql("PRAGMA secure_delete=OFF")


class SubscriptionStore:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def create(
        self, url: str, filters: Filters | None = None, description: str = ""
    ) -> Subscription:
        subscription = Subscription(
            id=f"sub_{uuid.uuid4().hex[:16]}", url=url, secret=new_secret(),
            filters=filters or Filters(), description=description, enabled=True,
            disabled_reason=None, created_at=datetime.now(UTC),
        )
        self.db.execute(insert(SUBSCRIPTIONS).values(
            id=subscription.id, url=url, secret=subscription.secret,
            **_filter_values(subscription.filters),
            previous_secret=None, previous_secret_until=None, description=description,
            enabled=1, disabled_reason=None, created_at=subscription.created_at,
        ))
        return subscription

    def update(self, subscription: Subscription) -> None:
        """Its URL, filters, description and whether it is enabled (the secrets stay)."""
        self.db.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription.id).values(
            url=subscription.url, **_filter_values(subscription.filters),
            description=subscription.description, enabled=int(subscription.enabled),
            disabled_reason=subscription.disabled_reason,
        ))

    def rotate_secret(self, subscription_id: str, overlap: timedelta) -> Subscription | None:
        """A new secret; the old one keeps signing (beside the new) for `overlap`."""
        current = self.get(subscription_id)
        if current is None:
            return None
        until = datetime.now(UTC) + overlap
        with _overwriting_removed_secrets(self.db):
            self.db.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id)
                            .values(secret=new_secret(), previous_secret=current.secret,
                                    previous_secret_until=until))
        return self.get(subscription_id)

    def erase_expired_secrets(self, now: datetime) -> int:
        """Set to NULL each previous secret whose overlap has ended by `now`: it signs
        nothing any more, and a secret that is not kept cannot leak. Returns how many."""
        until = SUBSCRIPTIONS.c.previous_secret_until
        # The stored times are UTC ISO 8601 text, which sorts in time order (see Utc).
        expired = and_(SUBSCRIPTIONS.c.previous_secret.is_not(None),
                       or_(until.is_(None), until <= now))
        # Called every few seconds: a read first, so that the usual nothing-to-do takes no
        # write lock.
        if self.db.scalar(select(SUBSCRIPTIONS.c.id).where(expired).limit(1)) is None:
            return 0
        with _overwriting_removed_secrets(self.db):
            # The same condition in the UPDATE: a rotation made since the SELECT keeps its
            # new previous secret.
            return self.db.execute(update(SUBSCRIPTIONS).where(expired).values(
                previous_secret=None, previous_secret_until=None)).rowcount

    def all(self) -> list[Subscription]:
        rows = self.db.rows(select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.created_at))
        return [_subscription(row) for row in rows]

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.db.row(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))
        return _subscription(row) if row else None

    def disable(self, subscription_id: str, reason: str) -> None:
        self.db.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id)
                        .values(enabled=0, disabled_reason=reason))

    def delete(self, subscription_id: str) -> bool:
        """With its deliveries: no worker would send them, nothing could replay them, and
        they would count as pending forever."""
        from alerts.outbox import DELIVERIES, DELIVERY_ATTEMPTS  # it imports this module

        with _overwriting_removed_secrets(self.db):
            deleted = self.db.execute(
                delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id)).rowcount
            self.db.execute(delete(DELIVERY_ATTEMPTS).where(DELIVERY_ATTEMPTS.c.delivery_seq.in_(
                select(DELIVERIES.c.seq).where(DELIVERIES.c.subscription_id == subscription_id))))
            self.db.execute(
                delete(DELIVERIES).where(DELIVERIES.c.subscription_id == subscription_id))
        return deleted > 0
