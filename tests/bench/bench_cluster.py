"""Cluster benchmark (docs/architecture.md, "Many gateways"): readings per second and CPU per
reading with 1, 2 and 3 gateways on NATS JetStream against one gateway without NATS and a
bare `mosquitto_sub` drain of the same messages in the same run; the time a killed
gateway's partitions take to be judged again; and the added latency from publish to webhook.

Servers, all started by the script in a temp dir on free ports: mosquitto from the project's
configuration (with bench_ingest.py's load-generator account), PostgreSQL (Debian's, its own
defaults, fsync on; a fresh database per phase), InfluxDB 1.6 (a database per phase) and, per
cluster phase, a fresh nats-server with JetStream. Every gateway of a cluster logs in to the
broker with the same account (only the relay's holder connects) and has
BOOMERANG_PARTITIONS partitions (default 16) and BOOMERANG_LEASE_TTL_S (default 6).

- baseline: `mosquitto_sub` draining the messages from its persistent session, median of
  --repeats (as bench_ingest.py does).
- throughput, for `single` (one gateway, state on PostgreSQL, no NATS) and clusters of 1, 2
  and 3 gateways: --assets cold_chain assets bound to the first tags (imported as CSV), then
  the messages published all at once (the broker queues what the gateways cannot take
  yet), timed from the first publish until InfluxDB has every reading. CPU: user + system
  time from /proc of each gateway process, and of the servers (mosquitto, nats-server,
  PostgreSQL's processes, influxd), over the phase, in microseconds per reading.
- latency: after the load, --alerts cold_chain tags each publish two out-of-range
  readings 301 s apart in reading time, --alert-spacing-s apart: publish to receipt of the
  `alert.opened` webhook, p50 and p99 (nearest rank), for `single` and the 3-gateway cluster.
- takeover: on the 3-gateway cluster with a steady --takeover-rate load, --kills times: one
  gateway (in turn) is killed with SIGKILL, and the time until every partition it held has a
  new holder in `partition_owners` (a new epoch, committed before that holder reads) is
  measured, and, when it held the relay, until another relays; then it is started again and
  the partitions spread evenly before the next kill.

Prints one JSON object; keep it with --output (tests/bench/cluster-latest.json).

    .venv/bin/python tests/bench/bench_cluster.py [--messages 50000] [--tags 1000]
        [--assets 1000] [--partitions 16] [--lease-ttl-s 6] [--kills 10] [--alerts 10]
        [--repeats 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import report
from bench_ingest import (
    DATABASE,
    baseline,
    cpu_s,
    drain_mosquitto_sub,
    git_commit,
    latency_figures,
    opened_for,
    publish,
    run_bench_mosquitto,
    send_alerts,
)
from sqlalchemy import select
from support.common import require_binary, wait_until
from support.gateways import GatewayProcess, metric, run_gateway
from support.postgres import Postgres, run_postgres
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    InfluxDB,
    Mosquitto,
    ReceivedRequest,
    WebhookReceiver,
    run_influxdb,
    run_nats,
    run_webhook_receiver,
)

from device_sim.load import LoadStream, build_load, load_tag_id
from gateway.registry.partitions import PARTITION_OWNERS
from ingest.statedb import StateDb

PHASE_TIMEOUT_S = 240.0
ALERT_TIMEOUT_S = 60.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class Servers:
    """The processes whose CPU a phase is charged besides the gateways'."""

    def __init__(self, broker: Mosquitto, influx: InfluxDB, postgres: Postgres) -> None:
        self.pids: dict[str, list[int]] = {"mosquitto": [broker.process.pid],
                                           "influxd": [influx.process.pid]}
        self.postgres = postgres
        self.nats: int | None = None

    def cpu(self) -> dict[str, float]:
        postmaster = self.postgres.postmaster
        pids = {**self.pids,
                "postgres": [postmaster, *children(postmaster)] if postmaster else [],
                "nats-server": [self.nats] if self.nats else []}
        return {name: sum(cpu_s(pid) for pid in found) for name, found in pids.items()}


def us_per_reading(before: dict[str, float], after: dict[str, float],
                   readings: int) -> dict[str, float]:
    return {name: round((after[name] - before.get(name, 0.0)) * 1e6 / readings, 1)
            for name in after}


@contextlib.contextmanager
def cluster(workdir: Path, names: list[str], env: dict[str, str]
            ) -> Iterator[tuple[contextlib.ExitStack, list[GatewayProcess]]]:
    """The gateways, and the stack that stops them (and any started into it later)."""
    # The gateways' logs to stderr, their closing ones too (the stack closes inside it).
    with contextlib.redirect_stdout(sys.stderr), contextlib.ExitStack() as stack:
        yield stack, [stack.enter_context(
            run_gateway(workdir / name, {**env, "BOOMERANG_GATEWAY_ID": name}))
            for name in names]


def spread_evenly(members: list[GatewayProcess], partitions: int) -> bool:
    counts = [int(metric(g.api, "boomerang_cluster_partitions_owned")) for g in members]
    return sum(counts) == partitions and max(counts) - min(counts) <= 1


