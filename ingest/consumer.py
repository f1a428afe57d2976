"""The MQTT consumer: a persistent QoS 1 session that reconnects with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import _metrics
from ingest.acks import AckQueue

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes, datetime, Callable[[], None]], Awaitable[None]]


class MqttConsumer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        topic_filters: list[str],
        handle: MessageHandler,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        client_id: str = "boomerang-gateway",
        protocol: str = "5",
        session_expiry_s: int = 86_400,
        receive_maximum: int = 5000,
        shared_group: str | None = None,
        unacked_high: Callable[[], None] = lambda: None,
    ) -> None:
        """`handle` gets each message with a `done` callback and must call it once the
        message is durably handed off; only then is it acknowledged. `unacked_high` is
        called when half of `receive_maximum` messages wait for that, because the broker
        stops sending at `receive_maximum`."""
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

    def _client(self) -> aiomqtt.Client:
        common = dict(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            identifier=self._client_id,
            tls_context=ssl.create_default_context() if self._tls else None,
        )
        if self._protocol == "3.1.1":
            return aiomqtt.Client(
                **common,  # type: ignore[arg-type]
                protocol=aiomqtt.ProtocolVersion.V311,
                clean_session=False,
            )
        # Without SessionExpiryInterval a v5 broker keeps nothing for us while we are away.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry_s
        # Flow control: the broker sends at most this many unacknowledged messages.
        properties.ReceiveMaximum = self._receive_maximum
        return aiomqtt.Client(
            **common,  # type: ignore[arg-type]
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
        )

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after any broker or network failure."""
        failures = 0
        while True:
            client = self._client()
            # aiomqtt has no manual acknowledgement (its issue #345); the paho client under
            # it has: PUBACK only once the readings are handed off.
            paho_client = client._client
            paho_client.manual_ack_set(True)
            acks = AckQueue(paho_client.ack)
            try:
                async with client:
                    for topic_filter in self.topic_filters:
                        await client.subscribe(topic_filter, qos=1)
                    log.info("connected to mqtt://%s:%d, subscribed to %s",
                             self._host, self._port, ", ".join(self.topic_filters))
                    failures = 0
                    self.last_error = None
                    self.connected.set()
                    _metrics.CONNECTED.set(1)
                    half = max(1, self._receive_maximum // 2)
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes):
                            payload = str(payload).encode() if payload is not None else b""
                        done = acks.register(message.mid, message.qos)
                        await self._handle(message.topic.value, payload, datetime.now(UTC), done)
                        self.unacked = len(acks)
                        if self.unacked >= half:
                            self._unacked_high()
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                _metrics.CONNECTED.set(0)
                failures += 1
                self.last_error = str(exc)
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("mqtt connection lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                acks.close()
                self.connected.clear()
                _metrics.CONNECTED.set(0)
