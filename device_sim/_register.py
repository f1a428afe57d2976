"""Registers a fleet plan's assets and recalls through the gateway's REST API, as any
client of the contract would."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx

from device_sim._fleet import FleetPlan, RecallPlan, TagPlan
from device_sim._places import Place
from device_sim._readings import rfc3339

if TYPE_CHECKING:  # timeline builds on this module's geofence ids
    from device_sim.timeline import Timeline


class RegistrationError(RuntimeError):
    """The gateway refused a registration request."""


DESTINATION_RADIUS_M = 2000.0


def geofence_id(place: Place) -> str:
    """A stable geofence id for a hub or depot: `dest-` and its name, slugged."""
    slug = re.sub(r"[^a-z0-9]+", "-", place.name.lower()).strip("-")
    return f"dest-{slug}"[:64]


def geofence_body(place: Place, kind: str) -> dict[str, Any]:
    """A circle around a hub or depot, where the gateway receives or returns assets."""
    return {
        "id": geofence_id(place),
        "name": place.name,
        "kind": kind,
        "circle": {"lat": place.lat, "lon": place.lon, "radius_m": DESTINATION_RADIUS_M},
    }


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
        "destination": geofence_id(tag.destination),
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
    """POST a geofence for every destination, then every asset and recall of `plan`; 409
    (exists already) is fine.

    `transport` lets an in-process caller talk to the app without a socket (e.g. ASGI).
    """
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}"},
        transport=transport,
        timeout=30.0,
    ) as client:
        destinations = {
            geofence_id(tag.destination): geofence_body(
                tag.destination, "depot" if tag.kind == "rental" else "hub")
            for tag in plan.tags
        }
        for body in destinations.values():
            await _post(client, "/api/v1/geofences", body)
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


async def register_timeline(timeline: Timeline, api_url: str, api_key: str) -> None:
    """POST a compiled scenario's profiles, geofences, assets and recalls, in that order
    (assets name profiles and geofences); 409 (exists already) is fine."""
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30.0,
    ) as client:
        for path, bodies in (("/api/v1/profiles", timeline.profiles),
                             ("/api/v1/geofences", timeline.geofences),
                             ("/api/v1/assets", timeline.assets),
                             ("/api/v1/recalls", timeline.recalls)):
            for body in bodies:
                await _post(client, path, body)
