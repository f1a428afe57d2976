"""Standard Webhooks delivery: signed POSTs from the outbox, in order per subscription,
retried with backoff and jitter, each subscription on its own worker so that one slow
subscriber cannot hold up another; each attempt connects only to an address the URL policy
let through."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

from alerts import _metrics
from alerts.events import Event
from alerts.outbox import Delivery, WebhookOutbox
from alerts.subscriptions import Subscription, SubscriptionStore
from ingest.errors import error_text
from ingest.statedb import Runner, inline
from ingest.urls import redact_url
from ingest.waiting import wait_event

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Boomerang-Webhooks/0.1"
DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Answers a host name and a port with the addresses to connect to, as strings."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The event loop's getaddrinfo: the system resolver, the one httpx would use."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


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


async def check_webhook_url(
    url: str, policy: UrlPolicy, resolve: Resolver = resolve_host
) -> tuple[str, ...]:
    """Refuse URLs that are not http(s), or that resolve to loopback, private, link-local
    or other non-public addresses (cloud metadata endpoints among them) unless the policy
    allows them. Checked when a subscription is made, and again before every attempt,
    because what a name resolves to can change. Returns the addresses that passed."""
    try:
        parsed: httpx.URL | None = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in DEFAULT_PORTS or not parsed.raw_host:
        raise UnsafeWebhookUrl("url: must be an http:// or https:// URL with a host")
    return await _checked_addresses(parsed, policy, resolve)


async def _checked_addresses(
    url: httpx.URL, policy: UrlPolicy, resolve: Resolver
) -> tuple[str, ...]:
    # The host as httpx connects to it: IDNA-encoded, an IPv6 literal without brackets.
    host = url.raw_host.decode("ascii")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            # What the resolver does with the name: one that is no valid IDNA (an empty
            # label, one over 63 characters) is refused here, as any name that cannot resolve.
            host.encode("idna")
            answers = await resolve(host, url.port or DEFAULT_PORTS[url.scheme])
        except UnicodeError as exc:
            raise UnsafeWebhookUrl(f"url: {host!r} is not a valid host name: {exc}") from None
        except OSError as exc:
            raise UnsafeWebhookUrl(f"url: cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(answer) for answer in answers]
    if not addresses:
        raise UnsafeWebhookUrl(f"url: {host} resolves to no address")
    for address in addresses:
        if not policy.allows(address):
            raise UnsafeWebhookUrl(
                f"url: {host} resolves to {address}, a non-public address; allow it "
                "with BOOMERANG_WEBHOOK_ALLOWED_NETWORKS or BOOMERANG_WEBHOOK_ALLOW_PRIVATE"
            )
    return tuple(str(address) for address in addresses)


class _CheckedAddresses(httpcore.AsyncNetworkBackend):
    """Connects a host to the addresses its last check let through, never to the name
    itself: the check's lookup is the only one, so a name that would answer otherwise the
    second time (DNS rebinding) gets no second time. TLS still gets the name, from the URL,
    for its server name and the certificate check."""

    def __init__(self) -> None:
        self._tcp = httpcore.AnyIOBackend()
        self.checked: dict[str, tuple[str, ...]] = {}

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self.checked.get(host)
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        # One timeout for the whole connect, however many addresses it takes.
        deadline = None if timeout is None else time.monotonic() + timeout

        async def connect(address: str) -> httpcore.AsyncNetworkStream:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return await self._tcp.connect_tcp(address, port, remaining, local_address,
                                               socket_options)

        for address in addresses[:-1]:
            with contextlib.suppress(httpcore.ConnectError):  # the next one may answer
                return await connect(address)
        return await connect(addresses[-1])

    async def sleep(self, seconds: float) -> None:
        await self._tcp.sleep(seconds)


class _PinningTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, checking each request's host under the policy (one lookup) and
    connecting only to the addresses that check passed."""

    def __init__(self, policy: UrlPolicy, resolve: Resolver, ssl_context: ssl.SSLContext,
                 limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits)
        self._policy = policy
        self._resolve = resolve
        self._addresses = _CheckedAddresses()
        # httpx has no parameter for the network backend; the pool it has just built, unused,
        # is replaced by the same pool connecting through ours. `_pool` is httpx's own name:
        # tests/unit/alerts/test_webhook_pinning.py fails if a release renames it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._addresses,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # A connection kept alive from an earlier attempt is reused without connecting: it
        # goes to an address that passed that attempt's check, so it is as safe as a new one.
        self._addresses.checked[request.url.raw_host.decode("ascii")] = (
            await _checked_addresses(request.url, self._policy, self._resolve))
        return await super().handle_async_request(request)


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
        resolve: Resolver = resolve_host,
        verify: ssl.SSLContext | None = None,
        run: Runner = inline,
    ) -> None:
        """`url_policy` None allows every address. Whatever the policy, each attempt looks
        its host up once, with `resolve`, and connects to an address that lookup gave.
        `verify`: the TLS context that checks receivers' certificates (None: the system's
        trusted CAs, as httpx has them). `run` calls the stores (StateDb.run)."""
        self._outbox = outbox
        self._run = run
        self._subscriptions = subscriptions
        self._schedule = tuple(retry_schedule_s)
        self._timeout_s = timeout_s
        self._url_policy = url_policy or UrlPolicy(allow_private=True)
        self._resolve = resolve
        # One context for every worker: building one loads the CA bundle, ~20 ms here.
        self._ssl_context = verify or httpx.create_ssl_context()
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._worker_wake: dict[str, asyncio.Event] = {}
        self._finishing = False

    def wake(self) -> None:
        """New deliveries are in the outbox (or failed ones were put back)."""
        self._wake.set()
        for event in self._worker_wake.values():
            event.set()

    async def send_test(self, subscription: Subscription) -> None:
        """Queue `webhook.test` for one subscription, behind its other deliveries."""
        await self._run(self._outbox.enqueue,
                        Event("webhook.test", datetime.now(UTC),
                              {"subscription_id": subscription.id,
                               "message": "a test delivery from Boomerang"}),
                        [subscription])
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
                # Once a rotation's overlap has ended the old secret signs nothing; erased
                # rather than kept, it cannot leak from a later copy of the database.
                await self._run(self._subscriptions.erase_expired_secrets, datetime.now(UTC))
                for subscription_id in await self._run(self._outbox.pending_subscriptions):
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
        transport = _PinningTransport(
            self._url_policy, self._resolve, self._ssl_context,
            httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        # One deliverer per subscription among the gateways sharing the state database (the
        # outbox's claim: an advisory lock on PostgreSQL), or two would send the same
        # delivery, or overtake each other. Unclaimed, this one ends; the run loop tries
        # again, and takes over within its 5 s when the holder is gone.
        if not await self._run(self._outbox.claim, subscription_id):
            return
        try:
            async with httpx.AsyncClient(
                transport=transport, timeout=self._timeout_s, follow_redirects=False,
            ) as http:
                await self._work_with(subscription_id, http)
        finally:
            await asyncio.shield(self._run(self._outbox.release, subscription_id))

    async def _work_with(self, subscription_id: str, http: httpx.AsyncClient) -> None:
        wake = self._worker_wake[subscription_id]
        while not self._finishing:
            subscription, head = await self._run(self._next, subscription_id)
            if subscription is None or head is None:
                return
            wait_s = (head.next_attempt_at - datetime.now(UTC)).total_seconds()
            if wait_s > 0:
                wake.clear()
                await wait_event(wake, wait_s)
                continue
            await self._attempt(http, subscription, head)

    def _next(self, subscription_id: str) -> tuple[Subscription | None, Delivery | None]:
        """The subscription (if still enabled and still ours) and its oldest pending
        delivery."""
        if not self._outbox.still_claimed(subscription_id):
            log.warning("the claim on subscription %s was lost (the state database's "
                        "connection broke); another gateway may deliver it now", subscription_id)
            return None, None
        head = self._outbox.head(subscription_id)
        # The subscription is read after its delivery, never before: a secret rotated before
        # the event was queued then signs it (read first, a rotation committed between the
        # two reads left the event signed with the replaced secret alone).
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None or not subscription.enabled:
            return None, None
        return subscription, head

    async def _attempt(
        self, http: httpx.AsyncClient, subscription: Subscription, delivery: Delivery
    ) -> None:
        now = datetime.now(UTC)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            # The transport checks the URL's host (UnsafeWebhookUrl) before connecting.
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
            error = error_text(exc)
        latency_s = time.perf_counter() - started
        _metrics.DELIVERY_LATENCY.observe(latency_s)
        attempts = delivery.attempts + 1
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif status == 410:
            outcome, next_at = "failed", None
            error = "410 Gone: subscription disabled"
            await self._run(self._subscriptions.disable, subscription.id,
                            "the receiver answered 410 Gone")
            log.warning("subscription %s disabled: 410 Gone", subscription.id)
        elif attempts > len(self._schedule):
            outcome, next_at = "failed", None
        else:
            outcome = "pending"
            delay = self._schedule[attempts - 1] * random.uniform(0.8, 1.2)
            next_at = now + timedelta(seconds=delay)
        if outcome != "delivered":
            log.info("delivery %s to %s: %s (attempt %d)", delivery.msg_id,
                     redact_url(subscription.url), error or f"HTTP {status}", attempts)
        _metrics.DELIVERY_ATTEMPTS.labels(outcome).inc()
        await self._run(
            self._outbox.record_attempt, delivery.seq, status=status, error=error,
            latency_ms=latency_s * 1000, outcome=outcome, next_attempt_at=next_at)
