"""Ingest benchmark: the gateway's end-to-end rate (MQTT -> InfluxDB, rules on) against two
baselines measured on the same broker with the same messages in the same run: a bare
`mosquitto_sub` (the physical limit here) and a bare paho client that only counts (the
Python ceiling). Also the gateway's peak memory and the latency from publish to webhook
receipt of alerts raised under that load.

One mosquitto from mosquitto/mosquitto.conf and mosquitto/acl (rewritten for a temp dir, as
tests/support/servers.py does) plus two benchmark-only accounts allowed to write
`tags/+/telemetry`, so that one load generator can speak for every tag: `bench-publisher` for
the load, `bench-alert-publisher` for the alerts sent while it runs (the broker makes a
client's id its user name, so two connections on one account would disconnect each other;
for the same reason each baseline drains with a gateway account of its own). The load
generator is the simulator's load mode (`device_sim/load.py`): pre-encoded MQTT 3.1.1 QoS 1
PUBLISH packets written to one socket, its rate until the last PUBACK reported for each
phase. Messages are native JSON, one reading (`--batch 1`) or `{"readings": [...]}`,
round-robin over `--tags` tags, per-tag increasing `seq` and `ts` one second apart, ending
a few minutes ago.

- mosquitto_sub, paho: each subscribes with a persistent session (QoS 1, clean session
  off, MQTT 3.1.1, so the broker's max_inflight_messages 5000 applies) and disconnects;
  the messages are published while it is away, so the broker queues them; then it
  reconnects and the drain is timed from the (re)connect to the last message. Its session
  is discarded afterwards so that later phases do not queue for it. Each baseline is the
  median of --repeats such drains (single drains of paho varied 2x here).
- gateway: `python -m gateway serve` (project defaults, MQTT v5, receive maximum 5000)
  writing to a fresh InfluxDB 1.6 database, with a webhook subscription (to `alert.opened`
  only: each asset registered opens a trip, announced ahead of the alerts) to a local
  receiver and `--assets` assets on the built-in `cold_chain` profile bound to the first tags (all
  in range, so the rules run but raise nothing). It is connected while the messages are
  published; the broker queues what it cannot take yet. Timed from the first publish until
  `SELECT count(seq) FROM telemetry` (polled every 0.5 s) has every reading.
  Memory: VmHWM (peak) and VmRSS of the gateway process from /proc, before and after.
- CPU: microseconds of CPU (user + system) per reading while draining, for each: the
  `mosquitto_sub` process (its rusage), the paho client's thread (`time.thread_time`), and
  the gateway process over its phase (from /proc, every thread). Not the broker's.
- alerts under load: when half of the readings have landed, `--alerts` other cold_chain
  tags each publish 20 C twice, 301 s apart in reading time (cold_chain opens after 300 s
  outside 2-8 C), one tag every `--alert-spacing-s`; latency is from publishing a tag's
  readings to the receipt of its `alert.opened` at the webhook receiver. (Spaced because
  one subscription's deliveries go out one at a time, in order: a burst of 20 alerts
  measures that queue, not the way through the gateway.) These messages queue behind what
  the gateway has not handled yet at that moment (`messages_with_broker`: published minus
  handled per its /metrics; up to the receive maximum of them may already sit
  unacknowledged in its MQTT client), so under a saturating load the latency is mostly
  that wait. The same is then measured once more with the gateway idle, for the floor.
  Percentiles are nearest-rank over these few samples.

- state engines (`--state sqlite,postgresql`): the gateway phase runs once per state
  database, the same messages, broker and baselines: SQLite (`state.db` in its data dir, the
  default) and PostgreSQL (Debian's, started for the run with its own defaults, fsync on,
  one fresh database each). For each, also the time to import `--import-rows` assets as one
  CSV request (`POST /api/v1/assets:import`) into a fresh gateway.
  `ratio_postgresql_to_sqlite` is PostgreSQL's ingest rate over SQLite's.

Prints one JSON object (figures, parameters, versions); with --py-spy, also records the
gateway with `py-spy record` for 10 s from 2 s into its phase and adds the top frames.

    .venv/bin/python tests/bench/bench_ingest.py [--messages 100000] [--tags 1000]
        [--batch 1] [--assets 1000] [--alerts 5] [--repeats 3] [--timeout-s 75] [--output FILE]
        [--py-spy FILE] [--rate MSG_PER_S] [--protocol 5|3.1.1] [--alert-spacing-s 0.2]
        [--state sqlite,postgresql] [--import-rows 10000]

With --rate the gateway's load is published at that pace rather than all at once (the
baselines still drain a backlog): its figures are then the latency at that load, and
its rate is the offered one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import orjson
import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.common import ROOT, require_binary, wait_until
from support.gateways import GatewayProcess, run_gateway
from support.postgres import run_postgres
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    Mosquitto,
    ReceivedRequest,
    run_influxdb,
    run_mosquitto,
    run_webhook_receiver,
)

from device_sim.load import (
    LoadResult,
    LoadStream,
    build_load,
    iso,
    load_tag_id,
    publish_load,
    publish_packet,
)

PUBLISHER_USER, PUBLISHER_PASSWORD = "bench-publisher", "bench-secret"
ALERT_PUBLISHER_USER = "bench-alert-publisher"  # password PUBLISHER_PASSWORD
TOPIC_FILTER = "tags/+/telemetry"
DATABASE = "bench"
POLL_S = 0.5
PHASE_TIMEOUT_S = 60.0
ALERT_TIMEOUT_S = 30.0
OUT_OF_RANGE_C = 20.0  # cold_chain: 2-8 C


# --- Messages ---------------------------------------------------------------------------------


def alert_stream(tags: list[str], now: datetime) -> LoadStream:
    """Two out-of-range readings per tag, 301 s apart in reading time: one alert.opened."""
    packets = []
    for i, tag in enumerate(tags):
        for seq, age_s in enumerate((400, 99)):
            body = {"ts": iso(now - timedelta(seconds=age_s)), "seq": seq, "lat": 48.1,
                    "lon": 11.6, "temp_c": OUT_OF_RANGE_C, "battery_pct": 90.0}
            packets.append(publish_packet(f"tags/{tag}/telemetry", orjson.dumps(body),
                                          2 * i + seq + 1))
    return LoadStream(b"".join(packets), len(packets), len(packets), 0)


# --- Broker and load generator ----------------------------------------------------------------


def run_bench_mosquitto(workdir: Path) -> contextlib.AbstractContextManager[Mosquitto]:
    """The project's broker configuration plus two load generators allowed to write every
    tag's topic, each with an account of its own."""
    publishers = (PUBLISHER_USER, ALERT_PUBLISHER_USER)
    return run_mosquitto(
        workdir, (), extra_users={user: PUBLISHER_PASSWORD for user in publishers},
        extra_acl="\n# Benchmark only: load generators for every tag.\n" + "".join(
            f"user {user}\ntopic write {TOPIC_FILTER}\n" for user in publishers),
    )


