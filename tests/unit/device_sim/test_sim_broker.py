"""run_simulator against a real Mosquitto: rate, topics, seq, stop, reconnect, per-tag login."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from support import processes

from device_sim import SimConfig, SimStats, plan_fleet, run_simulator

MOSQUITTO = "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A private Mosquitto on a free port, restartable on the same port."""

    def __init__(self, workdir: Path, extra: str = "") -> None:
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        # Running as root, mosquitto would drop to user "mosquitto" and lose the files.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(f"listener {self.port} 127.0.0.1\n{user}{extra}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = processes.popen([MOSQUITTO, "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, "allow_anonymous true\n")
    b.start()
    yield b
    b.stop()


@contextlib.asynccontextmanager
async def collect(
    port: int,
    topic: str = "tags/+/telemetry",
    username: str | None = None,
    password: str | None = None,
) -> AsyncIterator[list[aiomqtt.Message]]:
    """Subscribe and gather messages in the background while the block runs."""
    received: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", port, username=username, password=password) as client:
        await client.subscribe(topic, qos=1)

        async def gather() -> None:
            async for message in client.messages:
                received.append(message)

        task = asyncio.create_task(gather())
        try:
            yield received
            await asyncio.sleep(0.3)  # let the last acknowledged messages arrive
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.asyncio
async def test_publishes_at_the_configured_rate_in_sequence(broker: Broker) -> None:
    plan = plan_fleet(10)
    config = SimConfig(f"mqtt://127.0.0.1:{broker.port}", rate=50, duration_s=2.0)
    async with collect(broker.port) as received:
        stats = await run_simulator(plan, config)
    assert 85 <= stats.sent <= 101
    assert len(received) == stats.sent
    payloads: dict[str, list[bytes]] = defaultdict(list)
    for message in received:
        prefix, tag_id, leaf = message.topic.value.split("/")
        assert (prefix, leaf) == ("tags", "telemetry")
        assert isinstance(message.payload, bytes)
        payloads[tag_id].append(message.payload)
    assert payloads.keys() == {t.tag_id for t in plan.tags}
    for tag in plan.tags:
        sent = payloads[tag.tag_id]
        if "malformed" in tag.faults:
            # Its first message (seq 0) is the truncated-JSON variant.
            with pytest.raises(ValueError):
                json.loads(sent[0])
            sent = sent[1:]
            first = 1
        else:
            first = 0
        assert [json.loads(p)["seq"] for p in sent] == list(range(first, first + len(sent)))
    assert stats.malformed_sent == 1


@pytest.mark.asyncio
async def test_announces_online_status_retained(broker: Broker) -> None:
    plan = plan_fleet(3)
    config = SimConfig(f"mqtt://127.0.0.1:{broker.port}", rate=20, duration_s=0.5)
    await run_simulator(plan, config)
    # Retained after a clean stop: the last word is "offline".
    async with collect(broker.port, "tags/+/status") as received:
        await asyncio.sleep(0.3)
    assert {m.topic.value for m in received} == {f"tags/{t.tag_id}/status" for t in plan.tags}
    assert {m.payload for m in received} == {b"offline"}


@pytest.mark.asyncio
async def test_stop_event_ends_the_run_promptly_and_stats_are_live(broker: Broker) -> None:
    stop = asyncio.Event()
    stats = SimStats()
    config = SimConfig(f"mqtt://127.0.0.1:{broker.port}", rate=100, protocol="3.1.1")
    task = asyncio.create_task(run_simulator(plan_fleet(5), config, stats=stats, stop=stop))
    await asyncio.sleep(1.0)
    assert stats.sent > 50  # visible while running
    stop.set()
    started = time.monotonic()
    assert await asyncio.wait_for(task, 5) is stats
    assert time.monotonic() - started < 1.0


@pytest.mark.asyncio
async def test_cancelling_the_run_leaves_no_tasks_behind(broker: Broker) -> None:
    config = SimConfig(f"mqtt://127.0.0.1:{broker.port}", rate=200)
    before = asyncio.all_tasks()
    task = asyncio.create_task(run_simulator(plan_fleet(5), config))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()


@pytest.mark.asyncio
async def test_reconnects_after_the_broker_restarts(broker: Broker) -> None:
    stats = SimStats()
    stop = asyncio.Event()
    config = SimConfig(f"mqtt://127.0.0.1:{broker.port}", rate=50)
    task = asyncio.create_task(run_simulator(plan_fleet(5), config, stats=stats, stop=stop))
    await asyncio.sleep(0.5)
    broker.stop()
    await asyncio.sleep(1.0)
    broker.start()
    async with collect(broker.port) as received:
        await asyncio.sleep(3.0)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert len(received) > 50


ACL_PLAN = plan_fleet(3)


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker where each tag may only write under tags/{its id}/ and "reader" reads."""
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd not installed")
    passwords = tmp_path / "passwd"
    passwords.touch()
    for user, secret in [(t.tag_id, "tag-secret") for t in ACL_PLAN.tags] + [("reader", "r")]:
        subprocess.run([passwd, "-b", str(passwords), user, secret], check=True)
    acl = tmp_path / "acl"
    acl.write_text("user reader\ntopic read tags/#\n\npattern write tags/%u/#\n")
    b = Broker(tmp_path, f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n")
    b.start()
    yield b
    b.stop()


@pytest.mark.asyncio
async def test_tags_log_in_as_themselves_under_a_per_tag_acl(acl_broker: Broker) -> None:
    config = SimConfig(
        f"mqtt://127.0.0.1:{acl_broker.port}",
        rate=30,
        duration_s=1.5,
        tag_password="tag-secret",
    )
    async with collect(acl_broker.port, "tags/#", username="reader", password="r") as got:
        stats = await run_simulator(ACL_PLAN, config)
    telemetry = [m for m in got if m.topic.value.endswith("/telemetry")]
    assert len(telemetry) == stats.sent >= 35
    assert {m.topic.value.split("/")[1] for m in telemetry} == {t.tag_id for t in ACL_PLAN.tags}
    assert {m.payload for m in got if m.topic.value.endswith("/status")} >= {b"online"}


@pytest.mark.asyncio
async def test_rejects_a_bad_config_before_connecting() -> None:
    plan = plan_fleet(2)
    with pytest.raises(ValueError, match="broker_url"):
        await run_simulator(plan, SimConfig("http://localhost:1883"))
    with pytest.raises(ValueError, match="protocol"):
        await run_simulator(plan, SimConfig("mqtt://localhost", protocol="4"))
    with pytest.raises(ValueError, match="rate"):
        await run_simulator(plan, SimConfig("mqtt://localhost", rate=0))


@pytest.mark.asyncio
async def test_an_unreachable_broker_is_retried_until_the_duration_ends() -> None:
    config = SimConfig(f"mqtt://127.0.0.1:{free_port()}", rate=50, duration_s=1.0)
    started = time.monotonic()
    stats = await asyncio.wait_for(run_simulator(plan_fleet(3), config), 5)
    assert stats.sent == 0
    assert time.monotonic() - started < 2.0


def test_broker_url_carries_credentials_and_tls() -> None:
    from device_sim._publisher import _parse_broker_url

    plain = _parse_broker_url("mqtt://sim:p%40ss@broker.example:1884")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == (
        "broker.example",
        1884,
        "sim",
        "p@ss",
        False,
    )
    secure = _parse_broker_url("mqtts://broker.example")
    assert (secure.port, secure.username, secure.tls) == (8883, None, True)
