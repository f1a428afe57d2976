"""Webhook delivery from the outbox to a real HTTP receiver: signed, retried, in order."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from realservers import WebhookReceiver
from standardwebhooks.webhooks import Webhook

from alerts import Event, Subscription, SubscriptionStore, WebhookDispatcher, WebhookOutbox


class Outbox:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.outbox = WebhookOutbox(self.db)
        self.subscriptions = SubscriptionStore(self.db)
        self.dispatcher = WebhookDispatcher(self.outbox, self.subscriptions,
                                            retry_schedule_s=(0.05, 0.05, 0.05), timeout_s=2)

    def emit(self, subscription: Subscription, n: int) -> None:
        with self.db:
            self.outbox.enqueue(Event("alert.opened", datetime.now(UTC), {"n": n},
                                      alert_kind="recall"), [subscription])
        self.dispatcher.wake()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "state.db")
    task = asyncio.create_task(box.dispatcher.run())
    yield box
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_failed_deliveries_are_retried_with_the_same_id_and_stay_in_order(
    outbox: Outbox, webhook_receiver: WebhookReceiver
) -> None:
    answers = iter([500, 503, 204])
    webhook_receiver.status = lambda request: (
        next(answers, 204) if request.json()["data"]["n"] == 0 else 204)
    subscription = outbox.subscriptions.create(webhook_receiver.url)
    for n in range(3):
        outbox.emit(subscription, n)
    await eventually(lambda: len(webhook_receiver.requests) == 5)
    numbers = [r.json()["data"]["n"] for r in webhook_receiver.requests]
    assert numbers == [0, 0, 0, 1, 2]
    first_ids = {r.headers["webhook-id"] for r in webhook_receiver.requests[:3]}
    assert len(first_ids) == 1
    for request in webhook_receiver.requests:
        Webhook(subscription.secret).verify(request.body, request.headers)


async def test_a_delivery_fails_after_the_schedule_and_the_next_one_goes_out(
    outbox: Outbox, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = lambda r: 500 if r.json()["data"]["n"] == 0 else 204
    subscription = outbox.subscriptions.create(webhook_receiver.url)
    outbox.emit(subscription, 0)
    outbox.emit(subscription, 1)
    await eventually(lambda: any(r.json()["data"]["n"] == 1 for r in webhook_receiver.requests))
    deliveries = {d.body: d for d in outbox.outbox.list(subscription.id)}
    states = sorted((d.state, d.attempts, d.last_status) for d in deliveries.values())
    assert states == [("delivered", 1, 204), ("failed", 4, 500)]
    assert outbox.outbox.replay(subscription.id) == 1


async def test_410_gone_disables_the_subscription(
    outbox: Outbox, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = lambda _: 410
    subscription = outbox.subscriptions.create(webhook_receiver.url)
    outbox.emit(subscription, 0)
    outbox.emit(subscription, 1)
    await eventually(lambda: not outbox.subscriptions.get(subscription.id).enabled)
    await asyncio.sleep(0.3)
    assert len(webhook_receiver.requests) == 1


async def test_a_refused_connection_is_retried(outbox: Outbox, tmp_path: Path) -> None:
    subscription = outbox.subscriptions.create("http://127.0.0.1:9/nobody-listens")
    outbox.emit(subscription, 0)
    await eventually(lambda: outbox.outbox.list(subscription.id)[0].state == "failed")
    (delivery,) = outbox.outbox.list(subscription.id)
    assert delivery.attempts == 4 and delivery.last_status is None
    assert delivery.last_error and "Connect" in delivery.last_error
