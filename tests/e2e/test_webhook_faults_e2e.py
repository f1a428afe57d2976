"""Webhook delivery through a gateway process when things go wrong: the receiver down for a
while, the gateway killed with SIGKILL mid-delivery, one subscriber hanging beside a
healthy one, failed deliveries replayed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from support.common import free_port, wait_until
from support.gateways import GatewayProcess, run_gateway
from support.servers import Mosquitto, ReceivedRequest, WebhookReceiver, run_webhook_receiver


@pytest.fixture
def env(mosquitto: Mosquitto) -> dict[str, str]:
    return {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_API_PORT": str(free_port()),
        "BOOMERANG_WEBHOOK_RETRY_SCHEDULE_S": " ".join(["0.3"] * 40),
        "BOOMERANG_WEBHOOK_TIMEOUT_S": "5",
    }


def subscribe(gateway: GatewayProcess, url: str) -> tuple[str, str]:
    with gateway.client() as api:
        created = api.post("/api/v1/subscriptions", json={"url": url})
        created.raise_for_status()
        return created.json()["id"], created.json()["secret"]


def raise_recall_alerts(gateway: GatewayProcess, count: int, sku: str) -> None:
    """`count` assets of one sku, then a recall of it: `count` alert.opened events at once.
    (Registered without a trip: an opening trip would be a trip.status_changed each.)"""
    with gateway.client() as api:
        for n in range(count):
            api.post("/api/v1/assets", json={"id": f"{sku}-{n:03d}", "kind": "shipment",
                                             "flow": "recall", "sku": sku,
                                             "open_trip": False}).raise_for_status()
        api.post("/api/v1/recalls", json={"sku": sku}).raise_for_status()


def outbox_order(gateway: GatewayProcess, subscription_id: str) -> list[str]:
    with gateway.client() as api:
        deliveries = api.get(f"/api/v1/subscriptions/{subscription_id}/deliveries",
                             params={"limit": 1000}).json()
    return [d["msg_id"] for d in sorted(deliveries, key=lambda d: d["seq"])]


def first_seen(requests: list[ReceivedRequest]) -> list[str]:
    """webhook-ids in order of first receipt: what a consumer deduplicating by id sees."""
    seen: dict[str, None] = {}
    for request in requests:
        seen.setdefault(request.headers["webhook-id"], None)
    return list(seen)


def test_a_receiver_down_for_a_while_gets_everything_in_order_once_up(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with run_gateway(tmp_path / "gw", env) as gateway:
        subscription_id, secret = subscribe(gateway, url)
        raise_recall_alerts(gateway, 20, "DOWN")
        time.sleep(2)  # every first attempt meets a closed port
        with run_webhook_receiver(port) as receiver:
            wait_until(lambda: len(first_seen(receiver.requests)) == 20, 30, "20 events")
            assert first_seen(receiver.requests) == outbox_order(gateway, subscription_id)
            with gateway.client() as api:
                log = api.get(f"/api/v1/subscriptions/{subscription_id}/deliveries",
                              params={"limit": 1000}).json()
            first = min(log, key=lambda d: d["seq"])
            assert first["state"] == "delivered" and first["attempts"] >= 2
            assert [a["status"] for a in first["attempt_log"]][-1] == 204
            assert all("Connect" in (a["error"] or "") for a in first["attempt_log"][:-1])
            assert len(receiver.requests) == 20  # nothing sent twice once it was up
            for request in receiver.requests:
                Webhook(secret).verify(request.body, request.headers)


def test_a_gateway_killed_mid_delivery_delivers_everything_after_restart(
    tmp_path: Path, env: dict[str, str]
) -> None:
    def slow(_: ReceivedRequest) -> int:
        time.sleep(0.05)
        return 204

    with run_webhook_receiver() as receiver:
        receiver.status = slow
        with run_gateway(tmp_path / "gw", env) as gateway:
            subscription_id, _ = subscribe(gateway, receiver.url)
            raise_recall_alerts(gateway, 60, "KILL")
            wait_until(lambda: len(receiver.requests) >= 15, 30, "15 deliveries")
            gateway.kill()
            assert len(first_seen(receiver.requests)) < 60
        with run_gateway(tmp_path / "gw", env) as gateway:
            wait_until(lambda: len(first_seen(receiver.requests)) == 60, 60, "all 60 events")
            assert first_seen(receiver.requests) == outbox_order(gateway, subscription_id)
            # At least once: a redelivery carries the same webhook-id (counted once above).
            assert len(receiver.requests) - 60 <= 1


def test_a_hanging_subscriber_does_not_hold_up_a_healthy_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    release = threading.Event()

    def hang(_: ReceivedRequest) -> int:
        release.wait(20)
        return 204

    with run_webhook_receiver() as stuck, run_webhook_receiver() as healthy, \
            run_gateway(tmp_path / "gw", env) as gateway:
        stuck.status = hang
        subscribe(gateway, stuck.url)
        subscribe(gateway, healthy.url)
        raise_recall_alerts(gateway, 10, "HANG")
        wait_until(lambda: len(healthy.requests) == 10, 10, "the healthy subscriber's 10")
        assert len(stuck.requests) == 1  # still waiting on its first answer
        release.set()


def test_410_gone_disables_the_subscription(
    tmp_path: Path, env: dict[str, str], webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = lambda _: 410
    with run_gateway(tmp_path / "gw", env) as gateway:
        subscription_id, _ = subscribe(gateway, webhook_receiver.url)
        raise_recall_alerts(gateway, 3, "GONE")
        with gateway.client() as api:
            wait_until(lambda: not api.get(f"/api/v1/subscriptions/{subscription_id}"
                                           ).json()["enabled"], 10, "the subscription disabled")
        time.sleep(1)
        assert len(webhook_receiver.requests) == 1

        # The receiver is back: enabled again, the two held deliveries go out, and the one
        # that met the 410 comes back by replay.
        webhook_receiver.status = lambda _: 204
        with gateway.client() as api:
            path = f"/api/v1/subscriptions/{subscription_id}"
            enabled = api.patch(path, json={"enabled": True})
            assert enabled.status_code == 200
            assert enabled.json()["enabled"] and enabled.json()["disabled_reason"] is None
            wait_until(lambda: len(webhook_receiver.requests) == 3, 10, "the held two")
            assert api.post(f"{path}/replay").json() == {"replayed": 1}
            wait_until(lambda: len(webhook_receiver.requests) == 4, 10, "the replayed one")
            ids = [r.headers["webhook-id"] for r in webhook_receiver.requests]
            assert ids[3] == ids[0] and len(set(ids)) == 3


def test_a_subscription_changes_url_and_filters_and_can_be_paused(
    tmp_path: Path, env: dict[str, str], webhook_receiver: WebhookReceiver
) -> None:
    with (run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api,
          run_webhook_receiver() as second):
        subscription_id, _ = subscribe(gateway, "http://127.0.0.1:9/nobody")
        path = f"/api/v1/subscriptions/{subscription_id}"
        changed = api.patch(path, json={"url": second.url, "alert_kinds": ["recall"],
                                        "description": "ERP"})
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["url"], body["alert_kinds"], body["description"]) == (
            second.url, ["recall"], "ERP")
        assert body["event_types"] == []  # left out: unchanged
        raise_recall_alerts(gateway, 1, "MOVED")
        wait_until(lambda: len(second.requests) == 1, 10, "a delivery to the new URL")
        paused = api.patch(path, json={"enabled": False}).json()
        assert not paused["enabled"] and paused["disabled_reason"]
        raise_recall_alerts(gateway, 1, "PAUSED")
        time.sleep(0.5)
        assert len(second.requests) == 1
        for bad, loc in (({"url": "ftp://x/y"}, ["body", "url"]),
                         ({"flows": ["sideways"]}, ["body", "flows", 0]),
                         ({"secret": "mine"}, ["body", "secret"])):
            refused = api.patch(path, json=bad)
            assert refused.status_code == 422
            assert loc in [e["loc"] for e in refused.json()["detail"]]
        assert api.get(path).json()["url"] == second.url
        assert api.patch("/api/v1/subscriptions/sub_nope", json={}).status_code == 404


def test_a_secret_is_shown_once_and_never_again(
    tmp_path: Path, env: dict[str, str], webhook_receiver: WebhookReceiver
) -> None:
    with run_gateway(tmp_path / "gw", env) as gateway:
        subscription_id, secret = subscribe(gateway, webhook_receiver.url)
        with gateway.client() as api:
            rotated = api.post(f"/api/v1/subscriptions/{subscription_id}/rotate-secret",
                               json={"overlap_s": 60}).json()["secret"]
            raise_recall_alerts(gateway, 1, "SECRET")
            wait_until(lambda: len(webhook_receiver.requests) == 1, 10, "a delivery")
            reads = [api.get("/api/v1/subscriptions").text,
                     api.get(f"/api/v1/subscriptions/{subscription_id}").text,
                     api.get(f"/api/v1/subscriptions/{subscription_id}/deliveries").text]
        for text in [*reads, gateway.output()]:
            assert secret not in text and rotated not in text
            assert "whsec_" not in text


def test_replay_puts_failed_deliveries_back_and_they_go_out_with_their_ids(
    tmp_path: Path, env: dict[str, str], webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = lambda _: 500
    env = {**env, "BOOMERANG_WEBHOOK_RETRY_SCHEDULE_S": "0.1"}  # failed at the 2nd attempt
    with run_gateway(tmp_path / "gw", env) as gateway, gateway.client() as api:
        subscription_id, _ = subscribe(gateway, webhook_receiver.url)
        path = f"/api/v1/subscriptions/{subscription_id}"

        def deliveries() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = api.get(f"{path}/deliveries").json()
            return sorted(listed, key=lambda d: d["seq"])

        before = datetime.now(UTC)
        raise_recall_alerts(gateway, 2, "REPLAY")
        wait_until(lambda: [d["state"] for d in deliveries()] == ["failed", "failed"], 15,
                   "both deliveries failed")
        first, second = deliveries()
        assert [a["status"] for a in first["attempt_log"]] == [500, 500]

        # Nothing failed in a range before the events, nor under an unknown seq.
        for params in ({"until": before.isoformat()}, {"seq": second["seq"] + 1000}):
            replayed = api.post(f"{path}/replay", params=params)
            assert replayed.status_code == 200 and replayed.json() == {"replayed": 0}, params
        webhook_receiver.status = lambda _: 204
        time.sleep(0.3)
        assert [d["state"] for d in deliveries()] == ["failed", "failed"]

        # One by seq, then every failed one: each goes out again under its own webhook-id.
        replayed = api.post(f"{path}/replay", params={"seq": first["seq"]})
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
        wait_until(lambda: deliveries()[0]["state"] == "delivered", 10, "the first replayed")
        assert deliveries()[1]["state"] == "failed"
        replayed = api.post(f"{path}/replay", params={"since": before.isoformat()})
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
        wait_until(lambda: deliveries()[1]["state"] == "delivered", 10, "the second replayed")
        assert api.post(f"{path}/replay").json() == {"replayed": 0}  # nothing failed now

        for delivery in deliveries():
            assert [a["status"] for a in delivery["attempt_log"]] == [500, 500, 204]
            assert delivery["attempts"] == 1  # counted afresh from the replay
        delivered = [r.headers["webhook-id"] for r in webhook_receiver.requests
                     if r.headers["webhook-id"] in {first["msg_id"], second["msg_id"]}]
        f, s = first["msg_id"], second["msg_id"]
        assert delivered == [f, f, s, s, f, s]
