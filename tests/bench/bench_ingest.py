"""Ingest benchmark: the gateway's end-to-end rate (MQTT -> InfluxDB, rules on) against two
baselines measured on the same broker with the same messages in the same run: a bare
`mosquitto_sub` (the physical limit here) and a bare paho client that only counts (the
Python ceiling). Also the gateway's peak memory and the latency from publish to webhook
receipt of alerts raised under that load.

One mosquitto from mosquitto/mosquitto.conf and mosquitto/acl (rewritten for a temp dir, as
tests/realservers.py does) plus one benchmark-only account, `bench-publisher`, allowed to
write `tags/+/telemetry`, so that one load generator can speak for every tag. The load
generator writes pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets to one socket and counts the
PUBACKs (a paho publisher manages ~10k msg/s at QoS 1 and cannot queue past 65,535): its
rate, until the last PUBACK, is reported for each phase. Messages are native JSON, one
reading (`--batch 1`) or `{"readings": [...]}`, round-robin over `--tags` tags, per-tag
increasing `seq` and `ts` one second apart, ending a few minutes ago.

- mosquitto_sub, paho: each subscribes with a persistent session (QoS 1, clean session
  off, MQTT 3.1.1, so the broker's max_inflight_messages 5000 applies) and disconnects;
  the messages are published while it is away, so the broker queues them; then it
  reconnects and the drain is timed from the (re)connect to the last message. Its session
  is discarded afterwards so that later phases do not queue for it. Each baseline is the
  median of --repeats such drains (single drains of paho varied 2x here).
- gateway: `python -m gateway serve` (project defaults, MQTT v5, receive maximum 5000)
  writing to a fresh InfluxDB 1.6 database, with a webhook subscription to a local receiver
  and `--assets` assets on the built-in `cold_chain` profile bound to the first tags (all
  in range, so the rules run but raise nothing). It is connected while the messages are
  published; the broker queues what it cannot take yet. Timed from the first publish until
  `SELECT count(seq) FROM telemetry` (polled every 0.5 s) has every reading.
  Memory: VmHWM (peak) and VmRSS of the gateway process from /proc, before and after.
- alerts under load: when half of the readings have landed, `--alerts` other cold_chain
  tags each publish 20 C twice, 301 s apart in reading time (cold_chain opens after 300 s
  outside 2-8 C); latency is from publishing the second reading to the receipt of its
  `alert.opened` at the webhook receiver. These messages queue behind what the gateway
  has not handled yet at that moment (`messages_with_broker`: published minus handled per
  its /metrics; up to the receive maximum of them may already sit unacknowledged in its
  MQTT client), so under a saturating load the latency is mostly that wait. The same is
  then measured once more with the gateway idle, for the floor.
  Percentiles are nearest-rank over these few samples.

Prints one JSON object (figures, parameters, versions); with --py-spy, also records the
gateway with `py-spy record` for 10 s from 2 s into its phase and adds the top frames.

    .venv/bin/python tests/bench/bench_ingest.py [--messages 100000] [--tags 1000]
        [--batch 1] [--assets 1000] [--alerts 5] [--repeats 3] [--timeout-s 75] [--output FILE]
        [--py-spy FILE] [--rate MSG_PER_S] [--protocol 5|3.1.1]

With --rate the gateway's load is published at that pace rather than all at once (the
baselines still drain a backlog): its figures are then the latency at that load, and
its rate is the offered one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from realservers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    ROOT,
    GatewayProcess,
    Mosquitto,
    ReceivedRequest,
    require_binary,
    run_gateway,
    run_influxdb,
    run_mosquitto,
    run_webhook_receiver,
    wait_until,
)

PUBLISHER_USER, PUBLISHER_PASSWORD = "bench-publisher", "bench-secret"
TOPIC_FILTER = "tags/+/telemetry"
DATABASE = "bench"
POLL_S = 0.5
PHASE_TIMEOUT_S = 60.0
PACE_S = 0.01
ALERT_TIMEOUT_S = 30.0
OUT_OF_RANGE_C = 20.0  # cold_chain: 2-8 C


# --- Messages ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Stream:
    """Pre-encoded PUBLISH packets, back to back, ready for one sendall."""

    data: bytes
    messages: int
    readings: int
    payload_bytes: int


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """MQTT 3.1.1 PUBLISH, QoS 1, not retained."""
    body = utf8(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + remaining_length(len(body)) + body


def connect_packet(client_id: str, user: str, password: str) -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, user name and password, keep-alive 60 s."""
    variable = utf8("MQTT") + bytes([4, 0xC2]) + (60).to_bytes(2, "big")
    body = variable + utf8(client_id) + utf8(user) + utf8(password)
    return b"\x10" + remaining_length(len(body)) + body


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tag_id(index: int) -> str:
    return f"tag-{index:06d}"


