"""API keys by API: an admin creates, lists and revokes them; each scope opens what it
should and nothing more; no endpoint but the health checks answers without a key (/metrics
only when BOOMERANG_METRICS_PUBLIC says so)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.common import wait_until
from support.gateways import GatewayProcess, run_gateway
from support.servers import TAG_PASSWORD, Mosquitto

OPEN_PATHS = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def gateway(sqlite_gateway: GatewayProcess) -> GatewayProcess:
    return sqlite_gateway


def as_key(gateway: GatewayProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.api, headers={"Authorization": f"Bearer {key}"},
                        timeout=10)


def test_each_scope_opens_what_it_should_and_a_revoked_key_nothing(
    gateway: GatewayProcess,
) -> None:
    with gateway.client() as admin:
        made = {scope: admin.post("/api/v1/keys", json={"scope": scope, "name": f"{scope} desk"})
                for scope in ("read", "write", "admin")}
        assert all(r.status_code == 201 for r in made.values())
        keys = {scope: r.json()["key"] for scope, r in made.items()}
        listed = admin.get("/api/v1/keys").json()
        assert {k["name"] for k in listed} >= {"read desk", "write desk", "admin desk"}
        assert all("key" not in k and "hash" not in k for k in listed)  # never shown again
        asset = {"id": f"a-{uuid.uuid4().hex[:6]}", "kind": "rental", "flow": "rental_return"}
        with as_key(gateway, keys["read"]) as reader:
            assert reader.get("/api/v1/assets").status_code == 200
            assert reader.post("/api/v1/assets", json=asset).status_code == 403
            assert reader.get("/api/v1/keys").status_code == 403
        with as_key(gateway, keys["write"]) as writer:
            assert writer.post("/api/v1/assets", json=asset).status_code == 201
            assert writer.get("/api/v1/subscriptions").status_code == 403
            assert writer.post("/api/v1/keys", json={"scope": "read"}).status_code == 403
        with as_key(gateway, keys["admin"]) as other_admin:
            assert other_admin.get("/api/v1/subscriptions").status_code == 200
        read_id = made["read"].json()["id"]
        assert admin.delete(f"/api/v1/keys/{read_id}").status_code == 204
        assert admin.delete(f"/api/v1/keys/{read_id}").status_code == 404
        with as_key(gateway, keys["read"]) as revoked:
            assert revoked.get("/api/v1/assets").status_code == 401


def test_a_bad_scope_is_422_naming_the_field(gateway: GatewayProcess) -> None:
    with gateway.client() as admin:
        response = admin.post("/api/v1/keys", json={"scope": "root"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "scope"


def test_no_endpoint_but_health_answers_without_a_key(
    gateway: GatewayProcess,
) -> None:
    schema = httpx.get(f"{gateway.api}/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        concrete = path.replace("{", "x-").replace("}", "")
        for method in operations:
            response = httpx.request(method.upper(), f"{gateway.api}{concrete}", timeout=10)
            if path in OPEN_PATHS:
                assert response.status_code in (200, 503), path
            else:
                assert response.status_code == 401, f"{method.upper()} {path}"
                checked += 1
    assert checked >= 20


def test_metrics_count_requests_by_route_rules_and_the_outbox(
    gateway: GatewayProcess, mosquitto: Mosquitto
) -> None:
    with gateway.client() as admin:
        for _ in range(3):
            assert admin.get("/api/v1/alerts").status_code == 200
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.username_pw_set("tag-a", TAG_PASSWORD)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    publisher.publish("tags/tag-a/telemetry", b'{"temp_c": 5.0}', qos=1).wait_for_publish(10)
    publisher.loop_stop()
    publisher.disconnect()

    def sample(name: str) -> float:
        with gateway.client() as admin:
            text = admin.get("/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return -1.0

    wait_until(lambda: sample("boomerang_rules_readings_judged_total") >= 1, 10, "judged")
    requests = ('boomerang_http_requests_total{handler="/api/v1/alerts",method="GET",'
                'status="200"}')
    assert sample(requests) >= 3
    assert sample("boomerang_rules_judge_seconds_count") >= 1
    assert sample("boomerang_outbox_pending") == 0


def test_metrics_need_a_key_of_any_scope_unless_made_public(
    gateway: GatewayProcess, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    assert httpx.get(f"{gateway.api}/metrics").status_code == 401
    with gateway.client() as admin:
        key = admin.post("/api/v1/keys", json={"scope": "read", "name": "scraper"}).json()["key"]
    with as_key(gateway, key) as scraper:
        answer = scraper.get("/metrics")
        assert answer.status_code == 200
        assert "boomerang_ingest_readings_total" in answer.text
    env = {"BOOMERANG_METRICS_PUBLIC": "true", "BOOMERANG_MQTT_URL": mosquitto.gateway_url()}
    with run_gateway(tmp_path, env) as public:
        assert httpx.get(f"{public.api}/metrics").status_code == 200
        assert httpx.get(f"{public.api}/api/v1/alerts").status_code == 401
