"""The gateway's MQTT session: persistent across its own restart, and it reconnects after
the broker restarts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from support.common import wait_until
from support.gateways import run_gateway
from support.servers import TAG_PASSWORD, InfluxDB, Mosquitto


def publish_readings(port: int, tag_id: str, seqs: range) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = datetime.now(UTC) - timedelta(hours=1)
    for seq in seqs:
        reading = {"ts": (start + timedelta(seconds=seq)).isoformat(), "seq": seq, "temp_c": 5.0}
        client.publish(f"tags/{tag_id}/telemetry", orjson.dumps(reading), qos=1
                       ).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def gateway_env(mosquitto: Mosquitto, influxdb: InfluxDB, db: str) -> dict[str, str]:
    return {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_INFLUX_URL": influxdb.url,
        "BOOMERANG_INFLUX_DB": db,
    }


def test_readings_published_while_the_gateway_is_down_arrive_when_it_returns(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    db = f"s_{uuid.uuid4().hex[:8]}"
    env = gateway_env(mosquitto, influxdb, db)
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-a'"
    with run_gateway(tmp_path / "gw", env):
        publish_readings(mosquitto.port, "tag-a", range(0, 10))
        wait_until(lambda: influxdb.count(db, query) == 10, 15, "10 readings")
    publish_readings(mosquitto.port, "tag-a", range(10, 60))  # the gateway is stopped
    with run_gateway(tmp_path / "gw", env):
        wait_until(lambda: influxdb.count(db, query) == 60, 15, "the 50 queued readings")


def test_the_gateway_reconnects_after_the_broker_restarts(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    db = f"s_{uuid.uuid4().hex[:8]}"
    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-b'"
    with run_gateway(tmp_path / "gw", gateway_env(mosquitto, influxdb, db)) as gateway:
        publish_readings(mosquitto.port, "tag-b", range(0, 5))
        wait_until(lambda: influxdb.count(db, query) == 5, 15, "5 readings")
        mosquitto.stop()
        mosquitto.start()
        publish_readings(mosquitto.port, "tag-b", range(5, 15))
        wait_until(lambda: influxdb.count(db, query) == 15, 30, "readings after the restart")
        assert "reconnecting" in gateway.output()
