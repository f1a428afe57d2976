"""Webhook subscriptions: made with a checked URL, changed, rotated, listed with their
deliveries, tested and replayed; the dispatcher woken when there is something to send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from alerts import Filters, SubscriptionStore, UrlPolicy, WebhookDispatcher, WebhookOutbox
from alerts.outbox import Attempt, Delivery
from alerts.subscriptions import Subscription
from alerts.webhooks import UnsafeWebhookUrl, check_webhook_url
from gateway.imports import Problem
from gateway.services.errors import Invalid, NotFound
from ingest.statedb import StateDb


class SubscriptionService:
    def __init__(self, db: StateDb, subscriptions: SubscriptionStore, outbox: WebhookOutbox,
                 dispatcher: WebhookDispatcher, url_policy: UrlPolicy,
                 secret_overlap: timedelta) -> None:
        self._db, self._subscriptions, self._outbox = db, subscriptions, outbox
        self._dispatcher, self._url_policy = dispatcher, url_policy
        self.secret_overlap = secret_overlap
        """How long a rotated-out secret keeps signing, unless a rotation says otherwise."""

    async def create(self, url: str, filters: Filters, description: str) -> Subscription:
        await self._allowed(url)
        return await self._db.run(self._subscriptions.create, url, filters, description)

    async def all(self) -> list[Subscription]:
        return await self._db.run(self._subscriptions.all)

    async def get(self, subscription_id: str) -> Subscription:
        return await self._db.run(self._existing, subscription_id)

    def _existing(self, subscription_id: str) -> Subscription:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFound("subscription", subscription_id)
        return subscription

    async def update(self, subscription_id: str, *, url: str | None = None,
                     filters: Mapping[str, tuple[str, ...]] | None = None,
                     description: str | None = None, enabled: bool | None = None,
                     ) -> Subscription:
        """Changes what is given (not None)."""
        await self.get(subscription_id)  # 404 before the URL check's 422
        if url is not None:
            await self._allowed(url)
        changed = await self._db.run(self._update, subscription_id, url, filters or {},
                                     description, enabled)
        if changed.enabled:
            self._dispatcher.wake()  # deliveries held while it was disabled go out now
        return changed

    def _update(self, subscription_id: str, url: str | None,
                filters: Mapping[str, tuple[str, ...]], description: str | None,
                enabled: bool | None) -> Subscription:
        # Read again after the URL check's await, and written in the same call: a 410 that
        # disabled it meanwhile, or another change, is not overwritten with older values.
        subscription = self._existing(subscription_id)
        if url is not None:
            subscription = replace(subscription, url=url)
        subscription = replace(subscription, filters=replace(subscription.filters, **filters))
        if description is not None:
            subscription = replace(subscription, description=description)
        if enabled is not None and enabled != subscription.enabled:
            subscription = replace(
                subscription, enabled=enabled,
                disabled_reason=None if enabled else "disabled through the API")
        self._subscriptions.update(subscription)
        return subscription

    async def rotate_secret(self, subscription_id: str, overlap: timedelta | None
                            ) -> Subscription:
        """A new secret, shown this once; the old one keeps signing beside it for `overlap`."""
        rotated = await self._db.run(self._subscriptions.rotate_secret, subscription_id,
                                     self.secret_overlap if overlap is None else overlap)
        if rotated is None:
            raise NotFound("subscription", subscription_id)
        return rotated

    async def delete(self, subscription_id: str) -> None:
        if not await self._db.run(self._subscriptions.delete, subscription_id):
            raise NotFound("subscription", subscription_id)

    async def deliveries(self, subscription_id: str, limit: int
                         ) -> list[tuple[Delivery, list[Attempt]]]:
        return await self._db.run(self._deliveries, subscription_id, limit)

    def _deliveries(self, subscription_id: str, limit: int
                    ) -> list[tuple[Delivery, list[Attempt]]]:
        self._existing(subscription_id)
        deliveries = self._outbox.list(subscription_id, limit=limit)
        attempts = self._outbox.attempts([d.seq for d in deliveries])
        return [(delivery, attempts[delivery.seq]) for delivery in deliveries]

    async def send_test(self, subscription_id: str) -> None:
        await self._dispatcher.send_test(await self.get(subscription_id))

    async def replay(self, subscription_id: str, seq: int | None, since: datetime | None,
                     until: datetime | None) -> int:
        """Failed deliveries back in the queue, in their original order; how many."""
        count = await self._db.run(self._replay, subscription_id, seq, since, until)
        self._dispatcher.wake()
        return count

    def _replay(self, subscription_id: str, seq: int | None, since: datetime | None,
                until: datetime | None) -> int:
        self._existing(subscription_id)
        return self._outbox.replay(subscription_id, seq, since, until)

    async def _allowed(self, url: str) -> None:
        try:
            await check_webhook_url(url, self._url_policy)
        except UnsafeWebhookUrl as exc:
            raise Invalid("body", [Problem("url", str(exc))]) from None