def publish(port: int, stream: LoadStream, rate: float | None = None,
            username: str = PUBLISHER_USER) -> LoadResult:
    # The broker makes the user name the client id whatever is sent; send the same.
    return publish_load("127.0.0.1", port, stream, client_id=username,
                        username=username, password=PUBLISHER_PASSWORD, rate=rate)


def paho_client(port: int, account: str, clean: bool) -> mqtt.Client:
    """Logged in as a gateway account (Mosquitto.gateway_account), whose name is its id."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=account, clean_session=clean,
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(account, GATEWAY_PASSWORD)
    return client


def subscribe_and_leave(port: int, account: str) -> None:
    """A persistent session subscribed to the telemetry, then away: the broker queues."""
    client = paho_client(port, account, clean=False)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(TOPIC_FILTER, qos=1)
    if not subscribed.wait(10):
        raise TimeoutError(f"no SUBACK for {account}")
    client.disconnect()
    client.loop_stop()


def forget_session(port: int, account: str) -> None:
    """A clean-session connect discards the session, so later phases do not queue for it."""
    client = paho_client(port, account, clean=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(client.is_connected, 10, f"{account} connected")
    client.disconnect()
    client.loop_stop()


# --- Phases -----------------------------------------------------------------------------------


def rates(messages: int, readings: int, seconds: float) -> dict[str, Any]:
    return {"s": round(seconds, 3), "messages_per_s": round(messages / seconds, 1),
            "readings_per_s": round(readings / seconds, 1)}


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's children that have been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Drained(NamedTuple):
    s: float
    published: LoadResult
    cpu_s: float
    """The drain's CPU time: the client's, not the broker's."""


