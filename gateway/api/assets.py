"""`/api/v1/assets`: create, read, update, delete, list (filters, sorting, cursors) and CSV
import."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from alerts.domain import Asset, AssetKind, AssetState, Flow
from gateway.api._csv import (
    IMPORT_RESPONSES,
    OPENAPI_CSV_BODY,
    ImportMode,
    parse_rows,
    read_csv_body,
    report,
)
from gateway.api._deps import ReadKey, ServicesDep, WriteKey
from gateway.api._paging import PageRequest, page_request
from gateway.api.schemas import (
    AssetCsvRow,
    AssetIn,
    AssetOut,
    AssetPatch,
    ImportReport,
    Page,
    TripStatusName,
)
from gateway.registry import AssetOrder

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])

AssetPaging = Annotated[PageRequest[AssetOrder], Depends(page_request(
    AssetOrder, "id", ". Assets without a due_at, customer or sku come last (first when "
    "descending)"))]


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut.model_validate(asdict(asset))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetOut,
             responses={409: {"description": "id exists, or the tag is bound to another asset"},
                        422: {"description": "a field is invalid"}})
async def create_asset(body: AssetIn, services: ServicesDep, _: WriteKey) -> AssetOut:
    """Registers an asset and, unless `open_trip` is false, opens its first trip from its
    flow, customer, due_at, destination and allowed_area (docs/lifecycle.md)."""
    asset = Asset(**body.model_dump(exclude={"id", "open_trip"}),
                  id=body.id or f"ast_{uuid.uuid4().hex[:16]}")
    return asset_out(await services.assets.create(asset, open_trip=body.open_trip))


@router.get("", response_model=Page[AssetOut],
            responses={422: {"description": "an unknown sort field, or a bad cursor"}})
async def list_assets(
    services: ServicesDep,
    _: ReadKey,
    paging: AssetPaging,
    tag_id: str | None = None,
    kind: AssetKind | None = None,
    flow: Flow | None = None,
    sku: str | None = None,
    serial: str | None = None,
    lot: str | None = None,
    customer: str | None = None,
    state: AssetState | None = None,
    destination: str | None = None,
    category: str | None = None,
    trip_status: TripStatusName | None = None,
) -> Page[AssetOut]:
    assets, next_key = await services.assets.page(
        paging.order, limit=paging.limit, after=paging.after, tag_id=tag_id, kind=kind,
        flow=flow, sku=sku, serial=serial, lot=lot, customer=customer, state=state,
        destination=destination, category=category, trip_status=trip_status,
    )
    return paging.page([asset_out(a) for a in assets], next_key)


@router.post(":import", response_model=ImportReport, openapi_extra=OPENAPI_CSV_BODY,
             responses=IMPORT_RESPONSES)
async def import_assets(
    request: Request,
    services: ServicesDep,
    _: WriteKey,
    mode: Annotated[ImportMode, Query(
        description="upsert: a row whose id exists updates that asset (only the columns the "
        "file has); create: such a row is rejected")] = "upsert",
) -> Response:
    """A CSV file of assets, one a row; the header names the columns (AssetIn's fields).
    Every row is reported: created, updated or rejected with the field at fault and why."""
    rows = await parse_rows(await read_csv_body(request), AssetCsvRow)
    return report(await services.assets.import_rows(rows, create_only=mode == "create"))


@router.get("/{asset_id}", response_model=AssetOut, responses={404: {"description": "no asset"}})
async def get_asset(asset_id: str, services: ServicesDep, _: ReadKey) -> AssetOut:
    return asset_out(await services.assets.get(asset_id))


@router.patch("/{asset_id}", response_model=AssetOut,
              responses={404: {"description": "no asset"},
                         409: {"description": "the tag is bound to another asset"},
                         422: {"description": "a field is invalid, or is id"}})
async def update_asset(
    asset_id: str, body: AssetPatch, services: ServicesDep, _: WriteKey
) -> AssetOut:
    """Changes the fields given (null clears one); the rule engine judges the asset as it is
    now from the next reading or timer tick on."""
    return asset_out(await services.assets.update(asset_id, body.model_dump(exclude_unset=True)))


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no asset"}})
async def delete_asset(asset_id: str, services: ServicesDep, key: WriteKey) -> Response:
    """Frees its tag (whose readings are stored as `unassigned` from then on), resolves its
    open and acknowledged alerts (subscribers hear `alert.resolved`) and forgets its rule
    state; its alerts stay, resolved, for the record."""
    await services.assets.delete(asset_id, by=key.name or key.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
