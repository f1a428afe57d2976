"""Nothing is lost when the gateway dies: a QoS 1 message is acknowledged only once its
readings are stored, so the broker redelivers whatever the gateway had not written."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from realservers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    TAG_PASSWORD,
    InfluxDB,
    Mosquitto,
    free_port,
    run_gateway,
    wait_until,
)


def env_for(mosquitto: Mosquitto, influx_url: str, db: str, client_id: str) -> dict[str, str]:
    return {
        "BOOMERANG_MQTT_URL": f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{mosquitto.port}",
        "BOOMERANG_MQTT_CLIENT_ID": client_id,
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


def messages_received(api: str) -> float:
    for line in httpx.get(f"{api}/metrics").text.splitlines():
        if line.startswith("boomerang_ingest_messages_total "):
            return float(line.split()[1])
    return 0.0


def test_readings_received_but_not_stored_survive_a_sigkill(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    db, client_id = f"k_{uuid.uuid4().hex[:8]}", f"gw-{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    nowhere = f"http://127.0.0.1:{free_port()}"  # InfluxDB down: writes fail and are retried
    with run_gateway(tmp_path / "gw", env_for(mosquitto, nowhere, db, client_id)) as gateway:
        publish(mosquitto.port, "tag-a", 200)
        wait_until(lambda: messages_received(gateway.api) == 200, 20, "200 messages in")
        gateway.kill()
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-a'"
    assert influxdb.count(db, query) == 0
    with run_gateway(tmp_path / "gw", env_for(mosquitto, influxdb.url, db, client_id)):
        wait_until(lambda: influxdb.count(db, query) == 200, 30, "the 200 redelivered")


@pytest.mark.parametrize("kill_after", [300, 1500])
def test_a_sigkill_mid_stream_ends_with_every_reading_stored_once(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, kill_after: int
) -> None:
    db, client_id = f"k_{uuid.uuid4().hex[:8]}", f"gw-{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    env = env_for(mosquitto, influxdb.url, db, client_id)
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
