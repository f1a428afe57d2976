"""Standard Webhooks delivery: signed POSTs from the outbox, in order per subscription,
retried with backoff and jitter, each subscription on its own worker so that one slow
subscriber cannot hold up another."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from alerts import _metrics
from alerts.outbox import Delivery, Event, WebhookOutbox
from alerts.subscriptions import Subscription, SubscriptionStore

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Boomerang-Webhooks/0.1"


class UnsafeWebhookUrl(ValueError):
    pass


async def check_webhook_url(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not http(s), or that resolve to loopback, private, link-local
    or other internal addresses (cloud metadata endpoints among them) unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("url: must be an http:// or https:// URL with a host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError as exc:
        raise UnsafeWebhookUrl(f"url: cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeWebhookUrl(
                f"url: {parts.hostname} resolves to {address}, a non-public address; "
                "set BOOMERANG_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


def signed_headers(delivery: Delivery, secret: str, now: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(delivery.msg_id, now, delivery.body.decode())
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


class WebhookDispatcher:
    def __init__(
        self,
        outbox: WebhookOutbox,
        subscriptions: SubscriptionStore,
        *,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 10.0,
    ) -> None:
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._schedule = tuple(retry_schedule_s)
        self._timeout_s = timeout_s
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._worker_wake: dict[str, asyncio.Event] = {}
        self._http: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """New deliveries are in the outbox (or failed ones were put back)."""
        self._wake.set()
        for event in self._worker_wake.values():
            event.set()

    def send_test(self, subscription: Subscription) -> None:
        with self._outbox.db:
            self._outbox.enqueue(
                Event("webhook.test", datetime.now(UTC),
                      {"subscription_id": subscription.id,
                       "message": "a test delivery from Boomerang"}),
                [subscription],
            )
        self.wake()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            timeout=self._timeout_s, limits=limits, follow_redirects=False
        ) as http:
            self._http = http
            try:
                while True:
                    for subscription_id in self._outbox.pending_subscriptions():
                        if subscription_id not in self._workers:
                            self._start(subscription_id)
                    try:
                        await asyncio.wait_for(self._wake.wait(), 5.0)
                    except TimeoutError:
                        pass
                    self._wake.clear()
            finally:
                for task in self._workers.values():
                    task.cancel()
                await asyncio.gather(*self._workers.values(), return_exceptions=True)

    def _start(self, subscription_id: str) -> None:
        self._worker_wake[subscription_id] = asyncio.Event()
        task = asyncio.create_task(self._work(subscription_id), name=f"webhook:{subscription_id}")
        self._workers[subscription_id] = task

        def finished(done: asyncio.Task[None]) -> None:
            self._workers.pop(subscription_id, None)
            self._worker_wake.pop(subscription_id, None)
            if not done.cancelled() and done.exception() is not None:
                # Not woken again at once: a worker that keeps failing must not spin.
                log.error("webhook worker for %s failed: %r", subscription_id, done.exception())
                return
            self._wake.set()  # a delivery may have been added while the worker was ending

        task.add_done_callback(finished)

    async def _work(self, subscription_id: str) -> None:
        wake = self._worker_wake[subscription_id]
        while True:
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None or not subscription.enabled:
                return
            head = self._outbox.head(subscription_id)
            if head is None:
                return
            wait_s = (head.next_attempt_at - datetime.now(UTC)).total_seconds()
            if wait_s > 0:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), wait_s)
                except TimeoutError:
                    pass
                continue
            await self._attempt(subscription, head)

    async def _attempt(self, subscription: Subscription, delivery: Delivery) -> None:
        assert self._http is not None
        now = datetime.now(UTC)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with self._http.stream(
                "POST", subscription.url, content=delivery.body,
                headers=signed_headers(delivery, subscription.secret, now),
            ) as response:
                status = response.status_code
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > MAX_RESPONSE_BYTES:
                        break
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            # Whatever went wrong on the way, it is this attempt's failure: retried on the
            # schedule like any other, never a crash of the subscription's worker.
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency_s = time.perf_counter() - started
        _metrics.DELIVERY_LATENCY.observe(latency_s)
        attempts = delivery.attempts + 1
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif status == 410:
            outcome, next_at = "failed", None
            error = "410 Gone: subscription disabled"
            self._subscriptions.disable(subscription.id, "the receiver answered 410 Gone")
            log.warning("subscription %s disabled: 410 Gone", subscription.id)
        elif attempts > len(self._schedule):
            outcome, next_at = "failed", None
        else:
            outcome = "pending"
            delay = self._schedule[attempts - 1] * random.uniform(0.8, 1.2)
            next_at = now + timedelta(seconds=delay)
        if outcome != "delivered":
            log.info("delivery %s to %s: %s (attempt %d)", delivery.msg_id, subscription.url,
                     error or f"HTTP {status}", attempts)
        _metrics.DELIVERY_ATTEMPTS.labels(outcome).inc()
        self._outbox.record_attempt(
            delivery.seq, status=status, error=error, latency_ms=latency_s * 1000,
            outcome=outcome, next_attempt_at=next_at,
        )