def drain_mosquitto_sub(broker: Mosquitto, stream: LoadStream) -> Drained:
    account = broker.gateway_account()
    command = [require_binary("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(broker.port),
               "-u", account, "-P", GATEWAY_PASSWORD, "-q", "1", "-c", "-i", account,
               "-t", TOPIC_FILTER]
    subprocess.run([*command, "-E"], check=True, timeout=10)  # subscribe, then leave
    published = publish(broker.port, stream)
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    subprocess.run([*command, "-C", str(stream.messages), "-W", str(int(PHASE_TIMEOUT_S))],
                   check=True, stdout=subprocess.DEVNULL, timeout=PHASE_TIMEOUT_S + 5)
    drained_s = time.perf_counter() - started
    cpu = children_cpu_s() - cpu_before
    forget_session(broker.port, account)
    return Drained(drained_s, published, cpu)


def drain_paho(broker: Mosquitto, stream: LoadStream) -> Drained:
    """paho's own loop in this thread (steadier here than loop_start's thread), counting."""
    account = broker.gateway_account()
    subscribe_and_leave(broker.port, account)
    published = publish(broker.port, stream)
    received = 0
    finished_at = 0.0

    def on_message(client: mqtt.Client, _userdata: Any, _message: mqtt.MQTTMessage) -> None:
        nonlocal received, finished_at
        received += 1
        if received == stream.messages:
            finished_at = time.perf_counter()
            client.disconnect()

    client = paho_client(broker.port, account, clean=False)
    client.on_message = on_message
    guard = threading.Timer(PHASE_TIMEOUT_S, client.disconnect)
    guard.start()
    started = time.perf_counter()
    cpu_before = time.thread_time()
    try:
        client.connect("127.0.0.1", broker.port)
        client.loop_forever()
    finally:
        guard.cancel()
    cpu = time.thread_time() - cpu_before
    if received < stream.messages:
        raise TimeoutError(f"paho received {received} of {stream.messages}")
    forget_session(broker.port, account)
    return Drained(finished_at - started, published, cpu)


def baseline(
    drain: Callable[[Mosquitto, LoadStream], Drained], broker: Mosquitto,
    stream: LoadStream, repeats: int,
) -> dict[str, Any]:
    """The median of `repeats` drains of the same messages, and each one's rate."""
    runs = [drain(broker, stream) for _ in range(repeats)]
    drained_s = statistics.median(run.s for run in runs)
    publisher_s = statistics.median(run.published.acked_s for run in runs)
    return {
        **rates(stream.messages, stream.readings, drained_s),
        "cpu_us_per_reading": round(
            statistics.median(run.cpu_s for run in runs) * 1e6 / stream.readings, 2),
        "messages_per_s_each": [round(stream.messages / run.s, 1) for run in runs],
        "publisher_s": round(publisher_s, 3),
        "publisher_messages_per_s": round(stream.messages / publisher_s, 1),
    }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def send_alerts(port: int, tags: list[str], spacing_s: float, sent: dict[str, float]) -> None:
    """One alert sample per tag, `spacing_s` apart, each tag's publish time (wall clock)
    into `sent`: spaced, so that each measures the way through the gateway rather than
    the queue of its own subscription's deliveries, which go out one at a time in order."""
    for n, tag in enumerate(tags):
        if n:
            time.sleep(spacing_s)
        result = publish(port, alert_stream([tag], datetime.now(UTC)),
                         username=ALERT_PUBLISHER_USER)
        sent[f"asset-{tag}"] = result.started_wall


def latency_figures(sent: dict[str, float],
                    receipts: list[tuple[float, ReceivedRequest]]) -> dict[str, Any]:
    """Publish (of a tag's two readings) to receipt of its alert.opened, in ms."""
    samples = []
    for at, request in list(receipts):
        body = request.json()
        if body.get("type") != "alert.opened":
            continue
        published = sent.get(body["data"]["alert"]["asset_id"])
        if published is not None:
            samples.append((at - published) * 1000)
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
    text = httpx.get(f"{gateway.api}/metrics", timeout=10,
                     headers={"Authorization": f"Bearer {gateway.admin_key}"}).text
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


def phase_import(broker: Mosquitto, workdir: Path, state_url: str, rows: int) -> dict[str, Any]:
    """`rows` assets as one CSV request into a fresh gateway on `state_url`."""
    lines = ["id,tag_id,kind,flow,sku,customer,due_at"]
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    lines += [f"imp-{n},imp-tag-{n},rental,rental_return,SKU-{n % 50},Customer {n % 200},{due}"
              for n in range(rows)]
    body = ("\n".join(lines) + "\n").encode()
    env = {"BOOMERANG_MQTT_URL":
           f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}",
           "BOOMERANG_STATE_URL": state_url}
    with contextlib.redirect_stdout(sys.stderr), run_gateway(workdir, env) as gateway, \
            gateway.client() as api:
        started = time.perf_counter()
        response = api.post("/api/v1/assets:import", content=body, timeout=600,
                            headers={"content-type": "text/csv"})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        outcomes = Counter(row["outcome"] for row in response.json()["rows"])
    return {"rows": rows, "import_s": round(elapsed, 2),
            "rows_per_s": round(rows / elapsed, 1), "outcomes": dict(outcomes)}


