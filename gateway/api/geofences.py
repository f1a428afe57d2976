"""`/api/v1/geofences`: circles and GeoJSON polygons used as destinations and allowed areas."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Response, status

from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import GeofenceIn, GeofenceOut
from gateway.domain import Circle, Geofence

router = APIRouter(prefix="/api/v1/geofences", tags=["geofences"])


def geofence_out(fence: Geofence) -> GeofenceOut:
    return GeofenceOut.model_validate(asdict(fence))


def _geofence(fence_id: str, body: GeofenceIn) -> Geofence:
    return Geofence(
        id=fence_id, name=body.name, kind=body.kind,
        circle=Circle(**body.circle.model_dump()) if body.circle else None,
        geometry=body.geometry,
    )


def _save(gateway: GatewayDep, fence: Geofence) -> GeofenceOut:
    try:
        gateway.save_geofence(fence)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "geometry"], "msg": str(exc), "type": "value_error"}]) from None
    return geofence_out(fence)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GeofenceOut,
             responses={409: {"description": "id exists"},
                        422: {"description": "a field is invalid (geometry: why)"}})
async def create_geofence(body: GeofenceIn, gateway: GatewayDep, _: WriteKey) -> GeofenceOut:
    fence = _geofence(body.id or f"geo_{uuid.uuid4().hex[:12]}", body)
    if fence.id in gateway.engine.zones:
        raise HTTPException(status.HTTP_409_CONFLICT, f"geofence {fence.id} exists")
    return _save(gateway, fence)


@router.put("/{fence_id}", response_model=GeofenceOut,
            responses={404: {"description": "no geofence"},
                       422: {"description": "a field is invalid, or the id differs"}})
async def replace_geofence(
    fence_id: str, body: GeofenceIn, gateway: GatewayDep, _: WriteKey
) -> GeofenceOut:
    """A new name, kind or shape (a depot moved, an area redrawn); the assets that use it
    are judged against the new shape from their next reading."""
    if fence_id not in gateway.engine.zones:
        raise not_found("geofence", fence_id)
    if body.id is not None and body.id != fence_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "id"], "msg": "must equal the id in the path",
             "type": "value_error"}])
    return _save(gateway, _geofence(fence_id, body))


@router.get("", response_model=list[GeofenceOut])
async def list_geofences(gateway: GatewayDep, _: ReadKey) -> list[GeofenceOut]:
    return [geofence_out(zone.fence) for zone in gateway.engine.zones.values()]


@router.get("/{fence_id}", response_model=GeofenceOut,
            responses={404: {"description": "no geofence"}})
async def get_geofence(fence_id: str, gateway: GatewayDep, _: ReadKey) -> GeofenceOut:
    zone = gateway.engine.zones.get(fence_id)
    if zone is None:
        raise not_found("geofence", fence_id)
    return geofence_out(zone.fence)


@router.delete("/{fence_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no geofence"},
                          409: {"description": "assets use it"}})
async def delete_geofence(fence_id: str, gateway: GatewayDep, _: WriteKey) -> Response:
    if fence_id not in gateway.engine.zones:
        raise not_found("geofence", fence_id)
    users = gateway.places.geofence_in_use(fence_id)
    if users:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"assets use geofence {fence_id}: {', '.join(users)}")
    gateway.delete_geofence(fence_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
