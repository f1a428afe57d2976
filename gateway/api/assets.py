"""`/api/v1/assets`."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import AssetIn, AssetOut, Page
from gateway.domain import Asset, AssetKind, AssetState, Flow
from gateway.registry import TagAlreadyBound

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut.model_validate(asdict(asset))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetOut,
             responses={409: {"description": "id exists, or the tag is bound to another asset"},
                        422: {"description": "a field is invalid"}})
async def create_asset(body: AssetIn, gateway: GatewayDep, _: WriteKey) -> AssetOut:
    unknown = []
    if body.profile and body.profile not in gateway.engine.profiles:
        unknown.append(("profile", f"unknown profile {body.profile!r}"))
    for field in ("destination", "allowed_area"):
        fence_id = getattr(body, field)
        if fence_id and fence_id not in gateway.engine.zones:
            unknown.append((field, f"unknown geofence {fence_id!r}"))
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", field], "msg": msg, "type": "value_error"}
             for field, msg in unknown],
        )
    asset = Asset(**body.model_dump(exclude={"id"}), id=body.id or f"ast_{uuid.uuid4().hex[:16]}")
    try:
        return asset_out(gateway.create_asset(asset))
    except TagAlreadyBound as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except sqlite3.IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"asset {asset.id} exists") from None


@router.get("", response_model=Page[AssetOut])
async def list_assets(
    gateway: GatewayDep,
    _: ReadKey,
    tag_id: str | None = None,
    kind: AssetKind | None = None,
    flow: Flow | None = None,
    sku: str | None = None,
    serial: str | None = None,
    lot: str | None = None,
    customer: str | None = None,
    state: AssetState | None = None,
    destination: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[AssetOut]:
    assets = gateway.registry.assets(
        limit=limit + 1, after_id=cursor, tag_id=tag_id, kind=kind, flow=flow, sku=sku,
        serial=serial, lot=lot, customer=customer, state=state, destination=destination,
    )
    more = len(assets) > limit
    assets = assets[:limit]
    return Page[AssetOut](items=[asset_out(a) for a in assets],
                          next_cursor=assets[-1].id if more else None)


@router.get("/{asset_id}", response_model=AssetOut, responses={404: {"description": "no asset"}})
async def get_asset(asset_id: str, gateway: GatewayDep, _: ReadKey) -> AssetOut:
    asset = gateway.registry.get_asset(asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    return asset_out(asset)
