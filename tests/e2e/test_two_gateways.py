"""Two gateways, one PostgreSQL: one ingests and judges, the other (BOOMERANG_INGEST=false)
serves the API and delivers webhooks beside it. API writes through either are safe, what one
registers the other judges, each webhook delivery goes out once and in order per subscription
(the outbox's advisory lock), and an alert is never open twice for one key."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.common import wait_until
from support.gateways import STATE, GatewayProcess, run_gateway
from support.servers import Mosquitto, ReceivedRequest, publish_readings, run_webhook_receiver
from support.state import live_alerts_per_key

STATE_ENGINES = ("postgresql",)
TAGS = ("tag-e", "tag-f", "tag-g")


@pytest.fixture
def pair(tmp_path: Path, mosquitto: Mosquitto, state_engine: str
         ) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """A (ingests) and B (API and webhooks only), on one state database."""
    shared = STATE.url_for(tmp_path / "shared")
    common = {"BOOMERANG_STATE_URL": shared, "BOOMERANG_REGISTRY_POLL_S": "0.2",
              "BOOMERANG_TIMER_INTERVAL_S": "0.5", "BOOMERANG_MQTT_URL": mosquitto.gateway_url()}
    with run_gateway(tmp_path / "a", common) as a, run_gateway(
            tmp_path / "b", {**common, "BOOMERANG_INGEST": "false",
                             "BOOMERANG_MQTT_URL": mosquitto.gateway_url()}) as b:
        yield a, b


def test_the_same_asset_created_through_both_at_once_is_created_once(
        pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = pair
    statuses: list[int] = []
    start = threading.Barrier(2)

    def create(gateway: GatewayProcess, asset_id: str) -> None:
        with gateway.client() as api:
            start.wait()
            statuses.append(api.post("/api/v1/assets", json={
                "id": asset_id, "tag_id": f"tag-{asset_id}", "kind": "shipment",
                "flow": "customer_return"}).status_code)

    for n in range(10):
        asset_id = f"race-{n}-{uuid.uuid4().hex[:6]}"
        threads = [threading.Thread(target=create, args=(g, asset_id)) for g in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert Counter(statuses) == {201: 10, 409: 10}


def test_what_the_api_only_gateway_registers_the_ingesting_one_judges(
        pair: tuple[GatewayProcess, GatewayProcess], mosquitto: Mosquitto) -> None:
    _, b = pair
    asset_id = f"via-b-{uuid.uuid4().hex[:6]}"
    with b.client() as api:
        api.post("/api/v1/profiles", json={"name": "at-once", "metrics": {
            "temp_c": {"max": 8, "min_duration_s": 0}}}).raise_for_status()
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": TAGS[0], "kind": "shipment",
                                         "flow": "customer_return", "profile": "at-once"}
                 ).raise_for_status()
    time.sleep(1)  # five of A's registry polls
    now = datetime.now(UTC)
    publish_readings(mosquitto.port, TAGS[0], [{"ts": now.isoformat(), "temp_c": 20, "seq": 1}])
    with b.client() as api:
        wait_until(lambda: api.get("/api/v1/alerts", params={"asset_id": asset_id}
                                   ).json()["items"] != [], 15, "A judged B's asset")
        # B deletes it; A resolves its alert, as a deletion through its own API does.
        assert api.delete(f"/api/v1/assets/{asset_id}").status_code == 204
        wait_until(lambda: {alert["state"] for alert in api.get(
            "/api/v1/alerts", params={"asset_id": asset_id}).json()["items"]} == {"resolved"},
            15, "the deleted asset's alert resolved by A")


def test_each_delivery_goes_out_once_and_in_order_while_both_deliver(
        pair: tuple[GatewayProcess, GatewayProcess], mosquitto: Mosquitto) -> None:
    """A slow receiver keeps each delivery under way long enough for the other gateway's
    dispatcher to try the same subscription: only the claim keeps them apart."""
    a, b = pair

    def slowly(_: ReceivedRequest) -> int:
        time.sleep(0.05)
        return 204

    with run_webhook_receiver() as receiver:
        receiver.status = slowly
        with a.client() as api_a, b.client() as api_b:
            subscription = api_b.post("/api/v1/subscriptions", json={
                "url": receiver.url}).json()["id"]

            def outbox() -> list[dict[str, Any]]:
                listed: list[dict[str, Any]] = api_b.get(
                    f"/api/v1/subscriptions/{subscription}/deliveries",
                    params={"limit": 1000}).json()
                return sorted(listed, key=lambda d: d["seq"])

            # Alerts from A's rules: overdue rentals (its timer), then excursions (readings),
            # with test deliveries through both gateways in between.
            for n, tag_id in enumerate(TAGS[1:]):
                api_a.post("/api/v1/assets", json={
                    "id": f"order-{n}-{uuid.uuid4().hex[:6]}", "tag_id": tag_id,
                    "kind": "rental", "flow": "rental_return", "profile": "cold_chain",
                    "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
                ).raise_for_status()
            for _ in range(15):
                api_a.post(f"/api/v1/subscriptions/{subscription}/test").raise_for_status()
                api_b.post(f"/api/v1/subscriptions/{subscription}/test").raise_for_status()
            now = datetime.now(UTC)
            for tag_id in TAGS[1:]:
                publish_readings(mosquitto.port, tag_id, [
                    {"ts": (now - timedelta(minutes=m)).isoformat(), "temp_c": 20, "seq": 30 - m}
                    for m in (20, 10, 0)])
            expected = 30 + 2 * len(TAGS[1:])  # tests, overdue and out_of_spec per rental
            wait_until(lambda: len(outbox()) >= expected and all(
                d["state"] == "delivered" for d in outbox()), 60, "every delivery delivered")
            deliveries = outbox()
        received = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(received) == len(set(received)), "a delivery went out twice"
    assert received == [d["msg_id"] for d in deliveries], "deliveries out of outbox order"


def test_an_alert_is_never_open_twice_while_both_act_on_it(
        pair: tuple[GatewayProcess, GatewayProcess], mosquitto: Mosquitto) -> None:
    """A's rules update an excursion while people acknowledge it through B."""
    a, b = pair
    asset_id = f"ack-{uuid.uuid4().hex[:6]}"
    with a.client() as api_a, b.client() as api_b:
        api_a.post("/api/v1/assets", json={"id": asset_id, "tag_id": TAGS[2], "kind": "shipment",
                                           "flow": "customer_return", "profile": "cold_chain"}
                   ).raise_for_status()
        start = datetime.now(UTC) - timedelta(hours=1)
        publish_readings(mosquitto.port, TAGS[2], [
            {"ts": (start + timedelta(minutes=m)).isoformat(), "temp_c": 20 + m % 7, "seq": m}
            for m in range(0, 10)])
        wait_until(lambda: api_b.get("/api/v1/alerts", params={"asset_id": asset_id}
                                     ).json()["items"] != [], 15, "the excursion alert")
        alert_id = api_b.get("/api/v1/alerts", params={"asset_id": asset_id}
                             ).json()["items"][0]["id"]
        acknowledging = threading.Thread(target=lambda: [
            api_b.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "seen"})
            for _ in range(5)])
        acknowledging.start()
        publish_readings(mosquitto.port, TAGS[2], [
            {"ts": (start + timedelta(minutes=m)).isoformat(), "temp_c": 20 + m % 7, "seq": m}
            for m in range(10, 40)])
        acknowledging.join(30)
        wait_until(lambda: api_b.get(f"/api/v1/alerts/{alert_id}").json()["state"]
                   == "acknowledged", 15, "the acknowledgement kept")
    assert max(live_alerts_per_key(a.state_url).values()) == 1
    with httpx.Client(base_url=a.api) as plain:
        assert plain.get("/readyz").status_code == 200