def alert_tags(phase: str, count: int) -> list[str]:
    """The cold_chain tags of a phase that each raise one alert after the load."""
    return [f"alert-{phase}-{n}" for n in range(count)]


def register(gateway: GatewayProcess, tags: list[str], receiver: WebhookReceiver) -> None:
    lines = ["id,tag_id,kind,flow,profile"]
    lines += [f"asset-{tag},{tag},shipment,customer_return,cold_chain" for tag in tags]
    with gateway.client() as api:
        # alert.opened alone: the registration's trip.status_changed (one per asset) would
        # queue ahead of the alerts measured, in the subscription's order.
        api.post("/api/v1/subscriptions", json={
            "url": receiver.url, "event_types": ["alert.opened"]}).raise_for_status()
        api.post("/api/v1/assets:import", content=("\n".join(lines) + "\n").encode(),
                 headers={"content-type": "text/csv"}, timeout=300).raise_for_status()


def phase(name: str, workdir: Path, members: list[GatewayProcess], stream: LoadStream,
          broker: Mosquitto, influx: InfluxDB, database: str, servers: Servers,
          receipts: list[tuple[float, ReceivedRequest]], args: argparse.Namespace
          ) -> dict[str, Any]:
    """The load, then the alert latency, on gateways already registered and ready."""
    pids = {g.api: g.process.pid for g in members}
    gateways_before = {api: cpu_s(pid) for api, pid in pids.items()}
    servers_before = servers.cpu()
    started = time.perf_counter()
    publisher = threading.Thread(target=publish, args=(broker.port, stream), daemon=True)
    publisher.start()
    landed = 0
    deadline = started + PHASE_TIMEOUT_S
    while landed < stream.readings and time.perf_counter() < deadline:
        time.sleep(0.25)
        landed = influx.count(database, "SELECT count(seq) FROM telemetry")
    elapsed = time.perf_counter() - started
    publisher.join(30)
    gateway_cpu = {api: cpu_s(pid) - gateways_before[api] for api, pid in pids.items()}
    servers_cpu = us_per_reading(servers_before, servers.cpu(), max(1, landed))
    alerting = alert_tags(name, args.alerts)
    sent: dict[str, float] = {}
    send_alerts(broker.port, alerting, args.alert_spacing_s, sent)
    wait_until(lambda: opened_for(alerting, receipts) == len(alerting), ALERT_TIMEOUT_S,
               f"alert.opened ({name})")
    total_gateway_us = sum(gateway_cpu.values()) * 1e6 / max(1, landed)
    return {
        "gateways": len(members),
        "readings_landed": landed,
        "complete": landed >= stream.readings,
        "s": round(elapsed, 3),
        "readings_per_s": round(landed / elapsed, 1),
        "gateway_cpu_us_per_reading": round(total_gateway_us, 1),
        "gateway_cpu_us_per_reading_each": [
            round(cpu * 1e6 / max(1, landed), 1) for cpu in gateway_cpu.values()],
        "servers_cpu_us_per_reading": servers_cpu,
        "alert_latency_idle": latency_figures(sent, receipts),
    }


