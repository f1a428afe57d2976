"""One message, one point, one tag against the whole gateway on real servers (mosquitto from
the project's configuration, InfluxDB 1.6, `boomerang serve`): each of the messages that
once stopped ingest is dead-lettered alone while the gateway stays up and ready, also after a
restart; a point InfluxDB refuses costs only itself; a flooding tag is cut to its rate; a
login cannot speak for another's tag; a write that hangs does not hold up shutdown."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.common import wait_until
from support.gateways import GatewayProcess, metric, run_gateway
from support.servers import (
    TAG_PASSWORD,
    InfluxDB,
    Mosquitto,
    publisher,
    run_mosquitto,
    silent_server,
)

TAGS = ("tag-p1", "tag-p2", "tag-p3", "tag-p4", "anna-phone")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, state_engine: str) -> Iterator[Mosquitto]:
    logins = {"anna": TAG_PASSWORD, "shop@acme": TAG_PASSWORD}
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto"), TAGS,
                       extra_users=logins) as mosquitto:
        yield mosquitto


def publish(port: int, login: str, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(login, TAG_PASSWORD)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for info in [client.publish(topic, payload, qos=1) for payload in payloads]:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def reading(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def letters(api: httpx.Client, tag_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/v1/dead-letters",
                                          params={"tag_id": tag_id, "limit": 1000}
                                          ).json()["items"]
    return items


def latest_seq(api: httpx.Client, tag_id: str) -> int | None:
    response = api.get(f"/api/v1/tags/{tag_id}/latest")
    return response.json()["seq"] if response.status_code == 200 else None


def ready(gateway: GatewayProcess) -> bool:
    return bool(httpx.get(f"{gateway.api}/readyz").json()["ready"])


NOW = datetime.now(UTC)
POISON = [
    # OverflowError in the native decoder's time parsing: the consumer died, `gateway
    # stopped`, and died again on every restart, the broker redelivering it.
    reading(ts="0001-01-01T00:00:00+14:00", temp_c=4, seq=1),
    # "Python int too large to convert to SQLite INTEGER": retried forever, ingest stopped.
    reading(ts=NOW.isoformat(), seq=2**63, temp_c=4),
    # Epoch milliseconds past what a datetime holds: once an OverflowError too.
    reading(ts=2**64 - 1, seq=3, temp_c=4),
    b'{"readings": [' + b"[" * 300 + b"]" * 300 + b"]}",
]


def test_the_messages_that_once_stopped_ingest_are_dead_lettered_alone(
    tmp_path: Path, broker: Mosquitto,
) -> None:
    env = {"BOOMERANG_MQTT_URL": broker.gateway_url()}  # telemetry in SQLite
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish(broker.port, "tag-p1", "tags/tag-p1/telemetry", POISON)
        publish(broker.port, "tag-p2", "tags/tag-p2/telemetry",
                [reading(temp_c=5, seq=n) for n in range(1, 4)])
        wait_until(lambda: latest_seq(api, "tag-p2") == 3, 30, "tag-p2's readings")
        wait_until(lambda: len(letters(api, "tag-p1")) == len(POISON), 30, "the dead letters")
        causes = sorted(letter["cause"] for letter in letters(api, "tag-p1"))
        assert causes == ["invalid_reading"] * 4
        assert ready(gateway)
    # The broker has nothing left to redeliver: a restart starts clean, and ingests.
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish(broker.port, "tag-p2", "tags/tag-p2/telemetry", [reading(temp_c=5, seq=4)])
        wait_until(lambda: latest_seq(api, "tag-p2") == 4, 30, "a reading after the restart")
        assert len(letters(api, "tag-p1")) == len(POISON) and ready(gateway)
        assert "stopped:" not in gateway.output()


def test_a_point_influxdb_refuses_takes_only_itself_to_the_dead_letters(
    tmp_path: Path, broker: Mosquitto, influxdb: InfluxDB,
) -> None:
    """An extra field that changes type is a field type conflict in InfluxDB: its point is
    refused within a batch of 2,000 good ones of other tags, which are all stored."""
    db = f"poison_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    env = {"BOOMERANG_MQTT_URL": broker.gateway_url(), "BOOMERANG_INFLUX_URL": influxdb.url,
           "BOOMERANG_INFLUX_DB": db, "BOOMERANG_BATCH_MAX_DELAY_S": "3"}
    start = NOW - timedelta(hours=2)
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish(broker.port, "tag-p3", "tags/tag-p3/telemetry",
                [reading(ts=start.isoformat(), seq=1, temp_c=4, door=True)])
        wait_until(lambda: influxdb.count(db, "SELECT count(seq) FROM telemetry") == 1, 30,
                   "the boolean door field stored")
        good = [reading(ts=(start + timedelta(seconds=n)).isoformat(), seq=n, temp_c=5)
                for n in range(1, 1001)]
        threads = [threading.Thread(target=publish, args=(broker.port, tag,
                                                          f"tags/{tag}/telemetry", good))
                   for tag in ("tag-p2", "tag-p4")]
        for thread in threads:
            thread.start()
        publish(broker.port, "tag-p3", "tags/tag-p3/telemetry",
                [reading(ts=(start + timedelta(seconds=5)).isoformat(), seq=2, temp_c=4,
                         door="open")])
        for thread in threads:
            thread.join(60)
        wait_until(lambda: influxdb.count(db, "SELECT count(seq) FROM telemetry") == 2001, 60,
                   "every good point stored")
        wait_until(lambda: bool(letters(api, "tag-p3")), 30, "the refused point")
        (refused,) = letters(api, "tag-p3")
        assert refused["cause"] == "sink_refused" and "field type conflict" in refused["reason"]
        assert 'door="open"' in refused["payload"]
        assert ready(gateway)


def test_a_tag_flooding_readings_is_cut_to_its_rate_and_the_others_land(
    tmp_path: Path, broker: Mosquitto,
) -> None:
    env = {"BOOMERANG_MQTT_URL": broker.gateway_url(), "BOOMERANG_TAG_RATE_MAX_PER_S": "2",
           "BOOMERANG_TAG_RATE_BURST": "50"}
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        flood = threading.Thread(target=publish, args=(
            broker.port, "tag-p1", "tags/tag-p1/telemetry",
            [reading(temp_c=5, seq=n) for n in range(5000)]))  # no ts: received now
        flood.start()
        calm = [reading(ts=(NOW - timedelta(minutes=300 - n)).isoformat(), seq=n, temp_c=5)
                for n in range(300)]  # a backlog a minute apart: within any rate
        publish(broker.port, "tag-p4", "tags/tag-p4/telemetry", calm)
        flood.join(120)
        wait_until(lambda: latest_seq(api, "tag-p4") == 299, 30, "the calm tag's readings")
        wait_until(lambda: metric(gateway.api, "boomerang_ingest_messages_total") >= 5300, 60,
                   "every message handled")
        stored = metric(gateway.api, "boomerang_ingest_readings_total")
        limited = metric(gateway.api, "boomerang_ingest_rate_limited_total")
        assert stored + limited == 5300 and 300 + 50 <= stored < 300 + 200
        samples = letters(api, "tag-p1")
        assert 1 <= len(samples) <= 10 and {s["cause"] for s in samples} == {"rate_limited"}


def test_a_login_speaks_only_for_its_own_tags(tmp_path: Path, broker: Mosquitto) -> None:
    env = {"BOOMERANG_MQTT_URL": broker.gateway_url()}
    location = orjson.dumps({"_type": "location", "lat": 52.5, "lon": 13.4,
                             "tst": int(time.time())})
    uplink = orjson.dumps({"uplink_message": {"decoded_payload": {"temp_c": 4},
                                              "received_at": datetime.now(UTC).isoformat()}})
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish(broker.port, "anna-phone", "tags/anna-phone/telemetry", [reading(temp_c=3)])
        wait_until(lambda: api.get("/api/v1/tags/anna-phone/speaker").status_code == 200, 30,
                   "the native tag's claim")
        # anna's login may publish owntracks/anna/+ (the ACL), but anna-phone is a tag of
        # its own; the application's login may write its devices, but not that tag.
        publish(broker.port, "anna", "owntracks/anna/phone", [location])
        publish(broker.port, "shop@acme", "v3/shop@acme/devices/anna-phone/up", [uplink])
        publish(broker.port, "shop@acme", "v3/shop@acme/devices/sensor-9/up", [uplink])
        wait_until(lambda: len(letters(api, "anna-phone")) == 2, 30, "two refusals")
        assert {letter["cause"] for letter in letters(api, "anna-phone")} == {"not_owner"}
        assert api.get("/api/v1/tags/sensor-9/speaker").json() == {
            "tag_id": "sensor-9", "speaker": "things_stack:shop@acme"}
        # An administrator lets the tag go: the next message claims it.
        assert api.delete("/api/v1/tags/sensor-9/speaker").status_code == 204
        assert api.get("/api/v1/tags/sensor-9/speaker").status_code == 404
        assert api.delete("/api/v1/tags/sensor-9/speaker").status_code == 404


def test_an_oversized_payload_is_kept_as_its_head_length_and_hash(
    tmp_path: Path, broker: Mosquitto,
) -> None:
    payload = b"x" * (300 * 1024)  # over the 256 KiB a message may have
    env = {"BOOMERANG_MQTT_URL": broker.gateway_url(),
           "BOOMERANG_DEAD_LETTER_PAYLOAD_BYTES": "1000"}
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        publish(broker.port, "tag-p2", "tags/tag-p2/telemetry", [payload])
        wait_until(lambda: bool(letters(api, "tag-p2")), 30, "the dead letter")
        (letter,) = letters(api, "tag-p2")
        assert letter["cause"] == "too_large" and letter["payload"] == "x" * 1000
        assert letter["payload_bytes"] == len(payload)
        assert letter["payload_sha256"] == hashlib.sha256(payload).hexdigest()


def test_shutdown_with_an_influxdb_that_never_answers_keeps_its_timeout(
    tmp_path: Path, broker: Mosquitto,
) -> None:
    """The write under way is cut at BOOMERANG_SHUTDOWN_TIMEOUT_S (its messages are not
    acknowledged: the broker keeps them), not retried after its cancellation."""
    with silent_server() as influx_url:
        env = {"BOOMERANG_MQTT_URL": broker.gateway_url(), "BOOMERANG_INFLUX_URL": influx_url,
               "BOOMERANG_SPOOL_MAX_POINTS": "0", "BOOMERANG_SHUTDOWN_TIMEOUT_S": "2"}
        with run_gateway(tmp_path / "gw", env, telemetry_down=True) as gateway:
            client = publisher(broker.port, "tag-p3")
            client.publish("tags/tag-p3/telemetry", reading(temp_c=4, seq=1), qos=1
                           ).wait_for_publish(10)
            client.disconnect()
            wait_until(lambda: metric(gateway.api, "boomerang_ingest_readings_total") >= 1, 30,
                       "the reading handled")
            time.sleep(1)  # its write is under way, and hangs
            gateway.process.send_signal(signal.SIGTERM)
            # The timeout plus the time to start the interpreter's exit: far less than the
            # write's own 30 s timeout, which a retried cancellation would wait out, again.
            gateway.process.wait(12)
            assert "write failed, retrying" not in gateway.output()
