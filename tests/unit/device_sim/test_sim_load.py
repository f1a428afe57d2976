"""The simulator's load mode: every message it counts reached a subscriber, each one a
contract reading, and the same arguments give the same bytes."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from support import processes
from support.common import wait_until
from support.servers import GATEWAY_PASSWORD, GATEWAY_USER, run_mosquitto

from device_sim.load import build_load
from ingest.decoders import NativeDecoder

LOADER, LOADER_PASSWORD = "load-publisher", "load-secret"


def test_the_load_mode_publishes_every_message_as_a_contract_reading(tmp_path: Path) -> None:
    acl = f"\nuser {LOADER}\ntopic write tags/+/telemetry\n"
    with run_mosquitto(tmp_path, (), extra_users={LOADER: LOADER_PASSWORD},
                       extra_acl=acl) as broker:
        received: list[tuple[str, bytes]] = []
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.username_pw_set(GATEWAY_USER, GATEWAY_PASSWORD)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = lambda _c, _u, m: received.append((m.topic, m.payload))
        client.connect("127.0.0.1", broker.port)
        client.subscribe("tags/+/telemetry", qos=1)
        client.loop_start()
        try:
            assert subscribed.wait(5)
            done = processes.run(
                [sys.executable, "-m", "gateway", "sim", "load", "--broker",
                 f"127.0.0.1:{broker.port}", "--username", LOADER, "--messages", "3000",
                 "--tags", "40", "--batch", "3"],
                env={"BOOMERANG_SIM_PASSWORD": LOADER_PASSWORD, "PATH": ""},
                capture_output=True, text=True, timeout=60, check=True,
            )
            figures = orjson.loads(done.stdout)
            assert figures["messages"] == 3000 and figures["readings"] == 9000
            assert figures["publisher_messages_per_s"] > 0
            wait_until(lambda: len(received) == 3000, 20, "all 3000 at the subscriber")
        finally:
            client.loop_stop()
            client.disconnect()
    assert len({topic for topic, _ in received}) == 40
    decoder = NativeDecoder()
    now = datetime.now(UTC)
    for topic, payload in received[:200]:
        decoded = decoder.decode(topic, payload, now)
        assert decoded is not None and not decoded.dead_letters
        assert len(decoded.readings) == 3


def test_the_same_arguments_give_the_same_bytes() -> None:
    end = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert build_load(500, 7, 2, end).data == build_load(500, 7, 2, end).data
    assert build_load(500, 7, 2, end).data != build_load(500, 8, 2, end).data
