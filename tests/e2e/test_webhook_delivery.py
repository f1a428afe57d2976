"""Webhook delivery from the outbox to a real HTTP receiver: signed, retried, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.gateways import STATE
from support.servers import WebhookReceiver

from alerts import (
    Event,
    Filters,
    Subscription,
    SubscriptionStore,
    UrlPolicy,
    WebhookDispatcher,
    WebhookOutbox,
)
from gateway.migrations import upgrade
from ingest.statedb import StateDb


class Outbox:
    """A dispatcher on its own connection to the state database, as in the gateway (through
    StateDb.run), and the test's own connection beside it to write and look."""

    def __init__(self, workdir: Path, url_policy: UrlPolicy | None = None) -> None:
        url = STATE.url_for(workdir)
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.db = StateDb.open(url)
        upgrade(self.db)
        self.outbox = WebhookOutbox(self.db)
        self.subscriptions = SubscriptionStore(self.db)
        self.dispatching = StateDb.open_for_loop(url)
        self.dispatcher = WebhookDispatcher(
            WebhookOutbox(self.dispatching), SubscriptionStore(self.dispatching),
            retry_schedule_s=(0.05, 0.05, 0.05), timeout_s=2, url_policy=url_policy,
            run=self.dispatching.run)

    async def close(self) -> None:
        await self.dispatching.aclose()
        self.db.close()

    def emit(self, subscription: Subscription, n: int) -> None:
        with self.db.transaction():
            self.outbox.enqueue(Event("alert.opened", datetime.now(UTC), {"n": n},
                                      alert_kind="recall"), [subscription])
        self.dispatcher.wake()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path)
    task = asyncio.create_task(box.dispatcher.run())
    yield box
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await box.close()


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
    # The receiver has answered; the dispatcher records that a moment later.
    await eventually(lambda: all(d.state != "pending"
                                 for d in outbox.outbox.list(subscription.id)))
    states = sorted((d.state, d.attempts, d.last_status)
                    for d in outbox.outbox.list(subscription.id))
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


async def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new(
    outbox: Outbox, webhook_receiver: WebhookReceiver
) -> None:
    old = outbox.subscriptions.create(webhook_receiver.url)
    rotated = outbox.subscriptions.rotate_secret(old.id, timedelta(hours=1))
    assert rotated is not None and rotated.secret != old.secret
    outbox.emit(rotated, 0)
    await eventually(lambda: len(webhook_receiver.requests) == 1)
    request = webhook_receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old.secret).verify(request.body, request.headers)
    Webhook(rotated.secret).verify(request.body, request.headers)

    ended = outbox.subscriptions.rotate_secret(old.id, timedelta(0))
    assert ended is not None
    outbox.emit(ended, 1)
    await eventually(lambda: len(webhook_receiver.requests) == 2)
    request = webhook_receiver.requests[1]
    Webhook(ended.secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated.secret).verify(request.body, request.headers)


async def test_a_url_that_turns_private_is_refused_at_delivery(tmp_path: Path) -> None:
    box = Outbox(tmp_path, url_policy=UrlPolicy(allow_private=False))
    task = asyncio.create_task(box.dispatcher.run())
    try:
        subscription = box.subscriptions.create("http://127.0.0.1:9/hook")
        box.emit(subscription, 0)
        await eventually(lambda: box.outbox.list(subscription.id)[0].attempts >= 1)
        (delivery,) = box.outbox.list(subscription.id)
        assert delivery.last_status is None
        assert delivery.last_error and "non-public address" in delivery.last_error
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await box.close()


async def test_replay_by_time_range_requeues_only_that_range(
    outbox: Outbox, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = lambda _: 500
    subscription = outbox.subscriptions.create(webhook_receiver.url)
    outbox.emit(subscription, 0)
    await eventually(lambda: outbox.outbox.list(subscription.id)[0].state == "failed")
    middle = datetime.now(UTC)
    outbox.emit(subscription, 1)
    await eventually(lambda: all(d.state == "failed" for d in outbox.outbox.list(subscription.id)))
    webhook_receiver.status = lambda _: 204
    assert outbox.outbox.replay(subscription.id, since=middle) == 1
    outbox.dispatcher.wake()
    await eventually(lambda: any(d.state == "delivered"
                                 for d in outbox.outbox.list(subscription.id)))
    states = {orjson.loads(d.body)["data"]["n"]: d.state
              for d in outbox.outbox.list(subscription.id)}
    assert states == {0: "failed", 1: "delivered"}


@pytest.mark.parametrize(("filters", "wanted"), [
    (Filters(), True),
    (Filters(event_types=("alert.resolved",)), False),
    (Filters(alert_kinds=("recall",)), True),
    (Filters(alert_kinds=("overdue",)), False),
    (Filters(severities=("critical",)), False),
    (Filters(asset_kinds=("rental",)), False),
    (Filters(flows=("recall", "trade_in")), True),
])
def test_subscription_filters(filters: Filters, wanted: bool) -> None:
    event = Event("alert.opened", datetime.now(UTC), {}, alert_kind="recall",
                  severity="warning", asset_kind="shipment", flow="recall")
    assert filters.match(event) is wanted


def test_an_arrival_passes_alert_filters_it_has_no_value_for() -> None:
    arrival = Event("asset.arrived", datetime.now(UTC), {}, asset_kind="rental",
                    flow="rental_return")
    assert Filters(alert_kinds=("recall",)).match(arrival)
    assert not Filters(asset_kinds=("shipment",)).match(arrival)
