"""`/api/v1/assets`: create, read, update, delete, list (filters, sorting, cursors) and CSV
import."""

from __future__ import annotations

import base64
import binascii
import sqlite3
import uuid
from dataclasses import asdict, replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from gateway.api._csv import (
    IMPORT_RESPONSES,
    OPENAPI_CSV_BODY,
    ImportMode,
    parse_rows,
    read_csv_body,
    report,
)
from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import AssetCsvRow, AssetIn, AssetOut, AssetPatch, ImportReport, Page
from gateway.domain import Asset, AssetKind, AssetState, Flow
from gateway.imports import Problem, unknown_references
from gateway.registry import ASSET_SORT_FIELDS, AssetOrder, SortKey, TagAlreadyBound

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])

SORT_HELP = (f"`field` or `-field` (descending), one of {', '.join(ASSET_SORT_FIELDS)}; ties by "
             "id. Assets without a due_at, customer or sku come last (first when descending)")


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut.model_validate(asdict(asset))


def _invalid(where: str, problems: list[Problem]) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": [where, p.field], "msg": p.reason, "type": "value_error"} for p in problems],
    )


def _check_references(asset: Asset, gateway: GatewayDep) -> None:
    problems = unknown_references(asset, gateway.engine.profiles, gateway.engine.zones)
    if problems:
        raise _invalid("body", problems)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetOut,
             responses={409: {"description": "id exists, or the tag is bound to another asset"},
                        422: {"description": "a field is invalid"}})
async def create_asset(body: AssetIn, gateway: GatewayDep, _: WriteKey) -> AssetOut:
    asset = Asset(**body.model_dump(exclude={"id"}), id=body.id or f"ast_{uuid.uuid4().hex[:16]}")
    _check_references(asset, gateway)
    try:
        return asset_out(gateway.create_asset(asset))
    except TagAlreadyBound as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except sqlite3.IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"asset {asset.id} exists") from None


def _encode_cursor(order: AssetOrder, key: SortKey) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(order), *key])).decode().rstrip("=")


def _decode_cursor(cursor: str, order: AssetOrder) -> SortKey:
    """The key a cursor carries; 422 unless it is one this API made for the same sort."""
    try:
        data: Any = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    if not (isinstance(data, list) and len(data) == order.key_length + 1
            and all(isinstance(v, str) or v is None for v in data) and isinstance(data[-1], str)):
        raise _invalid("query", [Problem("cursor", "not a cursor this API made: pass "
                                          "next_cursor of the previous page as it is")])
    if data[0] != str(order):
        raise _invalid("query", [Problem("cursor", f"this cursor pages sort={data[0]}, "
                                          f"not sort={order}")])
    return tuple(data[1:])


@router.get("", response_model=Page[AssetOut],
            responses={422: {"description": "an unknown sort field, or a bad cursor"}})
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
    sort: Annotated[str, Query(description=SORT_HELP)] = "id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page (the "
                                        "same sort; filters may change)")] = None,
) -> Page[AssetOut]:
    try:
        order = AssetOrder.parse(sort)
    except ValueError as exc:
        raise _invalid("query", [Problem("sort", str(exc))]) from None
    after = _decode_cursor(cursor, order) if cursor is not None else None
    assets, next_key = gateway.registry.asset_page(
        order, limit=limit, after=after, tag_id=tag_id, kind=kind, flow=flow, sku=sku,
        serial=serial, lot=lot, customer=customer, state=state, destination=destination,
    )
    return Page[AssetOut](items=[asset_out(a) for a in assets],
                          next_cursor=_encode_cursor(order, next_key) if next_key else None)


@router.post(":import", response_model=ImportReport, openapi_extra=OPENAPI_CSV_BODY,
             responses=IMPORT_RESPONSES)
async def import_assets(
    request: Request,
    gateway: GatewayDep,
    _: WriteKey,
    mode: Annotated[ImportMode, Query(
        description="upsert: a row whose id exists updates that asset (only the columns the "
        "file has); create: such a row is rejected")] = "upsert",
) -> ImportReport:
    """A CSV file of assets, one a row; the header names the columns (AssetIn's fields).
    Every row is reported: created, updated or rejected with the field at fault and why."""
    rows = parse_rows(await read_csv_body(request), AssetCsvRow)
    return report(gateway.import_assets(rows, create_only=mode == "create"))


@router.get("/{asset_id}", response_model=AssetOut, responses={404: {"description": "no asset"}})
async def get_asset(asset_id: str, gateway: GatewayDep, _: ReadKey) -> AssetOut:
    asset = gateway.registry.get_asset(asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    return asset_out(asset)


@router.patch("/{asset_id}", response_model=AssetOut,
              responses={404: {"description": "no asset"},
                         409: {"description": "the tag is bound to another asset"},
                         422: {"description": "a field is invalid, or is id"}})
async def update_asset(
    asset_id: str, body: AssetPatch, gateway: GatewayDep, _: WriteKey
) -> AssetOut:
    """Changes the fields given (null clears one); the rule engine judges the asset as it is
    now from the next reading or timer tick on."""
    current = gateway.registry.get_asset(asset_id)
    if current is None:
        raise not_found("asset", asset_id)
    asset = replace(current, **body.model_dump(exclude_unset=True))
    _check_references(asset, gateway)
    try:
        return asset_out(gateway.update_asset(asset))
    except TagAlreadyBound as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"asset {asset_id} cannot take tag {exc.tag_id}: it is bound to "
                            f"asset {exc.asset_id}") from None


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no asset"}})
async def delete_asset(asset_id: str, gateway: GatewayDep, _: WriteKey) -> Response:
    """Frees its tag (whose readings are stored as `unassigned` from then on); its alerts
    stay, for the record."""
    if not gateway.delete_asset(asset_id):
        raise not_found("asset", asset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
