"""`/api/v1/geofences`: circles and GeoJSON polygons used as destinations and allowed areas."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Response, status

from alerts.domain import Circle, Geofence
from gateway.api._deps import ReadKey, ServicesDep, WriteKey
from gateway.api.schemas import CircleIn, GeofenceIn, GeofenceOut, HandlesIn

router = APIRouter(prefix="/api/v1/geofences", tags=["geofences"])


def geofence_out(fence: Geofence) -> GeofenceOut:
    return GeofenceOut(
        id=fence.id, name=fence.name, kind=fence.kind,
        circle=CircleIn.model_validate(asdict(fence.circle)) if fence.circle else None,
        geometry=fence.geometry,
        handles=HandlesIn.model_validate({"flows": list(fence.flows),
                                          "categories": list(fence.categories),
                                          "services": list(fence.services)}),
        handling_cost=fence.handling_cost, daily_capacity=fence.daily_capacity)


def _geofence(fence_id: str, body: GeofenceIn) -> Geofence:
    handles = body.handles or HandlesIn()
    return Geofence(
        id=fence_id, name=body.name, kind=body.kind,
        circle=Circle(**body.circle.model_dump()) if body.circle else None,
        geometry=body.geometry,
        flows=tuple(str(flow) for flow in handles.flows),
        categories=tuple(handles.categories),
        services=tuple(str(service) for service in handles.services),
        handling_cost=body.handling_cost, daily_capacity=body.daily_capacity,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GeofenceOut,
             responses={409: {"description": "id exists"},
                        422: {"description": "a field is invalid (geometry: why)"}})
async def create_geofence(body: GeofenceIn, services: ServicesDep, _: WriteKey) -> GeofenceOut:
    fence = _geofence(body.id or f"geo_{uuid.uuid4().hex[:12]}", body)
    return geofence_out(await services.geofences.create(fence))


@router.put("/{fence_id}", response_model=GeofenceOut,
            responses={404: {"description": "no geofence"},
                       422: {"description": "a field is invalid, or the id differs"}})
async def replace_geofence(
    fence_id: str, body: GeofenceIn, services: ServicesDep, _: WriteKey
) -> GeofenceOut:
    """A new name, kind or shape (a depot moved, an area redrawn); the assets that use it
    are judged against the new shape from their next reading."""
    fence = _geofence(body.id if body.id is not None else fence_id, body)
    return geofence_out(await services.geofences.replace(fence_id, fence))


@router.get("", response_model=list[GeofenceOut])
async def list_geofences(services: ServicesDep, _: ReadKey) -> list[GeofenceOut]:
    return [geofence_out(fence) for fence in await services.geofences.all()]


@router.get("/{fence_id}", response_model=GeofenceOut,
            responses={404: {"description": "no geofence"}})
async def get_geofence(fence_id: str, services: ServicesDep, _: ReadKey) -> GeofenceOut:
    return geofence_out(await services.geofences.get(fence_id))


@router.delete("/{fence_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no geofence"},
                          409: {"description": "assets use it"}})
async def delete_geofence(fence_id: str, services: ServicesDep, _: WriteKey) -> Response:
    await services.geofences.delete(fence_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
