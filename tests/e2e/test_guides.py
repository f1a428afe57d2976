"""The guides' examples run: the tag integration examples are published with mosquitto_pub
through a real mosquitto into a real gateway and stored without a dead letter; the webhook
consumer example verifies and deduplicates real deliveries."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook
from support import processes
from support.common import ROOT, free_port, wait_until
from support.gateways import metric, run_gateway
from support.servers import GATEWAY_PASSWORD, GATEWAY_USER, TAG_PASSWORD, Mosquitto, run_mosquitto

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

EXAMPLES = ROOT / "docs" / "examples"


def test_the_tag_guide_examples_are_stored_without_a_dead_letter(tmp_path: Path) -> None:
    # An OwnTracks login, and a The Things Stack application's account ({app}@{tenant}).
    users = {"anna": TAG_PASSWORD, "returns@ttn": TAG_PASSWORD}
    with run_mosquitto(tmp_path / "mosquitto", ("tag-guide",), extra_users=users) as broker:
        env = {"BOOMERANG_MQTT_URL":
               f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}"}
        with run_gateway(tmp_path / "gw", env) as gateway:
            processes.run(
                ["sh", str(EXAMPLES / "publish_examples.sh")], check=True, timeout=60,
                env={**os.environ, "BROKER_PORT": str(broker.port), "TAG": "tag-guide",
                     "TAG_PASSWORD": TAG_PASSWORD, "OWNTRACKS_USER": "anna",
                     "OWNTRACKS_PASSWORD": TAG_PASSWORD, "TTS_USER": "returns@ttn",
                     "TTS_PASSWORD": TAG_PASSWORD})
            # 1 + 3 native readings, 1 OwnTracks location, 1 uplink.
            wait_until(lambda: metric(gateway.api, "boomerang_ingest_readings_total") == 6,
                       20, "the six example readings")
            with gateway.client() as api:
                assert api.get("/api/v1/dead-letters").json()["items"] == []


def test_the_webhook_consumer_example_verifies_and_deduplicates(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    env = {"BOOMERANG_MQTT_URL": mosquitto.gateway_url()}
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        port = free_port()
        created = api.post("/api/v1/subscriptions",
                           json={"url": f"http://127.0.0.1:{port}/hook"}).json()
        receiver = processes.popen(
            [sys.executable, str(EXAMPLES / "webhook_receiver.py"), str(port)],
            env={**os.environ, "WEBHOOK_SECRET": created["secret"]},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert receiver.stdout is not None
            assert "listening" in receiver.stdout.readline()
            for _ in range(2):
                assert api.post(f"/api/v1/subscriptions/{created['id']}/test").status_code == 202


            def delivered() -> bool:
                deliveries = api.get(f"/api/v1/subscriptions/{created['id']}/deliveries").json()
                return len(deliveries) == 2 and all(d["state"] == "delivered"
                                                    for d in deliveries)

            wait_until(delivered, 20, "both test deliveries answered 204")
            forged = httpx.post(f"http://127.0.0.1:{port}/hook", content=b"{}", headers={
                "webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
            assert forged.status_code == 401
            # A redelivery (same webhook-id) is answered, and not acted on again.
            body = b'{"type": "webhook.test", "timestamp": "2026-11-29T08:00:00Z", "data": {}}'
            now = datetime.now(UTC)
            headers = {"webhook-id": "msg_again", "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": Webhook(created["secret"]).sign(
                           "msg_again", now, body.decode())}
            for _ in range(2):
                again = httpx.post(f"http://127.0.0.1:{port}/hook", content=body,
                                   headers=headers)
                assert again.status_code == 204
        finally:
            receiver.terminate()
            output, _ = receiver.communicate(timeout=10)
        assert output.count("event webhook.test") == 3
        assert "duplicate msg_again ignored" in output
