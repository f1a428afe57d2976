"""Many gateways, one fleet: three gateways on NATS JetStream and one PostgreSQL split the
partitions evenly, judge every reading once, give partitions back when one leaves and take
those of one that dies; a paused one's late writes are refused (docs/architecture.md,
"Many gateways")."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support import processes
from support.common import ROOT, settled, wait_until
from support.gateways import ADMIN_KEY, STATE, GatewayProcess, boomerang, metric, run_gateway
from support.servers import (
    TAG_PASSWORD,
    InfluxDB,
    Mosquitto,
    NatsServer,
    publish_readings,
    run_mosquitto,
    run_webhook_receiver,
)
from support.state import live_alerts_per_key

from ingest.decoders import NativeDecoder, OwnTracksDecoder, ThingsStackDecoder

STATE_ENGINES = ("postgresql",)
PARTITIONS = 8
TAGS = ("tag-a", "tag-b", "tag-c", "tag-d", "tag-e", "tag-f", "tag-g")


def cluster_env(tmp_path: Path, mosquitto: Mosquitto, nats_server: NatsServer,
                influxdb: InfluxDB, database: str) -> dict[str, str]:
    return {
        "BOOMERANG_STATE_URL": STATE.url_for(tmp_path / "shared"),
        "BOOMERANG_NATS_URL": nats_server.url,
        "BOOMERANG_PARTITIONS": str(PARTITIONS),
        "BOOMERANG_LEASE_TTL_S": "3",
        "BOOMERANG_REGISTRY_POLL_S": "0.2",
        "BOOMERANG_TIMER_INTERVAL_S": "0.5",
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_INFLUX_URL": influxdb.url,
        "BOOMERANG_INFLUX_DB": database,
    }


def owned(gateway: GatewayProcess) -> int:
    return int(metric(gateway.api, "boomerang_cluster_partitions_owned"))


@contextlib.contextmanager
def gateways(tmp_path: Path, env: dict[str, str], names: tuple[str, ...]
             ) -> Iterator[list[GatewayProcess]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(run_gateway(tmp_path / name,
                                               {**env, "BOOMERANG_GATEWAY_ID": name}))
               for name in names]


def gateway_id(gateway: GatewayProcess) -> str:
    """Its BOOMERANG_GATEWAY_ID: `gateways` names each after its directory."""
    return gateway.log.parent.name


def spread_evenly(members: list[GatewayProcess]) -> bool:
    counts = [owned(g) for g in members]
    return sum(counts) == PARTITIONS and max(counts) - min(counts) <= 1


def test_gateways_split_the_partitions_store_every_reading_once_and_rebalance(
        tmp_path: Path, mosquitto: Mosquitto, nats_server: NatsServer,
        influxdb: InfluxDB) -> None:
    """Two, then a third joins and gets its share, the readings are judged once and split,
    and the third gives its share back as it stops (taken at once, not after the TTL)."""
    database = "cluster_split"
    influxdb.create_database(database)
    env = cluster_env(tmp_path, mosquitto, nats_server, influxdb, database)
    with gateways(tmp_path, env, ("g1", "g2")) as pair:
        wait_until(lambda: spread_evenly(pair), 30, "partitions spread over two")
        checks = httpx.get(f"{pair[0].api}/readyz").json()
        assert checks["cluster_joined"] is True and "broker_connected" not in checks
        with run_gateway(tmp_path / "g3", {**env, "BOOMERANG_GATEWAY_ID": "g3"}) as third:
            members = [*pair, third]
            wait_until(lambda: spread_evenly(members), 30, "partitions spread over three")
            with pair[0].client() as api:
                for tag in TAGS:
                    api.post("/api/v1/assets", json={
                        "id": f"asset-{tag}", "tag_id": tag, "kind": "shipment",
                        "flow": "customer_return"}).raise_for_status()
            time.sleep(0.5)  # the registry poll
            start = datetime.now(UTC) - timedelta(hours=1)
            for tag in TAGS:
                publish_readings(mosquitto.port, tag, [
                    {"ts": (start + timedelta(seconds=i)).isoformat(), "seq": i,
                     "temp_c": 20.0 + i} for i in range(20)])
            wait_until(lambda: influxdb.count(
                database, "SELECT count(temp_c) FROM telemetry") == 20 * len(TAGS), 30,
                "every reading stored")
            judged = [metric(g.api, "boomerang_rules_readings_judged_total") for g in members]
            assert sum(judged) == 20 * len(TAGS)
            # More than one gateway judged: the work is split.
            assert sum(1 for n in judged if n > 0) >= 2
            relays = [metric(g.api, "boomerang_cluster_relay") for g in members]
            assert sorted(relays) == [0, 0, 1]
        wait_until(lambda: spread_evenly(pair), 10, "partitions spread over two again")


@pytest.fixture(autouse=True)
def _fresh_influx_db(influxdb: InfluxDB) -> None:
    """Nothing: the tests make their own databases."""


SCENARIO = ROOT / "device_sim" / "scenarios" / "all_faults.yaml"


def expected_points(timeline: Any) -> set[tuple[str, str]]:
    """(tag id, time) of every reading of the scenario that the gateway must store: each
    emission the broker lets through (all but impersonations), decoded as the gateway
    decodes it; a duplicate lands on the same point."""
    decoders = [NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder()]
    points = set()
    for emission in timeline.emissions:
        if emission.fault == "impersonation":
            continue
        for decoder in decoders:
            decoded = decoder.decode(emission.topic, emission.payload, emission.at)
            if decoded is not None:
                points |= {(r.tag_id, _influx_time(r.ts)) for r in decoded.readings}
                break
    return points


def _influx_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def stored_points(influxdb: InfluxDB, database: str) -> list[tuple[str, str]]:
    series = influxdb.query(database, "SELECT tag_id, * FROM telemetry")
    rows = series[0]["values"] if series else []
    columns = series[0]["columns"] if series else []
    tag, when = columns.index("tag_id"), columns.index("time")
    return [(row[tag], _normal_time(row[when])) for row in rows]


def _normal_time(text: str) -> str:
    """InfluxDB's RFC 3339 time as `_influx_time` writes it (trailing zeros trimmed)."""
    if "." not in text:
        return text
    head, fraction = text.rstrip("Z").split(".")
    return f"{head}.{fraction.ljust(6, '0')}Z".replace(".000000Z", "Z")


