"""Nothing is lost when the gateway dies: a QoS 1 message is acknowledged only once its
readings are stored, so the broker redelivers whatever the gateway had not written."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.common import free_port, wait_until
from support.gateways import metric, run_gateway
from support.servers import TAG_PASSWORD, InfluxDB, Mosquitto, run_influxdb


def env_for(mqtt_url: str, influx_url: str, db: str) -> dict[str, str]:
    """`mqtt_url` from Mosquitto.gateway_url: a session of the test's own, kept across the
    gateway's restarts within the test."""
    return {
        "BOOMERANG_MQTT_URL": mqtt_url,
        "BOOMERANG_INFLUX_URL": influx_url,
        "BOOMERANG_INFLUX_DB": db,
    }


def publish(port: int, tag_id: str, count: int, stop: threading.Event | None = None) -> int:
    """QoS 1 readings seq 0..count-1, each waited for; returns how many went out."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = datetime.now(UTC) - timedelta(days=1)
    sent = 0
    for seq in range(count):
        if stop is not None and stop.is_set():
            break
        reading = {"ts": (start + timedelta(seconds=seq)).isoformat(), "seq": seq,
                   "temp_c": 4.0 + seq % 7}
        client.publish(f"tags/{tag_id}/telemetry", orjson.dumps(reading), qos=1
                       ).wait_for_publish(10)
        sent += 1
    client.disconnect()
    client.loop_stop()
    return sent


def publish_burst(port: int, tag_id: str, count: int,
                  payload_of: Callable[[int], bytes] | None = None) -> None:
    """QoS 1 as fast as the broker acknowledges, in chunks (paho's queue holds 65,535);
    readings seq 0..count-1, or `payload_of(seq)`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    # A quarter of a second apart: a tag reporting fast, but within its rate (10 a second of
    # reading time) however fast the messages arrive; and 200,000 of them within the day a
    # backlog may span (BOOMERANG_MQTT_SESSION_EXPIRY_S), as the broker's would.
    start = int((datetime.now(UTC) - timedelta(seconds=count / 4 + 60)).timestamp() * 1000)
    if payload_of is None:
        def payload_of(seq: int) -> bytes:
            return orjson.dumps({"ts": start + seq * 250, "seq": seq, "temp_c": 5.0})
    chunk = 20_000
    for first in range(0, count, chunk):
        infos = [client.publish(f"tags/{tag_id}/telemetry", payload_of(seq), qos=1)
                 for seq in range(first, min(first + chunk, count))]
        for info in infos:
            info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def publish_paced(port: int, tag_id: str, count: int, rate: float,
                  stop: threading.Event) -> None:
    """Like publish, at about `rate` messages a second."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = datetime.now(UTC) - timedelta(days=1)
    for seq in range(count):
        if stop.is_set():
            break
        reading = {"ts": (start + timedelta(seconds=seq)).isoformat(), "seq": seq, "temp_c": 5.0}
        client.publish(f"tags/{tag_id}/telemetry", orjson.dumps(reading), qos=1
                       ).wait_for_publish(10)
        time.sleep(1 / rate)
    client.disconnect()
    client.loop_stop()


def messages_received(api: str) -> float:
    return metric(api, "boomerang_ingest_messages_total")


def test_readings_received_but_not_stored_survive_a_sigkill(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    db, mqtt_url = f"k_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    nowhere = f"http://127.0.0.1:{free_port()}"  # InfluxDB down: writes fail and are retried
    with run_gateway(tmp_path / "gw", env_for(mqtt_url, nowhere, db),
                     telemetry_down=True) as gateway:
        publish(mosquitto.port, "tag-a", 200)
        wait_until(lambda: messages_received(gateway.api) == 200, 20, "200 messages in")
        gateway.kill()
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-a'"
    assert influxdb.count(db, query) == 0
    with run_gateway(tmp_path / "gw", env_for(mqtt_url, influxdb.url, db)):
        wait_until(lambda: influxdb.count(db, query) == 200, 30, "the 200 redelivered")


@pytest.mark.parametrize("kill_after", [300, 1500])
def test_a_sigkill_mid_stream_ends_with_every_reading_stored_once(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, kill_after: int
) -> None:
    db, mqtt_url = f"k_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    env = env_for(mqtt_url, influxdb.url, db)
    total = 3000
    publisher = threading.Thread(target=publish, args=(mosquitto.port, "tag-b", total))
    with run_gateway(tmp_path / "gw", env) as gateway:
        publisher.start()
        wait_until(lambda: messages_received(gateway.api) >= kill_after, 30, "mid-stream")
        gateway.kill()
    publisher.join(60)
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-b'"
    assert influxdb.count(db, query) < total
    with run_gateway(tmp_path / "gw", env):
        wait_until(lambda: influxdb.count(db, query) == total, 60, "every reading")
        values = influxdb.query(db, "SELECT seq FROM telemetry WHERE tag_id='tag-b'")
        seqs = [row[1] for row in values[0]["values"]]
        assert sorted(seqs) == list(range(total))  # each once


OUTAGE_S = 30


def readiness(api: str) -> dict[str, object]:
    result: dict[str, object] = httpx.get(f"{api}/readyz").json()
    return result


def test_an_influxdb_outage_mid_stream_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    db, mqtt_url = f"o_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    total = 3000
    with run_influxdb(tmp_path / "influx") as influx:
        influx.create_database(db)
        query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-c'"
        with run_gateway(tmp_path / "gw", env_for(mqtt_url, influx.url, db)) as gw:
            stop = threading.Event()
            publisher = threading.Thread(target=publish_paced,
                                         args=(mosquitto.port, "tag-c", total, 100.0, stop))
            publisher.start()
            wait_until(lambda: influx.count(db, query) > 200, 30, "points before the outage")
            influx.stop()
            time.sleep(OUTAGE_S / 2)
            assert readiness(gw.api)["telemetry_sink_writable"] is False
            assert metric(gw.api, "boomerang_spool_points") > 0
            time.sleep(OUTAGE_S / 2)
            influx.start()
            publisher.join(120)
            wait_until(lambda: influx.count(db, query) == total, 60, "every reading")
            wait_until(lambda: metric(gw.api, "boomerang_spool_points") == 0, 10, "spool empty")


def test_a_full_spool_stops_acknowledging_and_the_broker_keeps_the_rest(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    db, mqtt_url = f"f_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {**env_for(mqtt_url, nowhere, db), "BOOMERANG_SPOOL_MAX_POINTS": "100",
           "BOOMERANG_BATCH_MAX_POINTS": "50"}
    with run_gateway(tmp_path / "gw", env, telemetry_down=True) as gateway:
        publish(mosquitto.port, "tag-d", 500)
        wait_until(lambda: readiness(gateway.api).get("spool_not_full") is False, 30,
                   "the spool reported full")
        assert httpx.get(f"{gateway.api}/readyz").status_code == 503
        assert metric(gateway.api, "boomerang_spool_full") == 1
        gateway.kill()
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-d'"
    env["BOOMERANG_INFLUX_URL"] = influxdb.url
    with run_gateway(tmp_path / "gw", env):
        wait_until(lambda: influxdb.count(db, query) == 500, 60, "all 500: spool and broker")


BURST = int(os.environ.get("BOOMERANG_TEST_BURST", "200000"))


def test_a_burst_published_while_the_gateway_is_stopped_is_all_stored(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    """Stock mosquitto limits (1000 queued per client) would drop most of this burst; the
    project's mosquitto.conf holds it for the gateway's persistent session."""
    db, mqtt_url = f"b_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    env = env_for(mqtt_url, influxdb.url, db)
    with run_gateway(tmp_path / "gw", env):
        pass  # the broker now keeps a session for the gateway
    publish_burst(mosquitto.port, "tag-e", BURST)
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-e'"
    with run_gateway(tmp_path / "gw", env) as gateway:
        started = time.monotonic()
        wait_until(lambda: influxdb.count(db, query) == BURST, 400, f"all {BURST} stored")
        print(f"{BURST} stored in {time.monotonic() - started:.1f} s; "
              f"{metric(gateway.api, 'boomerang_ingest_messages_total')} messages")


FLOOD = 20_000


def test_a_tag_flooding_garbage_keeps_only_its_own_dead_letters_and_starves_no_one(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    """Every garbage message is dead-lettered (and counted), the flooding tag keeps only
    its newest within its quota, another tag's dead letter stays, and a well-behaved tag
    publishing during the flood has every reading stored."""
    db, mqtt_url = f"g_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    env = {**env_for(mqtt_url, influxdb.url, db),
           "BOOMERANG_DEAD_LETTER_MAX_PER_TAG": "100"}
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish_burst(mosquitto.port, "tag-h", 1, lambda seq: b"{one bad message")
        flood = threading.Thread(target=publish_burst, args=(
            mosquitto.port, "tag-f", FLOOD, lambda seq: f"garbage {seq}".encode()))
        flood.start()
        publish(mosquitto.port, "tag-g", 300)
        flood.join(120)
        query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-g'"
        wait_until(lambda: influxdb.count(db, query) == 300, 30, "tag-g's 300 readings")
        wait_until(lambda: metric(gateway.api, "boomerang_ingest_dead_letters_total")
                   == FLOOD + 1, 60, "every garbage message dead-lettered")
        kept = api.get("/api/v1/dead-letters", params={"tag_id": "tag-f", "limit": 1000}
                       ).json()["items"]
        assert len(kept) == 100
        assert kept[0]["payload"] == f"garbage {FLOOD - 1}"  # the newest
        assert len(api.get("/api/v1/dead-letters", params={"tag_id": "tag-h"}
                           ).json()["items"]) == 1
        evicted = 'boomerang_ingest_dead_letters_evicted_total{limit="per_tag_quota"}'
        assert metric(gateway.api, evicted) == FLOOD - 100


def test_sigterm_with_influxdb_down_exits_in_bounded_time_and_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    """Without a spool, points InfluxDB will not take cannot be written before exit; the
    gateway gives up after BOOMERANG_SHUTDOWN_TIMEOUT_S, and their messages, never
    acknowledged, come back from the broker to the next gateway."""
    db, mqtt_url = f"t_{uuid.uuid4().hex[:8]}", mosquitto.gateway_url()
    influxdb.create_database(db)
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {**env_for(mqtt_url, nowhere, db), "BOOMERANG_SPOOL_MAX_POINTS": "0",
           "BOOMERANG_SHUTDOWN_TIMEOUT_S": "2"}
    with run_gateway(tmp_path / "gw", env, telemetry_down=True) as gateway:
        publish(mosquitto.port, "tag-a", 50)
        wait_until(lambda: messages_received(gateway.api) == 50, 20, "50 messages in")
        started = time.monotonic()
        gateway.process.terminate()
        gateway.process.wait(30)
        took = time.monotonic() - started
        assert gateway.process.returncode == 0
        assert "points not written in time" in gateway.output()
        print(f"stopped in {took:.1f} s")
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-a'"
    with run_gateway(tmp_path / "gw", {**env, "BOOMERANG_INFLUX_URL": influxdb.url}):
        wait_until(lambda: influxdb.count(db, query) == 50, 30, "the 50 redelivered")
