"""register_fleet: posts assets and recalls as the REST contract describes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from device_sim import RegistrationError, plan_fleet, register_fleet

NOW = datetime(2026, 11, 29, 8, 15, tzinfo=UTC)


class FakeGateway:
    """Records requests; answers 201, or 409 for assets it has seen, or a set error."""

    def __init__(self, fail_path: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.assets: set[str] = set()
        self.fail_path = fail_path

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == self.fail_path:
            return httpx.Response(422, json={"detail": "profile 'cold_chain' not found"})
        body = json.loads(request.content)
        if request.url.path == "/api/v1/assets":
            if body["id"] in self.assets:
                return httpx.Response(409, json={"detail": "exists"})
            self.assets.add(body["id"])
        return httpx.Response(201, json=body)


@pytest.mark.asyncio
async def test_registers_every_asset_and_recall_with_the_api_key() -> None:
    plan = plan_fleet(10, now=NOW)
    gateway = FakeGateway()
    await register_fleet(plan, "http://gw.test/", "k3y", transport=httpx.MockTransport(gateway))
    assets = [r for r in gateway.requests if r.url.path == "/api/v1/assets"]
    recalls = [r for r in gateway.requests if r.url.path == "/api/v1/recalls"]
    assert len(assets) == 10 and len(recalls) == 1
    assert all(r.method == "POST" for r in gateway.requests)
    assert all(r.headers["authorization"] == "Bearer k3y" for r in gateway.requests)
    first, tag = json.loads(assets[0].content), plan.tags[0]
    assert first == {
        "id": tag.asset_id,
        "tag_id": tag.tag_id,
        "kind": tag.kind,
        "flow": tag.flow,
        "sku": tag.sku,
        "serial": tag.serial,
        "lot": tag.lot,
        "profile": tag.profile,
        "customer": tag.customer,
        "due_at": first["due_at"],
        "destination": first["destination"],
    }
    fences = {json.loads(r.content)["id"]: json.loads(r.content)
              for r in gateway.requests if r.url.path == "/api/v1/geofences"}
    fence = fences[first["destination"]]
    assert fence["name"] == tag.destination.name
    assert fence["circle"]["lat"] == tag.destination.lat
    assert tag.due_at is not None
    assert datetime.fromisoformat(first["due_at"].replace("Z", "+00:00")) == tag.due_at
    recall = json.loads(recalls[0].content)
    assert recall == {
        "sku": plan.recalls[0].sku,
        "lots": list(plan.recalls[0].lots),
        "serials": [],
        "reason": plan.recalls[0].reason,
    }


@pytest.mark.asyncio
async def test_existing_assets_answering_409_are_fine() -> None:
    plan = plan_fleet(5, now=NOW)
    gateway = FakeGateway()
    transport = httpx.MockTransport(gateway)
    await register_fleet(plan, "http://gw.test", "k", transport=transport)
    await register_fleet(plan, "http://gw.test", "k", transport=transport)
    assert len(gateway.assets) == 5


@pytest.mark.asyncio
async def test_other_errors_raise_with_the_response_body() -> None:
    gateway = FakeGateway(fail_path="/api/v1/assets")
    with pytest.raises(RegistrationError, match=r"422.*profile 'cold_chain' not found"):
        await register_fleet(
            plan_fleet(3, now=NOW), "http://gw.test", "k", transport=httpx.MockTransport(gateway)
        )
