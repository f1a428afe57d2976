"""The whole path on real servers: tag -> mosquitto -> gateway -> InfluxDB, alerts -> webhook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from standardwebhooks.webhooks import Webhook
from support import processes
from support.common import wait_until
from support.gateways import GatewayProcess, run_gateway
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    InfluxDB,
    Mosquitto,
    WebhookReceiver,
    publisher,
)


def publish(client: mqtt.Client, topic: str, payload: bytes | dict[str, object]) -> int:
    """Publish QoS 1 and wait for the PUBACK; returns its reason code value."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    codes: list[int] = []
    client.on_publish = lambda _c, _u, _mid, reason, _p: codes.append(reason.value)
    info = client.publish(topic, data, qos=1)
    info.wait_for_publish(10)
    wait_until(lambda: bool(codes), 10, "PUBACK")
    return codes[0]


@pytest.fixture(scope="module")
def database(influxdb: InfluxDB, state_engine: str) -> str:
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    return name


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto, influxdb: InfluxDB,
    database: str, state_engine: str,
) -> Iterator[GatewayProcess]:
    env = {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_INFLUX_URL": influxdb.url,
        "BOOMERANG_INFLUX_DB": database,
        "BOOMERANG_WEBHOOK_RETRY_SCHEDULE_S": "0.2 0.5 1 2",
    }
    with run_gateway(tmp_path_factory.mktemp("gateway"), env) as process:
        yield process


def reading(ts: datetime, seq: int, **values: float) -> dict[str, object]:
    return {"ts": ts.isoformat().replace("+00:00", "Z"), "seq": seq, **values}


def test_readings_land_in_influxdb_with_the_asset_binding(
    gateway: GatewayProcess, mosquitto: Mosquitto, influxdb: InfluxDB, database: str
) -> None:
    with gateway.client() as api:
        api.post("/api/v1/assets", json={"id": "asset-a", "tag_id": "tag-a", "kind": "shipment",
                                         "flow": "customer_return", "sku": "SKU-1"}
                 ).raise_for_status()
    start = datetime.now(UTC) - timedelta(minutes=30)
    client = publisher(mosquitto.port, "tag-a")
    for seq in range(20):
        publish(client, "tags/tag-a/telemetry",
                reading(start + timedelta(seconds=seq), seq, temp_c=20.0, lat=52.5, lon=13.4))
    batch = {"readings": [reading(start + timedelta(minutes=5, seconds=i), 100 + i,
                                  battery_pct=80) for i in range(30)]}
    publish(client, "tags/tag-a/telemetry", batch)
    client.disconnect()

    query = "SELECT count(seq) FROM telemetry WHERE tag_id='tag-a' AND asset_id='asset-a'"
    wait_until(lambda: influxdb.count(database, query) == 50, 15, "50 points in InfluxDB")
    series = influxdb.query(database, "SHOW TAG VALUES FROM telemetry WITH KEY = flow")
    assert series[0]["values"] == [["flow", "customer_return"]]


def test_unregistered_tag_is_stored_as_unassigned(
    gateway: GatewayProcess, mosquitto: Mosquitto, influxdb: InfluxDB, database: str
) -> None:
    client = publisher(mosquitto.port, "tag-b")
    publish(client, "tags/tag-b/telemetry", {"temp_c": 21.5, "seq": 1})
    client.disconnect()
    query = "SELECT count(temp_c) FROM telemetry WHERE tag_id='tag-b' AND asset_id='unassigned'"
    wait_until(lambda: influxdb.count(database, query) == 1, 15, "the unassigned point")


def test_excursion_opens_one_alert_and_resolves_it_at_a_verified_webhook(
    gateway: GatewayProcess, mosquitto: Mosquitto, influxdb: InfluxDB, database: str,
    webhook_receiver: WebhookReceiver,
) -> None:
    with gateway.client() as api:
        created = api.post("/api/v1/subscriptions", json={"url": webhook_receiver.url})
        created.raise_for_status()
        secret = created.json()["secret"]
        api.post("/api/v1/assets", json={
            "id": "asset-c", "tag_id": "tag-c", "kind": "shipment", "flow": "warranty_repair",
            "profile": "cold_chain"}).raise_for_status()
    # cold_chain: 2-8 C, 300 s minimum, hysteresis 0.5; readings a minute apart.
    temps = [5, 10, 11, 12, 11, 10, 10.5, 11, 8.2, 7.0, 6.0]
    start = datetime.now(UTC) - timedelta(hours=1)
    client = publisher(mosquitto.port, "tag-c")
    for seq, temp in enumerate(temps):
        publish(client, "tags/tag-c/telemetry",
                reading(start + timedelta(minutes=seq), seq, temp_c=temp, lat=48.1, lon=11.6))
    client.disconnect()

    wait_until(lambda: len(webhook_receiver.events("alert.resolved")) == 1, 15,
               "alert.resolved at the receiver")
    opened = webhook_receiver.events("alert.opened")
    resolved = webhook_receiver.events("alert.resolved")
    assert len(opened) == 1
    for request in opened + resolved:
        Webhook(secret).verify(request.body, request.headers)  # raises on a bad signature
    alert = opened[0].json()["data"]["alert"]
    assert alert["kind"] == "out_of_spec" and alert["asset_id"] == "asset-c"
    # Outside since minute 1; minute 6 is the first reading 300 s later.
    assert alert["opened_at"].startswith((start + timedelta(minutes=6)).isoformat()[:16])
    assert alert["details"]["peak"] == 12
    assert alert["location"]["lat"] == 48.1
    assert resolved[0].json()["data"]["alert"]["id"] == alert["id"]
    assert resolved[0].json()["data"]["alert"]["resolved_at"].startswith(
        (start + timedelta(minutes=9)).isoformat()[:16])
    query = "SELECT count(alert_id) FROM alerts WHERE asset_id='asset-c'"
    wait_until(lambda: influxdb.count(database, query) == 2, 15, "2 alert points")