def test_all_faults_on_three_gateways_one_killed_one_paused_loses_and_doubles_nothing(
        tmp_path: Path, nats_server: NatsServer, influxdb: InfluxDB) -> None:
    """The scenario on event time through three gateways: the relay's holder is killed
    (SIGKILL) a third of the way in, another is paused (SIGSTOP) past its leases' TTL and
    resumed. The verdict stays clean, every reading is stored, no alert is open twice, each
    webhook goes out once and in order, and the resumed gateway's late writes are refused."""
    from device_sim.scenario import load_scenario
    from device_sim.timeline import compile_scenario

    timeline = compile_scenario(load_scenario(SCENARIO), now=datetime.now(UTC))
    tags = tuple(sorted(user for user, tag_id in timeline.logins.items() if tag_id))
    applications = {user: TAG_PASSWORD for user, tag_id in timeline.logins.items() if not tag_id}
    database = "cluster_faults"
    influxdb.create_database(database)
    with run_mosquitto(tmp_path / "mosquitto", tags, extra_users=applications) as broker, \
            run_webhook_receiver() as receiver:
        # Readings wait up to a second to be stored (and acknowledged).
        env = {**cluster_env(tmp_path, broker, nats_server, influxdb, database),
               "BOOMERANG_CLOCK": "event", "BOOMERANG_TIMER_INTERVAL_S": "0.1",
               "BOOMERANG_BATCH_MAX_DELAY_S": "1", "BOOMERANG_STATS_INTERVAL_S": "1"}
        with gateways(tmp_path, env, ("g1", "g2", "g3")) as members:
            wait_until(lambda: spread_evenly(members), 30, "partitions spread over three")
            relay = next(g for g in members if metric(g.api, "boomerang_cluster_relay") == 1)
            paused = next(g for g in members if g is not relay and g is not members[2])
            steady = members[2] if members[2] is not relay else members[1]
            with steady.client() as api:
                api.post("/api/v1/subscriptions", json={"url": receiver.url}
                         ).raise_for_status()
            truth = tmp_path / "truth.json"
            play = processes.popen(
                [sys.executable, "-m", "gateway", "sim", "play", str(SCENARIO), "--broker",
                 f"mqtt://127.0.0.1:{broker.port}", "--register-api", steady.api,
                 "--time-scale", "2500", "--no-progress", "--truth", str(truth)],
                what="boomerang sim play", cwd=ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={"PATH": "", "BOOMERANG_API_KEY": ADMIN_KEY,
                     "BOOMERANG_SIM_TAG_PASSWORD": TAG_PASSWORD})
            time.sleep(15)
            relay.kill()
            time.sleep(10)
            # Paused with readings judged and not yet stored: what it would acknowledge and
            # save on resuming are its late writes.
            wait_until(lambda: metric(paused.api,
                                      "boomerang_cluster_unacknowledged_messages") > 0,
                       10, "the gateway to pause judging readings")
            paused.process.send_signal(signal.SIGSTOP)
            time.sleep(3 * 3)  # three lease TTLs
            paused.process.send_signal(signal.SIGCONT)
            _, err = play.communicate(timeout=240)
            assert play.returncode == 0, err
            live = [g for g in members if g is not relay]
            settled(lambda: sum(metric(g.api, "boomerang_ingest_messages_total")
                                for g in live), quiet_s=4)
            wait_until(lambda: all(metric(g.api, "boomerang_sink_points_buffered") == 0
                                   for g in live), 30, "buffers flushed")
            time.sleep(1)
            verdict = boomerang("sim", "verify", str(truth), "--api", steady.api)
            print(verdict.stdout)
            assert verdict.returncode == 0, verdict.stdout + verdict.stderr
            assert "missed 0" in verdict.stdout and "unexpected 0" in verdict.stdout
            stored = stored_points(influxdb, database)
            assert len(stored) == len(set(stored))
            # The readings of the run played: compiled for the minute the player's run
            # started in (which may be a later minute than the one compiled above).
            scenario = load_scenario(SCENARIO)
            played = compile_scenario(scenario, now=datetime.fromisoformat(
                orjson.loads(truth.read_bytes())["start"]) - scenario.start)
            assert set(stored) == expected_points(played)
            assert max(live_alerts_per_key(steady.state_url).values()) == 1
            # The paused one found its partitions taken and its late writes refused.
            assert metric(paused.api, "boomerang_cluster_partitions_lost_total") > 0
            assert metric(paused.api, "boomerang_cluster_fenced_writes_total") > 0
            # The health dashboard's cluster panels say the same from gateway_stats.
            live_ids = {gateway_id(g) for g in live}

            def partitions_and_relays() -> tuple[float, float]:
                judged = cluster_panel(influxdb, database, "Cluster: partitions judged, relay")
                return (sum(judged[g]["partitions"] for g in live_ids),
                        sum(judged[g]["relay"] for g in live_ids))

            # Waited for: a stats point may be written while a partition is given back.
            wait_until(lambda: partitions_and_relays() == (PARTITIONS, 1), 15,
                       "the cluster panel to show every partition judged and one relay")
            refused = cluster_panel(influxdb, database, "Cluster: takeovers and refusals",
                                    total=True)
            assert refused[gateway_id(paused)]["writes fenced"] > 0
            assert refused[gateway_id(paused)]["partitions lost"] > 0
            with steady.client() as api:
                subscription = api.get("/api/v1/subscriptions").json()[0]["id"]
                deliveries = sorted(api.get(f"/api/v1/subscriptions/{subscription}/deliveries",
                                            params={"limit": 1000}).json(),
                                    key=lambda d: d["seq"])
            wait_until(lambda: len(receiver.requests) >= len(deliveries), 30,
                       "every delivery received")
        received = [r.headers["webhook-id"] for r in receiver.requests]
        # Once each, in outbox order; but a delivery the killed gateway sent and had not yet
        # recorded is sent again by the next, with the same webhook-id (receivers drop it).
        assert list(dict.fromkeys(received)) == [d["msg_id"] for d in deliveries]
        assert len(received) - len(set(received)) <= 1, "deliveries went out twice"


