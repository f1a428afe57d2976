"""API keys by API: an admin creates, lists and revokes them; each scope opens what it
should and nothing more; no endpoint but the health checks answers without a key (/metrics
only when BOOMERANG_METRICS_PUBLIC says so). What needs no broker runs in-process
(support/inprocess.py); the metrics of readings need one, and a gateway process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.common import wait_until
from support.gateways import STATE, GatewayProcess, run_gateway
from support.inprocess import InProcessApi, in_process_api
from support.servers import TAG_PASSWORD, Mosquitto

OPEN_PATHS = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def gateway(sqlite_gateway: GatewayProcess) -> GatewayProcess:
    return sqlite_gateway


def as_key(gateway: GatewayProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.api, headers={"Authorization": f"Bearer {key}"},
                        timeout=10)


@pytest.fixture
async def api(tmp_path: Path, state_engine: str) -> AsyncIterator[InProcessApi]:
    """The API in this process, on the module's state engine: no broker needed here."""
    async with in_process_api(tmp_path, STATE.url_for(tmp_path)) as running:
        yield running


async def test_each_scope_opens_what_it_should_and_a_revoked_key_nothing(
    api: InProcessApi,
) -> None:
    admin = api.client
    made = {scope: await admin.post("/api/v1/keys",
                                    json={"scope": scope, "name": f"{scope} desk"})
            for scope in ("read", "write", "admin")}
    assert all(r.status_code == 201 for r in made.values())
    keys = {scope: r.json()["key"] for scope, r in made.items()}
    listed = (await admin.get("/api/v1/keys")).json()
    assert {k["name"] for k in listed} >= {"read desk", "write desk", "admin desk"}
    assert all("key" not in k and "hash" not in k for k in listed)  # never shown again
    asset = {"id": f"a-{uuid.uuid4().hex[:6]}", "kind": "rental", "flow": "rental_return"}
    async with api.as_key(keys["read"]) as reader:
        assert (await reader.get("/api/v1/assets")).status_code == 200
        assert (await reader.post("/api/v1/assets", json=asset)).status_code == 403
        assert (await reader.get("/api/v1/keys")).status_code == 403
    async with api.as_key(keys["write"]) as writer:
        assert (await writer.post("/api/v1/assets", json=asset)).status_code == 201
        assert (await writer.get("/api/v1/subscriptions")).status_code == 403
        assert (await writer.post("/api/v1/keys", json={"scope": "read"})).status_code == 403
    async with api.as_key(keys["admin"]) as other_admin:
        assert (await other_admin.get("/api/v1/subscriptions")).status_code == 200
    read_id = made["read"].json()["id"]
    assert (await admin.delete(f"/api/v1/keys/{read_id}")).status_code == 204
    assert (await admin.delete(f"/api/v1/keys/{read_id}")).status_code == 404
    async with api.as_key(keys["read"]) as revoked:
        assert (await revoked.get("/api/v1/assets")).status_code == 401


async def test_a_bad_scope_is_422_naming_the_field(api: InProcessApi) -> None:
    response = await api.client.post("/api/v1/keys", json={"scope": "root"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "scope"


async def test_no_endpoint_but_health_answers_without_a_key(api: InProcessApi) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    checked = 0
    async with api.as_key(None) as anonymous:
        for path, operations in schema["paths"].items():
            concrete = path.replace("{", "x-").replace("}", "")
            for method in operations:
                response = await anonymous.request(method.upper(), concrete)
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
