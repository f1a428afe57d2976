"""Each webhook attempt looks its host up once and connects to an address that lookup gave
and the URL policy let through: a name that answers otherwise the second time (DNS
rebinding) never reaches a refused address. Real receivers, plain and TLS, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from support.servers import ReceivedRequest, recording_handler

from alerts import (
    Event,
    Subscription,
    SubscriptionStore,
    UnsafeWebhookUrl,
    UrlPolicy,
    WebhookDispatcher,
    WebhookOutbox,
    check_webhook_url,
)
from alerts.outbox import Delivery
from gateway.migrations import upgrade
from ingest.statedb import StateDb

NAME = "hooks.rebind.test"
LOOPBACK_ONLY = UrlPolicy(allowed_networks=(ip_network("127.0.0.1/32"),))


class ScriptedResolver:
    """A DNS name that answers `first` to the first lookup and `later` to every other."""

    def __init__(self, first: str, later: str | None = None) -> None:
        self.first = first
        self.later = later or first
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return [self.first if len(self.lookups) == 1 else self.later]


@dataclass
class Receiver:
    """What a real HTTP(S) server saw: connections, TLS server names, requests."""

    port: int = 0
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: Callable[[ReceivedRequest], int] = lambda _: 204


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def run_receiver(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
                 ) -> Iterator[Receiver]:
    receiver = Receiver()
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)

    class Handler(recording_handler(receiver)):  # type: ignore[misc]
        def setup(self) -> None:
            receiver.connections += 1
            if tls is not None:
                self.request = tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def finish(self) -> None:
            super().finish()
            if tls is not None:
                self.request.close()  # wrap_socket detached the server's own socket

    class Server(_IPv6Server if ":" in host else ThreadingHTTPServer):  # type: ignore[misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a refused TLS handshake is what some tests expect

    server = Server((host, 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class Dispatching:
    def __init__(self, path: Path, dispatcher_options: dict[str, Any]) -> None:
        self.db = StateDb.open(f"sqlite:///{path}")
        upgrade(self.db)
        self.outbox = WebhookOutbox(self.db)
        self.subscriptions = SubscriptionStore(self.db)
        self.dispatcher = WebhookDispatcher(self.outbox, self.subscriptions, timeout_s=5,
                                            **dispatcher_options)

    def emit(self, subscription: Subscription) -> None:
        with self.db.transaction():
            self.outbox.enqueue(Event("alert.opened", datetime.now(UTC), {"n": 0},
                                      alert_kind="recall"), [subscription])
        self.dispatcher.wake()

    async def first_attempt(self, subscription: Subscription) -> Delivery:
        """The delivery, once its first attempt is recorded (or it was delivered)."""
        async with asyncio.timeout(20):
            while True:
                (delivery,) = self.outbox.list(subscription.id)
                if delivery.attempts >= 1:
                    return delivery
                await asyncio.sleep(0.02)

    async def settled(self, subscription: Subscription) -> Delivery:
        async with asyncio.timeout(20):
            while True:
                (delivery,) = self.outbox.list(subscription.id)
                if delivery.state != "pending":
                    return delivery
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def dispatching(tmp_path: Path, **dispatcher_options: Any) -> AsyncIterator[Dispatching]:
    dispatcher_options.setdefault("retry_schedule_s", (0.05, 0.05))
    box = Dispatching(tmp_path / "state.db", dispatcher_options)
    task = asyncio.create_task(box.dispatcher.run())
    try:
        yield box
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        box.db.close()


def verify_signature(subscription: Subscription, request: ReceivedRequest) -> None:
    Webhook(subscription.secret).verify(request.body, request.headers)


# Plain HTTP ---------------------------------------------------------------------------------

async def test_a_rebinding_name_is_delivered_to_the_address_its_one_lookup_gave(
    tmp_path: Path,
) -> None:
    # Nothing listens on 10.255.255.1, and the policy refuses it: a second lookup at
    # connect time would have sent the delivery there.
    resolver = ScriptedResolver("127.0.0.1", later="10.255.255.1")
    with run_receiver() as receiver:
        async with dispatching(tmp_path, url_policy=LOOPBACK_ONLY, resolve=resolver) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 204)
    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    verify_signature(subscription, request)
    assert resolver.lookups == [(NAME, receiver.port)]


async def test_every_attempt_looks_the_name_up_once(tmp_path: Path) -> None:
    resolver = ScriptedResolver("127.0.0.1")
    with run_receiver() as receiver:
        receiver.status = lambda _: 503 if len(receiver.requests) == 1 else 204
        async with dispatching(tmp_path, url_policy=LOOPBACK_ONLY, resolve=resolver) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 2
    assert resolver.lookups == [(NAME, receiver.port)] * 2


async def test_a_name_answering_a_refused_address_gets_no_connection(tmp_path: Path) -> None:
    # The cloud metadata address first; the receiver's own address to any later lookup,
    # which a dispatcher looking up again at connect time would have reached.
    resolver = ScriptedResolver("169.254.169.254", later="127.0.0.1")
    with run_receiver() as receiver:
        async with dispatching(tmp_path, url_policy=LOOPBACK_ONLY, resolve=resolver,
                               retry_schedule_s=(3600,)) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.first_attempt(subscription)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, None)
    assert delivery.last_error is not None
    assert "UnsafeWebhookUrl" in delivery.last_error
    assert f"{NAME} resolves to 169.254.169.254, a non-public address" in delivery.last_error
    assert receiver.connections == 0 and receiver.requests == []
    assert len(resolver.lookups) == 1


async def test_a_name_resolving_to_ipv6_is_delivered_there(tmp_path: Path) -> None:
    resolver = ScriptedResolver("::1", later="10.255.255.1")
    policy = UrlPolicy(allowed_networks=(ip_network("::1/128"),))
    with run_receiver("::1") as receiver:
        async with dispatching(tmp_path, url_policy=policy, resolve=resolver) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert delivery.state == "delivered"
    (request,) = receiver.requests
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    verify_signature(subscription, request)


async def test_an_ipv6_literal_is_checked_without_a_lookup(tmp_path: Path) -> None:
    resolver = ScriptedResolver("10.255.255.1")
    policy = UrlPolicy(allowed_networks=(ip_network("::1/128"),))
    with run_receiver("::1") as receiver:
        async with dispatching(tmp_path, url_policy=policy, resolve=resolver) as box:
            subscription = box.subscriptions.create(f"http://[::1]:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert delivery.state == "delivered"
    (request,) = receiver.requests
    assert request.headers["host"] == f"[::1]:{receiver.port}"
    assert resolver.lookups == []


async def test_allowing_private_addresses_still_pins_the_one_lookup(tmp_path: Path) -> None:
    resolver = ScriptedResolver("127.0.0.1", later="10.255.255.1")
    with run_receiver() as receiver:
        async with dispatching(tmp_path, url_policy=UrlPolicy(allow_private=True),
                               resolve=resolver) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert delivery.state == "delivered" and len(receiver.requests) == 1
    assert resolver.lookups == [(NAME, receiver.port)]


async def test_a_name_with_several_addresses_falls_back_to_the_next_that_answers(
    tmp_path: Path,
) -> None:
    lookups: list[str] = []

    async def two_addresses(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on the first

    policy = UrlPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
    with run_receiver() as receiver:
        async with dispatching(tmp_path, url_policy=policy, resolve=two_addresses) as box:
            subscription = box.subscriptions.create(f"http://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert len(receiver.requests) == 1 and lookups == [NAME]


# HTTPS --------------------------------------------------------------------------------------

def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass(frozen=True)
class CertificateAuthority:
    cert: Path
    key: Path

    def issue(self, directory: Path, name: str) -> tuple[Path, Path]:
        """A server certificate and its key for DNS name `name`."""
        key, csr, cert, ext = (directory / f"{name}.{suffix}"
                               for suffix in ("key", "csr", "pem", "ext"))
        ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", cert)
        return cert, key


@pytest.fixture
def test_ca(tmp_path: Path) -> CertificateAuthority:
    ca = CertificateAuthority(tmp_path / "ca.pem", tmp_path / "ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", ca.key, "-out", ca.cert, "-days", "1",
            "-subj", "/CN=Boomerang test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return ca


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def test_https_to_the_pinned_address_verifies_the_certificate_against_the_name(
    tmp_path: Path, test_ca: CertificateAuthority,
) -> None:
    resolver = ScriptedResolver("127.0.0.1", later="10.255.255.1")
    trusting = ssl.create_default_context(cafile=test_ca.cert)
    with run_receiver(tls=server_tls(*test_ca.issue(tmp_path, NAME))) as receiver:
        async with dispatching(tmp_path, url_policy=LOOPBACK_ONLY, resolve=resolver,
                               verify=trusting) as box:
            subscription = box.subscriptions.create(f"https://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.settled(subscription)
    assert (delivery.state, delivery.last_error) == ("delivered", None)
    assert receiver.server_names == [NAME]
    (request,) = receiver.requests
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    verify_signature(subscription, request)


async def test_https_with_a_certificate_for_another_name_fails(
    tmp_path: Path, test_ca: CertificateAuthority,
) -> None:
    resolver = ScriptedResolver("127.0.0.1")
    trusting = ssl.create_default_context(cafile=test_ca.cert)
    with run_receiver(tls=server_tls(*test_ca.issue(tmp_path, "other.rebind.test"))) as receiver:
        async with dispatching(tmp_path, url_policy=LOOPBACK_ONLY, resolve=resolver,
                               verify=trusting, retry_schedule_s=(3600,)) as box:
            subscription = box.subscriptions.create(f"https://{NAME}:{receiver.port}/hook")
            box.emit(subscription)
            delivery = await box.first_attempt(subscription)
    assert (delivery.attempts, delivery.last_status) == (1, None)
    assert delivery.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
    assert f"'{NAME}'" in delivery.last_error  # the mismatch is with the name, not the address
    assert receiver.server_names == [NAME] and receiver.requests == []


# The check on its own, as subscriptions are made --------------------------------------------

async def test_the_check_returns_the_addresses_it_let_through() -> None:
    resolver = ScriptedResolver("127.0.0.1")
    assert await check_webhook_url(f"https://{NAME}/hook", LOOPBACK_ONLY, resolver) == (
        "127.0.0.1",)
    assert resolver.lookups == [(NAME, 443)]


async def test_a_name_that_does_not_resolve_is_refused_even_when_private_is_allowed() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeWebhookUrl, match=f"cannot resolve {NAME}"):
        await check_webhook_url(f"http://{NAME}/hook", UrlPolicy(allow_private=True), nowhere)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "not a url", "http:///hook",
                                 "http://[::1/hook"])
async def test_a_url_that_is_not_http_with_a_host_is_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="http:// or https:// URL with a host"):
        await check_webhook_url(url, UrlPolicy(allow_private=True), ScriptedResolver("::1"))