def cluster_panel(influxdb: InfluxDB, database: str, title: str, *, total: bool = False
                  ) -> dict[str, dict[str, float]]:
    """Per gateway, each series of a Gateway health panel: its last value, or with `total`
    the sum of its values (increments), over the last ten minutes."""
    from dashboards.boards import gateway_health
    from dashboards.variables import ALL, interpolate

    panel = next(p for p in gateway_health().panels() if p.title == title)
    now = datetime.now(UTC)
    found: dict[str, dict[str, float]] = {}
    for query in panel.queries:
        text = interpolate(query.text, {"instance": ALL}, start=now - timedelta(minutes=10),
                           end=now, interval="1s")
        for series in influxdb.query(database, text):
            values = [row[1] for row in series["values"] if row[1] is not None]
            name = series["columns"][1]
            found.setdefault(series["tags"]["instance"], {})[name] = (
                sum(values) if total else values[-1])
    return found


def test_a_gateway_that_disagrees_with_the_cluster_on_a_shared_setting_does_not_start(
        tmp_path: Path, mosquitto: Mosquitto, nats_server: NatsServer,
        influxdb: InfluxDB) -> None:
    env = cluster_env(tmp_path, mosquitto, nats_server, influxdb, "cluster_count")
    with gateways(tmp_path, env, ("g1",)):
        for setting, value in (("BOOMERANG_PARTITIONS", "4"), ("BOOMERANG_LEASE_TTL_S", "5")):
            refused = processes.run(
                [sys.executable, "-m", "gateway", "serve"], what=f"boomerang serve, {setting}",
                capture_output=True, text=True, timeout=60, cwd=ROOT,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("BOOMERANG_")},
                     **env, setting: value, "BOOMERANG_GATEWAY_ID": "g2",
                     "BOOMERANG_DATA_DIR": str(tmp_path / "g2"), "BOOMERANG_API_PORT": "0"})
            assert refused.returncode == 2, refused.stderr
            assert f"{setting} is {value}" in refused.stderr