def reading(tag: int, seq: int, ts: datetime) -> dict[str, Any]:
    """In range for cold_chain; moving a little each reading."""
    return {
        "ts": iso(ts),
        "seq": seq,
        "lat": round(48.0 + (tag % 500) * 0.01 + seq * 1e-5, 6),
        "lon": round(11.0 + (tag // 500 % 500) * 0.01 + seq * 1e-5, 6),
        "temp_c": round(4.0 + (tag * 7 + seq) % 30 * 0.1, 2),
        "battery_pct": round(max(20.0, 95.0 - seq * 0.01), 2),
    }


def build_stream(messages: int, tags: int, batch: int, end: datetime) -> Stream:
    """`messages` messages round-robin over `tags` tags; each tag's readings one second
    apart, its last one at `end`."""
    per_tag = math.ceil(messages / tags) * batch
    start = end - timedelta(seconds=per_tag)
    packets = []
    payload_bytes = 0
    for i in range(messages):
        tag, rnd = i % tags, i // tags
        items = [reading(tag, s, start + timedelta(seconds=s))
                 for s in range(rnd * batch, (rnd + 1) * batch)]
        payload = orjson.dumps(items[0] if batch == 1 else {"readings": items})
        payload_bytes += len(payload)
        packets.append(publish_packet(f"tags/{tag_id(tag)}/telemetry", payload, i % 65535 + 1))
    return Stream(b"".join(packets), messages, messages * batch, payload_bytes)


def alert_stream(tags: list[str], now: datetime) -> Stream:
    """Two out-of-range readings per tag, 301 s apart in reading time: one alert.opened."""
    packets = []
    for i, tag in enumerate(tags):
        for seq, age_s in enumerate((400, 99)):
            body = {"ts": iso(now - timedelta(seconds=age_s)), "seq": seq, "lat": 48.1,
                    "lon": 11.6, "temp_c": OUT_OF_RANGE_C, "battery_pct": 90.0}
            packets.append(publish_packet(f"tags/{tag}/telemetry", orjson.dumps(body),
                                          2 * i + seq + 1))
    return Stream(b"".join(packets), len(packets), len(packets), 0)


# --- Broker and load generator ----------------------------------------------------------------


def run_bench_mosquitto(workdir: Path) -> contextlib.AbstractContextManager[Mosquitto]:
    """The project's broker configuration plus `bench-publisher`, one load generator
    allowed to write every tag's topic."""
    return run_mosquitto(
        workdir, (), extra_users={PUBLISHER_USER: PUBLISHER_PASSWORD},
        extra_acl=(f"\n# Benchmark only: one load generator for every tag.\n"
                   f"user {PUBLISHER_USER}\ntopic write {TOPIC_FILTER}\n"),
    )


@dataclass(slots=True)
class Published:
    started: float  # perf_counter at the first byte
    started_wall: float  # time.time() at the first byte
    acked_s: float  # until the last PUBACK
    messages: int

    def figures(self) -> dict[str, Any]:
        return {"publisher_s": round(self.acked_s, 3),
                "publisher_messages_per_s": round(self.messages / self.acked_s, 1)}


def publish(port: int, stream: Stream, client_id: str, rate: float | None = None) -> Published:
    """Write the stream to the broker as `bench-publisher`, at `rate` messages per second
    or as fast as it takes them; return once every message is acknowledged (PUBACK: 4 bytes
    each, the only thing the broker sends back)."""
    with socket.create_connection(("127.0.0.1", port), timeout=PHASE_TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(client_id, PUBLISHER_USER, PUBLISHER_PASSWORD))
        connack = sock.recv(4)
        if connack[:2] != b"\x20\x02" or connack[3] != 0:
            raise RuntimeError(f"publisher refused by the broker: CONNACK {connack!r}")
        expected = 4 * stream.messages
        received = 0

        def read_acks() -> None:
            nonlocal received
            while received < expected:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += len(chunk)

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        started, started_wall = time.perf_counter(), time.time()
        if rate is None:
            sock.sendall(stream.data)
        else:
            # Paced in 10 ms slices of the byte stream (messages are near enough one size;
            # a packet cut in two is just TCP to the broker).
            step = max(1, int(len(stream.data) / stream.messages * rate * PACE_S))
            for n, offset in enumerate(range(0, len(stream.data), step)):
                sock.sendall(stream.data[offset:offset + step])
                time.sleep(max(0.0, started + (n + 1) * PACE_S - time.perf_counter()))
        reader.join(PHASE_TIMEOUT_S)
        acked_s = time.perf_counter() - started
        if received < expected:
            raise RuntimeError(f"{received // 4} of {stream.messages} PUBACKs")
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return Published(started, started_wall, acked_s, stream.messages)


def paho_client(port: int, client_id: str, clean: bool) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(GATEWAY_USER, GATEWAY_PASSWORD)
    return client


def subscribe_and_leave(port: int, client_id: str) -> None:
    """A persistent session subscribed to the telemetry, then away: the broker queues."""
    client = paho_client(port, client_id, clean=False)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(TOPIC_FILTER, qos=1)
    if not subscribed.wait(10):
        raise TimeoutError(f"no SUBACK for {client_id}")
    client.disconnect()
    client.loop_stop()


def forget_session(port: int, client_id: str) -> None:
    """A clean-session connect discards the session, so later phases do not queue for it."""
    client = paho_client(port, client_id, clean=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(client.is_connected, 10, f"{client_id} connected")
    client.disconnect()
    client.loop_stop()


# --- Phases -----------------------------------------------------------------------------------


def rates(messages: int, readings: int, seconds: float) -> dict[str, Any]:
    return {"s": round(seconds, 3), "messages_per_s": round(messages / seconds, 1),
            "readings_per_s": round(readings / seconds, 1)}


def drain_mosquitto_sub(broker: Mosquitto, stream: Stream) -> tuple[float, Published]:
    client_id = "bench-mosquitto-sub"
    command = [require_binary("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(broker.port),
               "-u", GATEWAY_USER, "-P", GATEWAY_PASSWORD, "-q", "1", "-c", "-i", client_id,
               "-t", TOPIC_FILTER]
    subprocess.run([*command, "-E"], check=True, timeout=10)  # subscribe, then leave
    published = publish(broker.port, stream, "bench-publisher-a")
    started = time.perf_counter()
    subprocess.run([*command, "-C", str(stream.messages), "-W", str(int(PHASE_TIMEOUT_S))],
                   check=True, stdout=subprocess.DEVNULL, timeout=PHASE_TIMEOUT_S + 5)
    drained_s = time.perf_counter() - started
    forget_session(broker.port, client_id)
    return drained_s, published


def drain_paho(broker: Mosquitto, stream: Stream) -> tuple[float, Published]:
    """paho's own loop in this thread (steadier here than loop_start's thread), counting."""
    client_id = "bench-paho"
    subscribe_and_leave(broker.port, client_id)
    published = publish(broker.port, stream, "bench-publisher-b")
    received = 0
    finished_at = 0.0

    def on_message(client: mqtt.Client, _userdata: Any, _message: mqtt.MQTTMessage) -> None:
        nonlocal received, finished_at
        received += 1
        if received == stream.messages:
            finished_at = time.perf_counter()
            client.disconnect()

    client = paho_client(broker.port, client_id, clean=False)
    client.on_message = on_message
    guard = threading.Timer(PHASE_TIMEOUT_S, client.disconnect)
    guard.start()
    started = time.perf_counter()
    try:
        client.connect("127.0.0.1", broker.port)
        client.loop_forever()
    finally:
        guard.cancel()
    if received < stream.messages:
        raise TimeoutError(f"paho received {received} of {stream.messages}")
    forget_session(broker.port, client_id)
    return finished_at - started, published


def baseline(
    drain: Callable[[Mosquitto, Stream], tuple[float, Published]], broker: Mosquitto,
    stream: Stream, repeats: int,
) -> dict[str, Any]:
    """The median of `repeats` drains of the same messages, and each one's rate."""
    runs = [drain(broker, stream) for _ in range(repeats)]
    drained_s = statistics.median(s for s, _ in runs)
    publisher_s = statistics.median(p.acked_s for _, p in runs)
    return {
        **rates(stream.messages, stream.readings, drained_s),
        "messages_per_s_each": [round(stream.messages / s, 1) for s, _ in runs],
        "publisher_s": round(publisher_s, 3),
        "publisher_messages_per_s": round(stream.messages / publisher_s, 1),
    }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_figures(published_wall: float, tags: list[str],
                    receipts: list[tuple[float, ReceivedRequest]]) -> dict[str, Any]:
    """Publish (of the second reading) to receipt of each tag's alert.opened, in ms."""
    wanted = {f"asset-{tag}" for tag in tags}
    samples = []
    for at, request in list(receipts):
        body = request.json()
        if body.get("type") == "alert.opened" and body["data"]["alert"]["asset_id"] in wanted:
            samples.append((at - published_wall) * 1000)
    return {"samples": len(samples), "p50_ms": _round(percentile(samples, 50)),
            "p99_ms": _round(percentile(samples, 99)),
            "all_ms": [round(s, 1) for s in sorted(samples)]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def opened_for(tags: list[str], receipts: list[tuple[float, ReceivedRequest]]) -> int:
    wanted = {f"asset-{tag}" for tag in tags}
    return sum(1 for _, r in list(receipts) if r.json().get("type") == "alert.opened"
               and r.json()["data"]["alert"]["asset_id"] in wanted)


def metric(gateway: GatewayProcess, name: str) -> float:
    """One unlabelled sample from the gateway's /metrics."""
    text = httpx.get(f"{gateway.api}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"no {name} in /metrics")


def vm_mb(pid: int, field: str = "VmHWM") -> float:
    """From /proc/PID/status: VmHWM is the peak resident set, VmRSS the current one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} for {pid}")


def top_frames(raw: Path, limit: int = 12) -> dict[str, Any]:
    """From py-spy's raw (collapsed) output: shares of the samples by the function that was
    running (self time), and by the package of that function."""
    by_function: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        leaf = stack.split(";")[-1]
        function, _, where = leaf.partition(" (")
        path = where.rsplit(":", 1)[0]
        by_function[f"{function} ({path})"] += count
        by_package[path.split("/")[0] if "/" in path else path] += count

    def share(counter: Counter[str]) -> dict[str, float]:
        return {name: round(n / samples, 3) for name, n in counter.most_common(limit)}

    return {"samples": samples, "self_by_function": share(by_function),
            "self_by_package": share(by_package)}


def phase_gateway(
    broker: Mosquitto, stream: Stream, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    alert_tags = [f"alert-{i}" for i in range(args.alerts)]
    idle_tags = [f"alert-idle-{i}" for i in range(args.alerts)]
    assets = [tag_id(i) for i in range(min(args.assets, args.tags))]
    receipts: list[tuple[float, ReceivedRequest]] = []

    def stamp(request: ReceivedRequest) -> int:
        receipts.append((time.time(), request))
        return 204

    with (run_influxdb(workdir / "influxdb") as influx, run_webhook_receiver() as receiver,
          contextlib.redirect_stdout(sys.stderr)):  # run_gateway prints its log at the end
        receiver.status = stamp
        influx.create_database(DATABASE)
        env = {
            "BOOMERANG_MQTT_URL":
                f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}",
            "BOOMERANG_MQTT_CLIENT_ID": "bench-gateway",
            "BOOMERANG_INFLUX_URL": influx.url,
            "BOOMERANG_INFLUX_DB": DATABASE,
            "BOOMERANG_BATCH_MAX_DELAY_S": "0.5",  # the documented default
            "BOOMERANG_MQTT_PROTOCOL": args.protocol,
        }
        with run_gateway(workdir / "gateway", env) as gateway:
            pid = gateway.process.pid
            started = time.perf_counter()
            with gateway.client() as api:
                api.post("/api/v1/subscriptions", json={"url": receiver.url}).raise_for_status()
                for tag in assets + alert_tags + idle_tags:
                    api.post("/api/v1/assets", json={
                        "id": f"asset-{tag}", "tag_id": tag, "kind": "shipment",
                        "flow": "customer_return", "profile": "cold_chain",
                    }).raise_for_status()
            register_s = time.perf_counter() - started
            rss_before = vm_mb(pid)

            target = stream.readings + 2 * len(alert_tags)
            publisher: list[Published] = []
            thread = threading.Thread(
                target=lambda: publisher.append(
                    publish(broker.port, stream, "bench-pub-c", args.rate)),
                daemon=True)
            started = time.perf_counter()
            thread.start()
            profiler: subprocess.Popen[bytes] | None = None
            alerts_sent: Published | None = None
            at_alerts: dict[str, Any] = {}
            landed = 0
            slowest_poll_s = 0.0
            deadline = started + args.timeout_s
            while landed < target and time.perf_counter() < deadline:
                time.sleep(POLL_S)
                polled = time.perf_counter()
                landed = influx.count(DATABASE, "SELECT count(seq) FROM telemetry")
                elapsed = time.perf_counter() - started
                slowest_poll_s = max(slowest_poll_s, time.perf_counter() - polled)
                if args.py_spy is not None and profiler is None and elapsed >= 2:
                    profiler = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                         str(pid), "--duration", "10", "--format", "raw", "--nonblocking",
                         "-o", str(args.py_spy)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if alerts_sent is None and alert_tags and landed >= stream.readings / 2:
                    # Where the messages ahead of the alerts were: still with the broker, or
                    # received by the gateway but not yet in InfluxDB.
                    published = stream.messages if publisher else None
                    received = int(metric(gateway, "boomerang_ingest_messages_total"))
                    alerts_sent = publish(broker.port, alert_stream(alert_tags, datetime.now(UTC)),
                                          "bench-pub-alerts")
                    at_alerts = {
                        "at_s": round(elapsed, 2),
                        "messages_with_broker": None if published is None
                        else published - received,
                        "messages_in_gateway_not_landed": received - landed // args.batch,
                    }
            gateway_s = time.perf_counter() - started
            thread.join(PHASE_TIMEOUT_S)
            complete = landed >= target
            if alerts_sent is not None:
                wait_until(lambda: opened_for(alert_tags, receipts) == len(alert_tags),
                           ALERT_TIMEOUT_S, "alert.opened under load")
            peak_rss = vm_mb(pid)
            if profiler is not None:
                profiler.wait(30)

            # Idle: everything has landed; the floor of publish -> webhook.
            idle_sent = publish(broker.port, alert_stream(idle_tags, datetime.now(UTC)),
                                "bench-pub-idle")
            wait_until(lambda: opened_for(idle_tags, receipts) == len(idle_tags),
                       ALERT_TIMEOUT_S, "alert.opened when idle")
            rss_after = vm_mb(pid, "VmRSS")

    figures: dict[str, Any] = {
        **rates(landed // args.batch, landed, gateway_s),
        "complete": complete,
        "slowest_count_query_s": round(slowest_poll_s, 3),
        "readings_landed": landed,
        "readings_expected": target,
        **(publisher[0].figures() if publisher else {}),
        "peak_rss_mb": peak_rss,
        "rss_mb_before_load": rss_before,
        "rss_mb_after_load": rss_after,
        "assets_registered": len(assets) + 2 * len(alert_tags),
        "register_s": round(register_s, 2),
        "alert_latency_under_load": {
            **(latency_figures(alerts_sent.started_wall, alert_tags, receipts)
               if alerts_sent is not None else {}),
            **at_alerts,
        },
        "alert_latency_idle": latency_figures(idle_sent.started_wall, idle_tags, receipts),
    }
    if args.py_spy is not None and args.py_spy.exists():
        figures["py_spy"] = {"file": str(args.py_spy), **top_frames(args.py_spy)}
    return figures


def git_commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "gateway", "ingest", "alerts"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def version(command: list[str], pattern: str) -> str | None:
    result = subprocess.run(command, capture_output=True, text=True)
    found = re.search(pattern, result.stdout + result.stderr)
    return found.group(1) if found else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    wall_started = time.perf_counter()
    stream = build_stream(args.messages, args.tags, args.batch,
                          datetime.now(UTC) - timedelta(minutes=10))
    generate_s = time.perf_counter() - wall_started
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        (workdir / "mosquitto").mkdir()
        with run_bench_mosquitto(workdir / "mosquitto") as broker:
            mosquitto_sub = baseline(drain_mosquitto_sub, broker, stream, args.repeats)
            paho_figures = baseline(drain_paho, broker, stream, args.repeats)
            gateway = phase_gateway(broker, stream, workdir, args)
            dropped = "dropped" in broker.log.read_text(errors="replace").lower()
    gateway_rate = gateway["messages_per_s"]
    return {
        "benchmark": "ingest",
        "messages": args.messages,
        "tags": args.tags,
        "batch": args.batch,
        "gateway_protocol": args.protocol,
        "offered_messages_per_s": args.rate,
        "tags_publishing": min(args.messages, args.tags),
        "readings": stream.readings,
        "mean_payload_bytes": round(stream.payload_bytes / stream.messages, 1),
        "mosquitto_sub": mosquitto_sub,
        "paho": paho_figures,
        "gateway": gateway,
        "ratio_gateway_to_mosquitto_sub": round(gateway_rate / mosquitto_sub["messages_per_s"], 4),
        "ratio_gateway_to_paho": round(gateway_rate / paho_figures["messages_per_s"], 4),
        "broker_logged_dropped_messages": dropped,
        "generate_s": round(generate_s, 2),
        "total_s": round(time.perf_counter() - wall_started, 2),
        "commit": git_commit(),
        "python": platform.python_version(),
        "paho_mqtt": paho.mqtt.__version__,
        "mosquitto": version([require_binary("mosquitto"), "-h"], r"mosquitto version (\S+)"),
        "influxdb": version([require_binary("influxd"), "version"], r"InfluxDB v(\S+)"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1, help="readings per message")
    parser.add_argument("--assets", type=int, default=1000,
                        help="cold_chain assets bound to the first tags (at most --tags)")
    parser.add_argument("--alerts", type=int, default=5,
                        help="alert samples under load, and as many when idle")
    parser.add_argument("--repeats", type=int, default=3,
                        help="drains per baseline; the median is reported")
    parser.add_argument("--timeout-s", type=float, default=75.0,
                        help="stop waiting for InfluxDB after this long (reported incomplete)")
    parser.add_argument("--rate", type=float,
                        help="publish the gateway's load at this many messages/s (default: "
                             "as fast as the broker takes them)")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5",
                        help="the gateway's MQTT protocol (BOOMERANG_MQTT_PROTOCOL)")
    parser.add_argument("--output", type=Path, help="also write the JSON figures here")
    parser.add_argument("--py-spy", type=Path, help="record the gateway into this raw file")
    args = parser.parse_args(argv)
    if min(args.messages, args.tags, args.batch, args.repeats) < 1:
        parser.error("--messages, --tags, --batch and --repeats must be at least 1")
    if args.alerts < 0 or args.assets < 0:
        parser.error("--alerts and --assets cannot be negative")
    if args.batch > 1000:
        parser.error("--batch: the native format takes at most 1000 readings a message")
    figures = run(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
