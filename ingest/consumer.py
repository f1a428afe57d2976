"""The MQTT consumer: a persistent QoS 1 session that reconnects with backoff, hands messages
on in batches and acknowledges each only once its readings are handed off.

paho directly, driven by the asyncio loop's reader and writer callbacks, rather than
aiomqtt: aiomqtt has no manual acknowledgement (its issue #345) and costs an asyncio
round trip per message (about 31 us here, against 13 us for paho; ../shared/NOTES.md).
Here a readable socket is drained of every packet it holds, and what came in is handed on
as one batch: decoding, rules and the telemetry buffer then work per batch, not per message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest import _metrics
from ingest.acks import AckQueue
from ingest.errors import error_text

log = logging.getLogger(__name__)

Done = Callable[[], None]
BatchHandler = Callable[[Sequence[tuple[str, bytes]], datetime, Done], Awaitable[None]]

CONNECT_TIMEOUT_S = 15.0
# Messages handed on at once: big enough to spread a transaction and a buffer call over
# many, small enough (about 15 ms of work) not to hold up webhook deliveries behind it.
MAX_BATCH = 200
KEEPALIVE_S = 30


class ConnectionLost(Exception):
    """The broker refused us, or the connection broke; `run` reconnects."""


class _Connection:
    """One connection's paho client, wired to the running asyncio loop."""

    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop,
                 max_waiting: int) -> None:
        self.client = client
        self.loop = loop
        self._loop_thread = threading.get_ident()
        self.connack: asyncio.Future[ReasonCode] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self.waiting: list[tuple[str, bytes, int, int]] = []  # topic, payload, mid, qos
        self.arrived = asyncio.Event()
        self._max_waiting = max_waiting
        self._sock: Any = None
        self._reading = False
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message

    def _on_loop(self, fn: Callable[..., object], *args: Any) -> None:
        """paho calls back from `connect`, which runs in an executor thread."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    # Sockets ------------------------------------------------------------------------------

    def _on_socket_open(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self._opened, sock)

    def _opened(self, sock: Any) -> None:
        self._sock = sock
        self.resume_reading()

    def _on_socket_close(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self._closed, sock)

    def _closed(self, sock: Any) -> None:
        self.pause_reading()
        self.loop.remove_writer(sock)
        self._sock = None
        self.lose("connection closed")

    def _on_register_write(self, client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self.loop.add_writer, sock, client.loop_write)

    def _on_unregister_write(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self.loop.remove_writer, sock)

    def pause_reading(self) -> None:
        if self._reading and self._sock is not None:
            self.loop.remove_reader(self._sock)
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and self._sock is not None and not self.lost.done():
            self.loop.add_reader(self._sock, self._readable)
            self._reading = True

    def _readable(self) -> None:
        # paho reads one packet per loop_read; take all the socket holds (up to the bound),
        # stopping at a read that brought no message (nothing left, or a control packet).
        waiting = self.waiting
        while len(waiting) < self._max_waiting:
            before = len(waiting)
            try:
                rc = self.client.loop_read()
            except Exception as exc:
                # A packet paho cannot read: its read state is lost, so is the connection.
                log.exception("reading from the broker failed")
                self.pause_reading()
                self.lose(f"reading failed: {error_text(exc)}")
                return
            if rc != mqtt.MQTT_ERR_SUCCESS or len(waiting) == before:
                break
        if waiting:
            self.arrived.set()
            if len(waiting) >= self._max_waiting:
                # Backpressure for what flow control does not bound (QoS 0): TCP's window
                # fills and the broker keeps the rest.
                self.pause_reading()

    # paho's callbacks -------------------------------------------------------------------

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a broker lets no such topic through; still, keep going
            topic = bytes(message._topic).decode("utf-8", "replace")
        self.waiting.append((topic, bytes(message.payload), message.mid, message.qos))

    def _on_connect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _properties: Any) -> None:
        self._on_loop(_settle, self.connack, reason)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _properties: Any) -> None:
        self._on_loop(self.lose, f"disconnected: {reason}")

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int,
                      reasons: list[ReasonCode], _properties: Any) -> None:
        future = self.subacks.pop(mid, None)
        if future is not None:
            _settle(future, reasons)

    def lose(self, why: str) -> None:
        _settle(self.lost, why)
        self.arrived.set()  # wakes the handing-on loop so that it sees the loss


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class MqttConsumer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        topic_filters: list[str],
        handle: BatchHandler,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        client_id: str = "boomerang-gateway",
        protocol: str = "5",
        session_expiry_s: int = 86_400,
        receive_maximum: int = 5000,
        shared_group: str | None = None,
        unacked_high: Callable[[], None] = lambda: None,
    ) -> None:
        """`handle` gets each batch of (topic, payload) with one `done` callback and must
        call it once all their readings are durably handed off; only then are they
        acknowledged. `unacked_high` is called when half of `receive_maximum` messages wait
        for that, because the broker stops sending at `receive_maximum`. `tls`: the context of
        an mqtts:// connection (its CAs, a client certificate); None for plain MQTT."""
        self._host, self._port = host, port
        self._username, self._password, self._tls = username, password, tls
        self._client_id = client_id
        self._protocol = protocol
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._unacked_high = unacked_high
        self.unacked = 0
        if shared_group:
            topic_filters = [f"$share/{shared_group}/{f}" for f in topic_filters]
        self.topic_filters = topic_filters
        self._handle = handle
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self._subscribed = False
        self.packet_ids: list[int] = []
        """The MQTT packet ids of the batch being handed on, for a handler that needs them
        (a cluster's relay: a message the broker sends again keeps its id)."""
        self.before_connect: Callable[[], Awaitable[None]] | None = None
        """Awaited before each connection; raises to refuse it (a cluster's relay: only the
        holder of its lease may take the broker's session)."""

    def replace_handler(self, handle: BatchHandler) -> None:
        """Hand batches to `handle` from now on (a cluster's relay, made once NATS is
        connected, takes the pipeline's place)."""
        self._handle = handle

    def _new_client(self) -> mqtt.Client:
        v5 = self._protocol != "3.1.1"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        return client

    def _connect_properties(self) -> Properties | None:
        if self._protocol == "3.1.1":
            return None
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # Without SessionExpiryInterval a v5 broker keeps nothing for us while we are away.
        properties.SessionExpiryInterval = self._session_expiry_s
        # Flow control: the broker sends at most this many unacknowledged messages.
        properties.ReceiveMaximum = self._receive_maximum
        return properties

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after any broker or network failure, and
        after any fault of ours: nothing but cancellation ends this loop."""
        failures = 0
        while True:
            self._subscribed = False
            try:
                await self._connected_session()
            except (ConnectionLost, OSError, TimeoutError) as exc:
                self.last_error = str(exc) or type(exc).__name__
            except Exception as exc:
                # Not one message's content (the pipeline turns each message's faults into
                # its dead letter), but a store that failed or a bug: the session is
                # dropped, what it held unacknowledged comes again after the backoff.
                log.exception("mqtt session failed")
                self.last_error = error_text(exc)
            # Backoff grows over failed attempts, not over sessions that worked.
            failures = 1 if self._subscribed else failures + 1
            delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
            log.warning("mqtt connection lost (%s); reconnecting in %.1f s",
                        self.last_error, delay)
            await asyncio.sleep(delay)

    async def _connected_session(self) -> None:
        if self.before_connect is not None:
            await self.before_connect()
        loop = asyncio.get_running_loop()
        client = self._new_client()
        # Bound on messages read but not yet handed on: flow control bounds QoS 1 to the
        # receive maximum already; this bounds QoS 0 too.
        connection = _Connection(client, loop, max_waiting=max(1000, self._receive_maximum))
        acks = AckQueue(client.ack)
        misc = asyncio.create_task(self._keepalive(client, connection))
        try:
            properties = self._connect_properties()
            connect = partial(client.connect, self._host, self._port, KEEPALIVE_S)
            if properties is not None:
                connect = partial(connect, clean_start=False, properties=properties)
            await loop.run_in_executor(None, connect)
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reason = await _first(connection.connack, connection.lost)
            if not isinstance(reason, ReasonCode) or reason.is_failure:
                raise ConnectionLost(f"the broker refused the connection: {reason}")
            # A persistent session's backlog follows the CONNACK at once, ahead of the
            # SUBACKs: hand it on meanwhile, or the bound on waiting messages stops the
            # reads that would bring the SUBACKs.
            handing_on = asyncio.create_task(self._hand_on(connection, acks))
            try:
                await self._subscribe(client, connection)
                log.info("connected to mqtt://%s:%d, subscribed to %s",
                         self._host, self._port, ", ".join(self.topic_filters))
                self.last_error = None
                self._subscribed = True
                self.connected.set()
                _metrics.CONNECTED.set(1)
                await handing_on
            finally:
                handing_on.cancel()
                await asyncio.gather(handing_on, return_exceptions=True)
            raise ConnectionLost(connection.lost.result())
        finally:
            acks.close()
            self.connected.clear()
            _metrics.CONNECTED.set(0)
            misc.cancel()
            connection.pause_reading()
            if client.socket() is not None:
                # At shutdown, or after a refusal: the session stays with the broker.
                client.disconnect()
                client.loop_write()

    async def _subscribe(self, client: mqtt.Client, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        for topic_filter in self.topic_filters:
            rc, mid = client.subscribe(topic_filter, qos=1)
            if mid is None:
                raise ConnectionLost(f"could not subscribe to {topic_filter}: {rc}")
            suback = connection.subacks[mid] = loop.create_future()
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                granted = await _first(suback, connection.lost)
            if not isinstance(granted, list) or any(r.is_failure for r in granted):
                raise ConnectionLost(f"the broker refused {topic_filter}: {granted}")

    async def _hand_on(self, connection: _Connection, acks: AckQueue) -> None:
        """Hand what arrived on, batch by batch, until the connection is lost. A batch
        being handled when it is lost is finished (its acknowledgements go nowhere: the
        broker redelivers); what waits behind it is dropped for the same reason."""
        half = max(1, self._receive_maximum // 2)
        while not connection.lost.done():
            await connection.arrived.wait()
            connection.arrived.clear()
            if connection.lost.done() or not connection.waiting:
                continue
            waiting = connection.waiting
            batch, connection.waiting = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
            if connection.waiting:
                connection.arrived.set()
            connection.resume_reading()
            done = acks.register_many([(mid, qos) for _, _, mid, qos in batch])
            self.packet_ids = [mid for _, _, mid, _ in batch]
            await self._handle([(topic, payload) for topic, payload, _, _ in batch],
                               datetime.now(UTC), done)
            self.unacked = len(acks)
            if self.unacked >= half:
                self._unacked_high()
            # A batch is handled without a pause; between batches the webhook deliveries
            # and the API get their turn.
            await asyncio.sleep(0)

    @staticmethod
    async def _keepalive(client: mqtt.Client, connection: _Connection) -> None:
        """paho's timers (PINGREQ, keepalive timeout) run in loop_misc, once a second."""
        while not connection.lost.done():
            await asyncio.sleep(1)
            if client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                connection.lose("keepalive failed")


async def _first(*futures: asyncio.Future[Any]) -> object:
    """The result of whichever future settles first."""
    done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    return next(iter(done)).result()
