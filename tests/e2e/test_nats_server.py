"""The `nats_server` fixture is a NATS server with JetStream that nats-py can use: a stream
with a pull consumer, a KV bucket whose create-if-absent and TTL make a lease, a store that
outlives a restart (stop or kill, then start)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from support.servers import NatsServer

STATE_ENGINES = ("sqlite",)  # no gateway here: only the NATS server


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_server.url, connect_timeout=5)
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_published_message_is_fetched_by_a_pull_consumer(
        client: Client, nats_server: NatsServer) -> None:
    js = client.jetstream()
    await js.add_stream(name="T", subjects=["t.*"])
    ack = await js.publish("t.one", b"hello")
    assert (ack.stream, ack.seq) == ("T", 1)

    subscription = await js.pull_subscribe("t.*", durable="reader", stream="T")
    [message] = await subscription.fetch(1, timeout=5)
    assert (message.subject, message.data) == ("t.one", b"hello")
    await message.ack_sync()

    [stream] = nats_server.jsz(consumers="true")["account_details"][0]["stream_detail"]
    assert stream["name"] == "T"
    assert [c["name"] for c in stream["consumer_detail"]] == ["reader"]


async def test_a_kv_key_is_created_once_until_its_ttl_expires(client: Client) -> None:
    kv = await client.jetstream().create_key_value(bucket="leases", ttl=1.0)
    revision = await kv.create("partition.3", b"gateway-1")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("partition.3", b"gateway-2")
    # Renewing is an update at the revision last seen: another writer's revision is refused.
    renewed = await kv.update("partition.3", b"gateway-1", last=revision)
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.update("partition.3", b"gateway-2", last=revision)

    # The bucket's TTL is its stream's max age: the key goes about a second after its last
    # write, and then anyone may create it.
    assert await gone_within(kv, "partition.3", 10)
    assert await kv.create("partition.3", b"gateway-2") > renewed


async def test_a_stream_outlives_a_restart(nats_server: NatsServer) -> None:
    for restart in (nats_server.stop, nats_server.kill):
        connection = await nats.connect(nats_server.url, connect_timeout=5)
        js = connection.jetstream()
        await js.add_stream(name="T", subjects=["t.*"])
        await js.publish("t.one", f"before {restart.__name__}".encode())
        await connection.close()

        restart()
        nats_server.start()
        connection = await nats.connect(nats_server.url, connect_timeout=5)
        try:
            message = await connection.jetstream().get_last_msg("T", "t.one")
            assert message.data == f"before {restart.__name__}".encode()
        finally:
            await connection.close()


async def gone_within(kv: KeyValue, key: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await kv.get(key)
        except KeyNotFoundError:
            return True
        await asyncio.sleep(0.05)
    return False