@contextlib.contextmanager
def state_databases(engine: str, workdir: Path) -> Iterator[Callable[[str], str]]:
    """A function giving a fresh state database URL per name, on `engine`."""
    if engine == "sqlite":
        yield lambda name: f"sqlite:///{workdir / name / 'data' / 'state.db'}"
        return
    with run_postgres(durable=True) as server:
        yield lambda name: server.url(server.create_database(template=None))


def phase_gateway(
    broker: Mosquitto, stream: LoadStream, workdir: Path, args: argparse.Namespace,
    state_url: str | None = None,
) -> dict[str, Any]:
    alert_tags = [f"alert-{i}" for i in range(args.alerts)]
    idle_tags = [f"alert-idle-{i}" for i in range(args.alerts)]
    assets = [load_tag_id(i) for i in range(min(args.assets, args.tags))]
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
            "BOOMERANG_INFLUX_URL": influx.url,
            "BOOMERANG_INFLUX_DB": DATABASE,
            "BOOMERANG_BATCH_MAX_DELAY_S": "0.5",  # the documented default
            "BOOMERANG_MQTT_PROTOCOL": args.protocol,
            **({"BOOMERANG_STATE_URL": state_url} if state_url else {}),
        }
        with run_gateway(workdir / "gateway", env) as gateway:
            pid = gateway.process.pid
            started = time.perf_counter()
            with gateway.client() as api:
                # Alerts only: each asset registered opens a trip, whose trip.status_changed
                # would otherwise wait ahead of the alerts in the subscription's queue.
                api.post("/api/v1/subscriptions", json={
                    "url": receiver.url, "event_types": ["alert.opened"]}).raise_for_status()
                for tag in assets + alert_tags + idle_tags:
                    api.post("/api/v1/assets", json={
                        "id": f"asset-{tag}", "tag_id": tag, "kind": "shipment",
                        "flow": "customer_return", "profile": "cold_chain",
                    }).raise_for_status()
            register_s = time.perf_counter() - started
            rss_before = vm_mb(pid)

            target = stream.readings + 2 * len(alert_tags)
            publisher: list[LoadResult] = []
            thread = threading.Thread(
                target=lambda: publisher.append(
                    publish(broker.port, stream, args.rate)),
                daemon=True)
            started = time.perf_counter()
            cpu_before = cpu_s(pid)
            thread.start()
            profiler: subprocess.Popen[bytes] | None = None
            alerts_sent: dict[str, float] = {}
            alerts_thread: threading.Thread | None = None
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
                if alerts_thread is None and alert_tags and landed >= stream.readings / 2:
                    # Where the messages ahead of the alerts were: still with the broker, or
                    # received by the gateway but not yet in InfluxDB.
                    published = stream.messages if publisher else None
                    received = int(metric(gateway, "boomerang_ingest_messages_total"))
                    alerts_thread = threading.Thread(target=send_alerts, args=(
                        broker.port, alert_tags, args.alert_spacing_s, alerts_sent),
                        daemon=True)
                    alerts_thread.start()
                    at_alerts = {
                        "at_s": round(elapsed, 2),
                        "messages_with_broker": None if published is None
                        else published - received,
                        "messages_in_gateway_not_landed": received - landed // args.batch,
                    }
            gateway_s = time.perf_counter() - started
            gateway_cpu_s = cpu_s(pid) - cpu_before
            thread.join(PHASE_TIMEOUT_S)
            complete = landed >= target
            if alerts_thread is not None:
                alerts_thread.join(PHASE_TIMEOUT_S)
                wait_until(lambda: opened_for(alert_tags, receipts) == len(alert_tags),
                           ALERT_TIMEOUT_S, "alert.opened under load")
            peak_rss = vm_mb(pid)
            if profiler is not None:
                profiler.wait(30)

            # Idle: everything has landed; the floor of publish -> webhook.
            idle_sent: dict[str, float] = {}
            send_alerts(broker.port, idle_tags, args.alert_spacing_s, idle_sent)
            wait_until(lambda: opened_for(idle_tags, receipts) == len(idle_tags),
                       ALERT_TIMEOUT_S, "alert.opened when idle")
            rss_after = vm_mb(pid, "VmRSS")

    figures: dict[str, Any] = {
        **rates(landed // args.batch, landed, gateway_s),
        "complete": complete,
        # With the alerts sent under load and the receiver's count queries: a few readings.
        "cpu_us_per_reading": round(gateway_cpu_s * 1e6 / max(1, landed), 2),
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
            **(latency_figures(alerts_sent, receipts) if alerts_sent else {}),
            **at_alerts,
        },
        "alert_latency_idle": latency_figures(idle_sent, receipts),
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
    stream = build_load(args.messages, args.tags, args.batch,
                          datetime.now(UTC) - timedelta(minutes=10))
    generate_s = time.perf_counter() - wall_started
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        (workdir / "mosquitto").mkdir()
        with run_bench_mosquitto(workdir / "mosquitto") as broker:
            mosquitto_sub = baseline(drain_mosquitto_sub, broker, stream, args.repeats)
            paho_figures = baseline(drain_paho, broker, stream, args.repeats)
            by_state: dict[str, dict[str, Any]] = {}
            for engine in args.state:
                with state_databases(engine, workdir / engine) as new_database:
                    figures = phase_gateway(broker, stream, workdir / engine, args,
                                            new_database("gateway"))
                    if args.import_rows:
                        figures["import"] = phase_import(
                            broker, workdir / engine / "import", new_database("import"),
                            args.import_rows)
                by_state[engine] = figures
            dropped = "dropped" in broker.log.read_text(errors="replace").lower()
    gateway = by_state[args.state[0]]
    gateway_rate = gateway["messages_per_s"]
    compared: dict[str, Any] = {}
    if {"sqlite", "postgresql"} <= by_state.keys():
        compared["ratio_postgresql_to_sqlite"] = round(
            by_state["postgresql"]["messages_per_s"] / by_state["sqlite"]["messages_per_s"], 4)
        if args.import_rows:
            compared["import_ratio_postgresql_to_sqlite"] = round(
                by_state["sqlite"]["import"]["import_s"]
                / by_state["postgresql"]["import"]["import_s"], 4)
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
        "state_engines": list(args.state),
        "gateway": gateway,
        **({"gateway_by_state": by_state, **compared} if len(by_state) > 1 else {}),
        "ratio_gateway_to_mosquitto_sub": round(gateway_rate / mosquitto_sub["messages_per_s"], 4),
        "ratio_gateway_to_paho": round(gateway_rate / paho_figures["messages_per_s"], 4),
        "ratio_gateway_cpu_to_paho": round(
            gateway["cpu_us_per_reading"] / paho_figures["cpu_us_per_reading"], 2),
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
    parser.add_argument("--alert-spacing-s", type=float, default=0.2,
                        help="seconds between alert samples")
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
    parser.add_argument("--state", type=lambda text: tuple(text.split(",")),
                        default=("sqlite",),
                        help="state databases to run the gateway on, in turn: sqlite, "
                             "postgresql or both (sqlite,postgresql)")
    parser.add_argument("--import-rows", type=int, default=0,
                        help="also time a CSV import of this many assets on each")
    args = parser.parse_args(argv)
    if not set(args.state) <= {"sqlite", "postgresql"}:
        parser.error("--state: sqlite, postgresql, or both separated by a comma")
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