def takeover(members: list[GatewayProcess], stack: contextlib.ExitStack, workdir: Path,
             env: dict[str, str], state_url: str, broker: Mosquitto,
             args: argparse.Namespace) -> dict[str, Any]:
    """`--kills` kills in turn under a steady load; the gateway killed is started again."""
    db = StateDb.open(state_url)
    load = build_load(int(args.takeover_rate * (args.kills * 25 + 30)), 200, 1,
                      datetime.now(UTC) - timedelta(minutes=1))
    publisher = threading.Thread(target=publish, args=(broker.port, load, args.takeover_rate),
                                 daemon=True)
    publisher.start()
    partitions_s: list[float] = []
    relay_s: list[float] = []
    try:
        for kill in range(args.kills):
            victim = members[kill % len(members)]
            name = f"g{kill % len(members) + 1}"
            held = {row.partition for row in db.rows(select(PARTITION_OWNERS))
                    if row.owner == name}
            relayed = metric(victim.api, "boomerang_cluster_relay") == 1
            others = [g for g in members if g is not victim]
            killed_at = time.perf_counter()
            victim.kill()
            relay_back: float | None = None
            while True:
                owners = {row.partition: row.owner
                          for row in db.rows(select(PARTITION_OWNERS))}
                if relayed and relay_back is None and any(
                        metric(g.api, "boomerang_cluster_relay") == 1 for g in others):
                    relay_back = time.perf_counter() - killed_at
                if all(owners.get(p) != name for p in held) and (
                        not relayed or relay_back is not None):
                    break
                if time.perf_counter() - killed_at > 60:
                    raise TimeoutError(f"{name}'s partitions not taken over")
                time.sleep(0.02)
            partitions_s.append(time.perf_counter() - killed_at)
            if relay_back is not None:
                relay_s.append(relay_back)
            with contextlib.redirect_stdout(sys.stderr):
                members[kill % len(members)] = stack.enter_context(run_gateway(
                    workdir / f"{name}-again-{kill}", {**env, "BOOMERANG_GATEWAY_ID": name}))
            wait_until(lambda: spread_evenly(members, args.partitions), 60, "spread again")
    finally:
        db.close()
    return {
        "kills": len(partitions_s),
        "lease_ttl_s": args.lease_ttl_s,
        "renewal_period_s": round(args.lease_ttl_s / 3, 3),
        "load_messages_per_s": args.takeover_rate,
        "partitions_taken_over_s": {
            "p50": round(statistics.median(partitions_s), 3),
            "max": round(max(partitions_s), 3),
            "all": [round(s, 3) for s in partitions_s]},
        "relay_taken_over_s": {
            "kills_of_the_relay": len(relay_s),
            "p50": round(statistics.median(relay_s), 3) if relay_s else None,
            "max": round(max(relay_s), 3) if relay_s else None},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    wall_started = time.perf_counter()
    stream = build_load(args.messages, args.tags, 1, datetime.now(UTC) - timedelta(minutes=10))
    tags = [load_tag_id(i) for i in range(min(args.assets, args.tags))]
    receipts: list[tuple[float, ReceivedRequest]] = []

    def stamp(request: ReceivedRequest) -> int:
        receipts.append((time.time(), request))
        return 204

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        workdir = Path(tmp)
        (workdir / "mosquitto").mkdir()
        with (run_bench_mosquitto(workdir / "mosquitto") as broker,
              run_influxdb(workdir / "influxdb") as influx,
              run_postgres(durable=True) as postgres,
              run_webhook_receiver() as receiver):
            receiver.status = stamp
            servers = Servers(broker, influx, postgres)
            mosquitto_sub = baseline(drain_mosquitto_sub, broker, stream, args.repeats)
            common = {
                "BOOMERANG_MQTT_URL":
                    f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}",
                "BOOMERANG_INFLUX_URL": influx.url,
                "BOOMERANG_BATCH_MAX_DELAY_S": "0.5",
                "BOOMERANG_LOG_LEVEL": "WARNING",
            }
            for label, count in (("single", 1), ("cluster_1", 1), ("cluster_2", 2),
                                 ("cluster_3", 3)):
                database = f"{DATABASE}_{label}"
                influx.create_database(database)
                state_url = postgres.url(postgres.create_database(template=None))
                env = {**common, "BOOMERANG_INFLUX_DB": database,
                       "BOOMERANG_STATE_URL": state_url}
                with contextlib.ExitStack() as outer:
                    if label != "single":
                        nats = outer.enter_context(run_nats(workdir / f"nats-{label}"))
                        servers.nats = nats.process.pid
                        env |= {"BOOMERANG_NATS_URL": nats.url,
                                "BOOMERANG_PARTITIONS": str(args.partitions),
                                "BOOMERANG_LEASE_TTL_S": str(args.lease_ttl_s)}
                    else:
                        servers.nats = None
                    stack, members = outer.enter_context(cluster(
                        workdir / label, [f"g{n + 1}" for n in range(count)], env))
                    if label != "single":
                        wait_until(partial(spread_evenly, members, args.partitions), 60,
                                   f"{label} spread")
                    register(members[0], tags + alert_tags(label, args.alerts), receiver)
                    time.sleep(1)  # the others' registry poll
                    results[label] = phase(label, workdir, members, stream, broker, influx,
                                           database, servers, receipts, args)
                    print(f"{label}: {results[label]['readings_per_s']} readings/s",
                          file=sys.stderr)
                    if label == "cluster_3" and args.kills:
                        results["takeover"] = takeover(
                            members, stack, workdir / "again", env, state_url, broker, args)
    sub_rate = mosquitto_sub["readings_per_s"]
    single = results["single"]
    return {
        "benchmark": "cluster",
        "messages": args.messages,
        "tags": args.tags,
        "assets": len(tags),
        "partitions": args.partitions,
        "cpus": os.cpu_count(),
        "mosquitto_sub": mosquitto_sub,
        **results,
        "ratios_to_mosquitto_sub": {
            label: round(results[label]["readings_per_s"] / sub_rate, 4)
            for label in ("single", "cluster_1", "cluster_2", "cluster_3")},
        "ratios_to_single": {
            label: round(results[label]["readings_per_s"] / single["readings_per_s"], 4)
            for label in ("cluster_1", "cluster_2", "cluster_3")},
        "added_latency_p50_ms_cluster_3_over_single": _minus(
            results["cluster_3"]["alert_latency_idle"]["p50_ms"],
            single["alert_latency_idle"]["p50_ms"]),
        "added_latency_p99_ms_cluster_3_over_single": _minus(
            results["cluster_3"]["alert_latency_idle"]["p99_ms"],
            single["alert_latency_idle"]["p99_ms"]),
        "total_s": round(time.perf_counter() - wall_started, 1),
        "commit": git_commit(),
        "python": platform.python_version(),
        "nats_server": _version(),
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def _version() -> str | None:
    out = subprocess.run([require_binary("nats-server"), "--version"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return out or None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--lease-ttl-s", type=float, default=6.0)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--takeover-rate", type=float, default=300.0,
                        help="messages/s published while gateways are killed")
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--alert-spacing-s", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    report(run(args), args.output)


if __name__ == "__main__":
    main()

