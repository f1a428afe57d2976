"""Registers a fleet plan's assets and recalls through the gateway's REST API, as any
client of the contract would."""

from __future__ import annotations

from typing import Any

import httpx

from device_sim._fleet import FleetPlan, RecallPlan, TagPlan
from device_sim._readings import rfc3339


class RegistrationError(RuntimeError):
    """The gateway refused a registration request."""


def asset_body(tag: TagPlan) -> dict[str, Any]:
    """The JSON body that registers tag's asset."""
    return {
        "id": tag.asset_id,
        "tag_id": tag.tag_id,
        "kind": tag.kind,
        "flow": tag.flow,
        "sku": tag.sku,
        "serial": tag.serial,
        "lot": tag.lot,
        "profile": tag.profile,
        "customer": tag.customer,
        "due_at": rfc3339(tag.due_at) if tag.due_at is not None else None,
    }


def recall_body(recall: RecallPlan) -> dict[str, Any]:
    """The JSON body that creates a recall."""
    return {
        "sku": recall.sku,
        "lots": list(recall.lots),
        "serials": list(recall.serials),
        "reason": recall.reason,
    }


async def register_fleet(
    plan: FleetPlan,
    api_url: str,
    api_key: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """POST every asset and recall of `plan`; 409 (exists already) is fine.

    `transport` lets an in-process caller talk to the app without a socket (e.g. ASGI).
    """
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}"},
        transport=transport,
        timeout=30.0,
    ) as client:
        for tag in plan.tags:
            await _post(client, "/api/v1/assets", asset_body(tag))
        for recall in plan.recalls:
            await _post(client, "/api/v1/recalls", recall_body(recall))


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    if response.status_code == 409 or response.is_success:
        return
    raise RegistrationError(
        f"POST {response.request.url} answered {response.status_code}: {response.text[:2000]}"
    )
