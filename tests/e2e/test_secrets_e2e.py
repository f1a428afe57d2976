"""No secret reaches a log line, and the data directory is this user's alone: a gateway run at
DEBUG through everything that handles one (the broker login, InfluxDB credentials, the admin
key, API keys, a webhook URL with user info and a token, its signing secrets and their
rotation, failed deliveries, a bad setting) and every line it wrote searched for each."""

from __future__ import annotations

import os
import stat
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from support import processes
from support.common import ROOT, wait_until
from support.gateways import ADMIN_KEY, metric, run_gateway
from support.servers import GATEWAY_PASSWORD, InfluxDB, Mosquitto, publisher, run_webhook_receiver

INFLUX_PASSWORD = f"influx-secret-{uuid.uuid4().hex[:8]}"
HOOK_PASSWORD = f"hook-secret-{uuid.uuid4().hex[:8]}"
HOOK_TOKEN = f"hook-token-{uuid.uuid4().hex[:8]}"


def test_no_secret_is_ever_logged_and_the_data_is_private(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, state_engine: str,
) -> None:
    db = f"secrets_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    secrets = [GATEWAY_PASSWORD, INFLUX_PASSWORD, HOOK_PASSWORD, HOOK_TOKEN, ADMIN_KEY]
    env = {"BOOMERANG_MQTT_URL": mosquitto.gateway_url(), "BOOMERANG_INFLUX_URL": influxdb.url,
           "BOOMERANG_INFLUX_DB": db, "BOOMERANG_INFLUX_USER": "boomerang",
           "BOOMERANG_INFLUX_PASSWORD": INFLUX_PASSWORD, "BOOMERANG_LOG_LEVEL": "DEBUG",
           "BOOMERANG_WEBHOOK_RETRY_SCHEDULE_S": "0.2 0.2 0.2",
           "BOOMERANG_WEBHOOK_SECRET_OVERLAP_S": "1"}
    failures = {"left": 2}

    def answer(_: object) -> int:  # two failed attempts first: their log lines name the URL
        failures["left"] -= 1
        return 500 if failures["left"] >= 0 else 204

    with run_webhook_receiver() as receiver, \
            run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        receiver.status = answer
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hook-user:{HOOK_PASSWORD}@127.0.0.1:{port}/hook?token={HOOK_TOKEN}"
        created = api.post("/api/v1/subscriptions", json={"url": url}).json()
        secrets.append(created["secret"])
        secrets.append(api.post("/api/v1/keys", json={"scope": "read"}).json()["key"])
        asset = {"id": f"cold-{uuid.uuid4().hex[:6]}", "kind": "shipment",
                 "flow": "customer_return", "tag_id": "tag-c", "profile": "cold_chain"}
        api.post("/api/v1/assets", json=asset).raise_for_status()
        client = publisher(mosquitto.port, "tag-c")
        start = datetime.now(UTC) - timedelta(hours=1)
        for minute in (0, 10):  # warm for ten minutes: out_of_spec opens
            reading = {"ts": (start + timedelta(minutes=minute)).isoformat(), "temp_c": 12}
            client.publish("tags/tag-c/telemetry", orjson.dumps(reading), qos=1
                           ).wait_for_publish(10)
        client.disconnect()
        wait_until(lambda: len(receiver.events("alert.opened")) == 1, 30, "the alert delivered")
        rotated = api.post(f"/api/v1/subscriptions/{created['id']}/rotate-secret",
                           json={}).json()
        secrets.append(rotated["secret"])
        api.post(f"/api/v1/subscriptions/{created['id']}/test").raise_for_status()
        wait_until(lambda: len(receiver.events("webhook.test")) == 1, 30, "the test delivery")
        assert metric(gateway.api, "boomerang_webhook_attempts_total") >= 4
        data = tmp_path / "gw" / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = ["spool.db"] + (["state.db"] if state_engine == "sqlite" else [])
        for name in files:
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    logged = gateway.output()
    assert "msg=" in logged and "level=DEBUG" in logged  # it did log, at the level asked
    for number, secret in enumerate(secrets):
        assert secret not in logged, f"secret {number} is in the gateway's log"

    # A setting the gateway refuses is named without the password in its URL.
    bad = processes.run(
        [sys.executable, "-m", "gateway", "serve"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={"PATH": os.environ.get("PATH", ""),
                         "BOOMERANG_DATA_DIR": str(tmp_path / "bad"),
                         "BOOMERANG_MQTT_URL": f"mqtt://gw:{GATEWAY_PASSWORD}@host:notaport"})
    assert bad.returncode == 2 and "BOOMERANG_MQTT_URL" in bad.stderr
    assert GATEWAY_PASSWORD not in bad.stderr + bad.stdout
