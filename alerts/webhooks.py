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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from alerts import _metrics
from alerts.events import Event
from alerts.outbox import Delivery, WebhookOutbox
from alerts.subscriptions import Subscription, SubscriptionStore
from gateway.waiting import wait_event

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Boomerang-Webhooks/0.1"


class UnsafeWebhookUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which webhook destinations are allowed besides public addresses."""

    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return (self.allow_private or address.is_global
                or any(address in network for network in self.allowed_networks))


async def check_webhook_url(url: str, policy: UrlPolicy) -> None:
    """Refuse URLs that are not http(s), or that resolve to loopback, private, link-local
    or other non-public addresses (cloud metadata endpoints among them) unless the policy
    allows them. Checked when a subscription is made, and again before every attempt,
    because what a name resolves to can change."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("url: must be an http:// or https:// URL with a host")
    if policy.allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError as exc:
        raise UnsafeWebhookUrl(f"url: cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not policy.allows(address):
            raise UnsafeWebhookUrl(
                f"url: {parts.hostname} resolves to {address}, a non-public address; allow it "
                "with BOOMERANG_WEBHOOK_ALLOWED_NETWORKS or BOOMERANG_WEBHOOK_ALLOW_PRIVATE"
            )


def signed_headers(delivery: Delivery, secrets: list[str], now: datetime) -> dict[str, str]:
    """During a secret rotation both secrets sign, space-separated, as the specification
    allows: a receiver with either secret verifies the delivery."""
    body = delivery.body.decode()
    signature = " ".join(Webhook(secret).sign(delivery.msg_id, now, body) for secret in secrets)
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
        url_policy: UrlPolicy | None = None,
    ) -> None:
        """`url_policy` None: URLs are checked only when subscriptions are made."""
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._schedule = tuple(retry_schedule_s)
        self._timeout_s = timeout_s
        self._url_policy = url_policy
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._worker_wake: dict[str, asyncio.Event] = {}
        self._finishing = False

    def wake(self) -> None:
        """New deliveries are in the outbox (or failed ones were put back)."""
        self._wake.set()
        for event in self._worker_wake.values():
            event.set()

    def send_test(self, subscription: Subscription) -> None:
        """Queue `webhook.test` for one subscription, behind its other deliveries."""
        with self._outbox.db:
            self._outbox.enqueue(
                Event("webhook.test", datetime.now(UTC),
                      {"subscription_id": subscription.id,
                       "message": "a test delivery from Boomerang"}),
                [subscription],
            )
        self.wake()

    async def finish(self, timeout_s: float) -> int:
        """At shutdown: start no more attempts and give those under way up to `timeout_s` to
        end (an attempt cut short is simply retried after the restart, with the same
        webhook-id). Returns how many were cut short."""
        self._finishing = True
        self.wake()
        workers = list(self._workers.values())
        if not workers:
            return 0
        _, cut = await asyncio.wait(workers, timeout=max(0.0, timeout_s))
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        return len(cut)

    async def run(self) -> None:
        try:
            while not self._finishing:
                for subscription_id in self._outbox.pending_subscriptions():
                    if subscription_id not in self._workers:
                        self._start(subscription_id)
                await wait_event(self._wake, 5.0)
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
        # A client per subscription: its one connection is kept alive between deliveries,
        # and no subscription waits on a pool shared with the others (httpx's pool grows
        # slow with many connections: a shared one managed 200 deliveries/s for 100).
        async with httpx.AsyncClient(
            timeout=self._timeout_s, follow_redirects=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as http:
            await self._work_with(subscription_id, http)

    async def _work_with(self, subscription_id: str, http: httpx.AsyncClient) -> None:
        wake = self._worker_wake[subscription_id]
        while not self._finishing:
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None or not subscription.enabled:
                return
            head = self._outbox.head(subscription_id)
            if head is None:
                return
            wait_s = (head.next_attempt_at - datetime.now(UTC)).total_seconds()
            if wait_s > 0:
                wake.clear()
                await wait_event(wake, wait_s)
                continue
            await self._attempt(http, subscription, head)

    async def _attempt(
        self, http: httpx.AsyncClient, subscription: Subscription, delivery: Delivery
    ) -> None:
        now = datetime.now(UTC)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            if self._url_policy is not None:
                await check_webhook_url(subscription.url, self._url_policy)
            async with http.stream(
                "POST", subscription.url, content=delivery.body,
                headers=signed_headers(delivery, subscription.signing_secrets(now), now),
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
