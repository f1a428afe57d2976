"""The simulator's faults through real mosquitto and a gateway process, judged by the alerts
that reach a real webhook receiver (signatures checked with `standardwebhooks`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from support.common import wait_until
from support.gateways import GatewayProcess, run_gateway
from support.servers import SIM_TAGS, TAG_PASSWORD, Mosquitto, WebhookReceiver

import device_sim


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto
            ) -> Iterator[GatewayProcess]:
    env = {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_TIMER_INTERVAL_S": "1",
        "BOOMERANG_WEBHOOK_RETRY_SCHEDULE_S": "0.2 0.5 1",
    }
    with run_gateway(tmp_path_factory.mktemp("gateway"), env) as process:
        yield process


def test_the_simulators_faults_raise_the_expected_alerts(
    gateway: GatewayProcess, mosquitto: Mosquitto, webhook_receiver: WebhookReceiver
) -> None:
    with gateway.client() as api:
        api.post("/api/v1/profiles", json={
            "name": "e2e_cold", "metrics": {"temp_c": {
                "min": 2, "max": 8, "min_duration_s": 4, "hysteresis": 0.5}},
        }).raise_for_status()
        secret = api.post("/api/v1/subscriptions", json={"url": webhook_receiver.url}
                          ).json()["secret"]
    plan = device_sim.plan_fleet(len(SIM_TAGS), seed=7, cold_chain_profile="e2e_cold")
    asyncio.run(device_sim.register_fleet(plan, gateway.api, gateway.admin_key))
    config = device_sim.SimConfig(
        broker_url=f"mqtt://127.0.0.1:{mosquitto.port}", rate=40, tag_password=TAG_PASSWORD,
        excursion_start_s=2, excursion_length_s=10, duration_s=20, malformed_every=20,
    )
    stats = asyncio.run(device_sim.run_simulator(plan, config))
    assert stats.sent > 500

    def expected(fault: str) -> set[str]:
        return {tag.asset_id for tag in plan.tags if fault in tag.faults}

    def received(event_type: str, kind: str) -> set[str]:
        return {r.json()["data"]["alert"]["asset_id"] for r in webhook_receiver.events(event_type)
                if r.json()["data"]["alert"]["kind"] == kind}

    wait_until(lambda: received("alert.resolved", "out_of_spec") == expected("excursion"), 20,
               "every excursion opened and resolved")
    assert received("alert.opened", "out_of_spec") == expected("excursion")
    assert received("alert.opened", "recall") == expected("recall")
    assert received("alert.opened", "overdue") == expected("overdue")
    opened = Counter((r.json()["data"]["alert"]["asset_id"], r.json()["data"]["alert"]["kind"])
                     for r in webhook_receiver.events("alert.opened"))
    assert max(opened.values()) == 1  # never a second alert for the same thing
    for request in webhook_receiver.requests:
        Webhook(secret).verify(request.body, request.headers)
    malformed_tags = {tag.tag_id for tag in plan.tags if "malformed" in tag.faults}
    with gateway.client() as api:
        letters = api.get("/api/v1/dead-letters", params={"limit": 1000}).json()["items"]
    assert {letter["tag_id"] for letter in letters} == malformed_tags
    assert httpx.get(f"{gateway.api}/readyz").status_code == 200