def test_malformed_payload_is_dead_lettered_and_ingest_goes_on(
    gateway: GatewayProcess, mosquitto: Mosquitto, influxdb: InfluxDB, database: str
) -> None:
    client = publisher(mosquitto.port, "tag-d")
    publish(client, "tags/tag-d/telemetry", b"{not json")
    publish(client, "tags/tag-d/telemetry", {"lat": 52.0, "seq": 2})
    publish(client, "tags/tag-d/telemetry", {"readings": [{"temp_c": 4.0, "seq": 3},
                                                          {"temp_c": 400.0, "seq": 4}]})
    publish(client, "tags/tag-d/telemetry", {"temp_c": 5.0, "seq": 5})
    client.disconnect()
    query = "SELECT count(temp_c) FROM telemetry WHERE tag_id='tag-d'"
    wait_until(lambda: influxdb.count(database, query) == 2, 15, "the 2 valid readings")
    with gateway.client() as api:
        letters = api.get("/api/v1/dead-letters", params={"tag_id": "tag-d"}).json()["items"]
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(reasons) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("lat and lon must come together" in r for r in reasons)
    assert any(r.startswith("reading 1: temp_c") for r in reasons)
    assert "{not json" in [letter["payload"] for letter in letters]


def test_duplicate_seq_is_stored_once(
    gateway: GatewayProcess, mosquitto: Mosquitto, influxdb: InfluxDB, database: str
) -> None:
    client = publisher(mosquitto.port, "tag-e")
    now = datetime.now(UTC)
    publish(client, "tags/tag-e/telemetry", reading(now - timedelta(seconds=5), 7, temp_c=1.0))
    publish(client, "tags/tag-e/telemetry", reading(now - timedelta(seconds=4), 7, temp_c=2.0))
    publish(client, "tags/tag-e/telemetry", reading(now - timedelta(seconds=3), 8, temp_c=3.0))
    client.disconnect()
    query = "SELECT count(temp_c) FROM telemetry WHERE tag_id='tag-e'"
    wait_until(lambda: influxdb.count(database, query) == 2, 15, "2 points")
    values = influxdb.query(database, "SELECT temp_c FROM telemetry WHERE tag_id='tag-e'")
    assert [row[1] for row in values[0]["values"]] == [1.0, 3.0]


def test_a_tag_cannot_publish_into_another_tags_topic(mosquitto: Mosquitto) -> None:
    received: list[str] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.username_pw_set(GATEWAY_USER, GATEWAY_PASSWORD)
    watcher.on_message = lambda _c, _u, message: received.append(message.topic)
    subscribed: list[bool] = []
    watcher.on_subscribe = lambda *_: subscribed.append(True)
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.loop_start()
    watcher.subscribe("tags/+/telemetry", qos=1)
    wait_until(lambda: bool(subscribed), 10, "SUBACK")

    intruder = publisher(mosquitto.port, "tag-f")
    denied = publish(intruder, "tags/tag-g/telemetry", {"temp_c": 1.0})
    allowed = publish(intruder, "tags/tag-f/telemetry", {"temp_c": 1.0})
    intruder.disconnect()
    wait_until(lambda: "tags/tag-f/telemetry" in received, 10, "the allowed message")
    watcher.disconnect()
    assert denied == 135  # not authorized
    assert allowed == 0
    assert "tags/tag-g/telemetry" not in received


def test_api_requires_a_key_and_the_right_scope(gateway: GatewayProcess) -> None:
    """No key or an unknown one: 401. A key of too small a scope: 403, and nothing done.
    The scope it has: the request goes through."""
    body = {"kind": "rental", "flow": "rental_return", "tag_id": "tag-h"}
    with gateway.client() as api:
        assert api.post("/api/v1/assets", json=body, headers={"Authorization": ""}
                        ).status_code == 401
        assert api.get("/api/v1/assets", headers={"Authorization": "Bearer nope"}
                       ).status_code == 401
        assert api.get("/healthz", headers={"Authorization": ""}).status_code == 200
        keys = {scope: api.post("/api/v1/keys", json={"scope": scope, "name": f"a {scope} key"}
                                ).json()["key"] for scope in ("read", "write")}
        as_read = {"Authorization": f"Bearer {keys['read']}"}
        as_write = {"Authorization": f"Bearer {keys['write']}"}
        asset_id = f"scoped-{uuid.uuid4().hex[:8]}"
        refused = api.post("/api/v1/assets", json={**body, "id": asset_id}, headers=as_read)
        assert refused.status_code == 403 and "'write' needed" in refused.json()["detail"]
        assert api.get(f"/api/v1/assets/{asset_id}").status_code == 404  # nothing done
        assert api.get("/api/v1/assets", headers=as_read).status_code == 200
        assert api.get("/api/v1/keys", headers=as_write).status_code == 403  # admin only
        created = api.post("/api/v1/assets", json={**body, "id": asset_id}, headers=as_write)
        assert created.status_code == 201, created.text
        assert api.get(f"/api/v1/assets/{asset_id}", headers=as_read).json()["tag_id"] == "tag-h"
        api.delete(f"/api/v1/assets/{asset_id}").raise_for_status()


def test_serve_refuses_a_bad_setting_and_names_it(tmp_path: Path) -> None:
    import sys

    result = processes.run(
        [sys.executable, "-m", "gateway", "serve"],
        env={"BOOMERANG_MQTT_URL": "http://broker", "BOOMERANG_DATA_DIR": str(tmp_path),
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "BOOMERANG_MQTT_URL" in result.stderr
