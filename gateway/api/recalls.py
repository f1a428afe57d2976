"""`/api/v1/recalls`: create, read, update (`active: false` ends one), delete, list (filters,
sorting, cursors), CSV import."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from gateway.api._csv import (
    IMPORT_RESPONSES,
    OPENAPI_CSV_BODY,
    ImportMode,
    parse_rows,
    read_csv_body,
    report,
)
from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api._paging import PageRequest, page_request
from gateway.api.schemas import (
    ImportReport,
    Page,
    RecallCsvRow,
    RecallIn,
    RecallOut,
    RecallPatch,
)
from gateway.domain import Recall
from gateway.registry import RecallOrder

router = APIRouter(prefix="/api/v1/recalls", tags=["recalls"])

RecallPaging = Annotated[PageRequest[RecallOrder],
                         Depends(page_request(RecallOrder, "created_at", ": oldest first"))]


def recall_out(recall: Recall) -> RecallOut:
    return RecallOut.model_validate(asdict(recall))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RecallOut,
             responses={409: {"description": "id exists"}})
async def create_recall(body: RecallIn, gateway: GatewayDep, _: WriteKey) -> RecallOut:
    if body.id and gateway.registry.get_recall(body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"recall {body.id} exists")
    recall = Recall(id=body.id or "", sku=body.sku, lots=tuple(body.lots),
                    serials=tuple(body.serials), reason=body.reason)
    return recall_out(gateway.create_recall(recall))


@router.get("", response_model=Page[RecallOut],
            responses={422: {"description": "an unknown sort field, or a bad cursor"}})
async def list_recalls(
    gateway: GatewayDep,
    _: ReadKey,
    paging: RecallPaging,
    sku: str | None = None,
    active: Annotated[bool | None, Query(description="true: running; false: ended")] = None,
) -> Page[RecallOut]:
    """Oldest first unless `sort` says otherwise, a page at a time."""
    recalls, next_key = gateway.registry.recall_page(
        paging.order, limit=paging.limit, after=paging.after, sku=sku, active=active)
    return paging.page([recall_out(r) for r in recalls], next_key)


@router.post(":import", response_model=ImportReport, openapi_extra=OPENAPI_CSV_BODY,
             responses=IMPORT_RESPONSES)
async def import_recalls(
    request: Request,
    gateway: GatewayDep,
    _: WriteKey,
    mode: Annotated[ImportMode, Query(
        description="upsert: a row whose id exists updates that recall (only the columns the "
        "file has); create: such a row is rejected")] = "upsert",
) -> Response:
    """A CSV file of recalls, one a row; the header names the columns (id, sku, lots,
    serials, reason, active), `lots` and `serials` separated by `;`. Matching assets alert
    once the file is in."""
    rows = await parse_rows(await read_csv_body(request), RecallCsvRow,
                            lists=frozenset(("lots", "serials")), empty={"reason": ""})
    return report(await gateway.import_recalls(rows, create_only=mode == "create"))


@router.get("/{recall_id}", response_model=RecallOut,
            responses={404: {"description": "no recall"}})
async def get_recall(recall_id: str, gateway: GatewayDep, _: ReadKey) -> RecallOut:
    recall = gateway.registry.get_recall(recall_id)
    if recall is None:
        raise not_found("recall", recall_id)
    return recall_out(recall)


@router.patch("/{recall_id}", response_model=RecallOut,
              responses={404: {"description": "no recall"},
                         422: {"description": "a field is invalid, or is id"}})
async def update_recall(
    recall_id: str, body: RecallPatch, gateway: GatewayDep, _: WriteKey
) -> RecallOut:
    """Changes the fields given. Assets that match the recall as it is now alert at once;
    alerts already open stay open (they resolve on arrival or by hand)."""
    current = gateway.registry.get_recall(recall_id)
    if current is None:
        raise not_found("recall", recall_id)
    changes = body.model_dump(exclude_unset=True)
    for name in ("lots", "serials"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return recall_out(gateway.update_recall(replace(current, **changes)))


@router.delete("/{recall_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no recall"}})
async def delete_recall(recall_id: str, gateway: GatewayDep, _: WriteKey) -> Response:
    """No asset alerts for it from then on; its alerts stay, for the record."""
    if not gateway.delete_recall(recall_id):
        raise not_found("recall", recall_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
