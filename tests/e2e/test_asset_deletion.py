"""Deleting an asset through the REST API of a real gateway process: its open and
acknowledged alerts are resolved and announced to webhook subscribers, the alerts stay
readable, and its rule state is gone, in the running gateway and after a restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from support.common import wait_until
from support.gateways import run_gateway
from support.servers import Mosquitto, WebhookReceiver, publisher

from alerts.store import RULE_STATE
from ingest.statedb import StateDb

TAG = "tag-d"


def gateway_env(mosquitto: Mosquitto) -> dict[str, str]:
    return {"BOOMERANG_MQTT_URL": mosquitto.gateway_url()}


def publish(port: int, payload: dict[str, Any]) -> None:
    client = publisher(port, TAG)
    try:
        client.publish(f"tags/{TAG}/telemetry", orjson.dumps(payload), qos=1
                       ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def alerts_of(api: httpx.Client, asset_id: str) -> dict[str, dict[str, Any]]:
    page = api.get("/api/v1/alerts", params={"asset_id": asset_id}).json()
    return {alert["id"]: alert for alert in page["items"]}


def stored_rule_state(state_url: str, asset_id: str) -> int:
    """Rows of the asset's rule state in the gateway's state database (read beside it)."""
    db = StateDb.open(state_url)
    try:
        return int(db.scalar(select(func.count()).select_from(RULE_STATE)
                             .where(RULE_STATE.c.asset_id == asset_id)))
    finally:
        db.close()


def test_deleting_an_asset_resolves_its_alerts_and_forgets_its_rule_state(
    mosquitto: Mosquitto, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    asset_id, sku = f"del-{uuid.uuid4().hex[:8]}", f"SKU-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(microsecond=0)
    env = gateway_env(mosquitto)
    with run_gateway(tmp_path, env) as gateway, gateway.client() as api:
        api.post("/api/v1/profiles", json={"name": "strict", "metrics": {"temp_c": {"max": 8}}}
                 ).raise_for_status()
        api.post("/api/v1/subscriptions", json={"url": webhook_receiver.url,
                                                "event_types": ["alert.resolved"]}
                 ).raise_for_status()
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": TAG, "kind": "shipment",
                                         "flow": "customer_return", "sku": sku,
                                         "profile": "strict"}).raise_for_status()
        api.post("/api/v1/recalls", json={"sku": sku}).raise_for_status()  # alerts at once
        publish(mosquitto.port, {"ts": iso(now), "seq": 1, "temp_c": 20.0})
        wait_until(lambda: len(alerts_of(api, asset_id)) == 2, 15, "recall and out_of_spec")
        live = alerts_of(api, asset_id)
        excursion = next(a for a in live.values() if a["kind"] == "out_of_spec")
        api.post(f"/api/v1/alerts/{excursion['id']}/acknowledge", json={"note": "looking"}
                 ).raise_for_status()
        assert stored_rule_state(gateway.state_url, asset_id) > 0

        assert api.delete(f"/api/v1/assets/{asset_id}").status_code == 204

        after = alerts_of(api, asset_id)
        assert after.keys() == live.keys()  # kept, for the record
        for alert in after.values():
            assert alert["state"] == "resolved", alert
            assert alert["details"]["resolution"] == "asset deleted"
            assert alert["details"]["resolved_by"]  # the key that deleted it
        wait_until(lambda: {r.json()["data"]["alert"]["id"]
                            for r in webhook_receiver.events("alert.resolved")} == live.keys(),
                   15, "alert.resolved for both alerts")
        assert stored_rule_state(gateway.state_url, asset_id) == 0

    with run_gateway(tmp_path, env) as gateway, gateway.client() as api:
        assert stored_rule_state(gateway.state_url, asset_id) == 0
        assert {a["state"] for a in alerts_of(api, asset_id).values()} == {"resolved"}
        # The same id and tag again start afresh: a reading older than the deleted asset's
        # newest is judged (the old newest reading time would have set it aside).
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": TAG, "kind": "shipment",
                                         "flow": "customer_return", "profile": "strict"}
                 ).raise_for_status()
        publish(mosquitto.port, {"ts": iso(now - timedelta(minutes=30)), "seq": 2,
                                 "temp_c": 21.0})
        wait_until(lambda: any(a["state"] == "open" and a["kind"] == "out_of_spec"
                               for a in alerts_of(api, asset_id).values()), 15,
                   "a new out_of_spec alert for the asset registered again")
