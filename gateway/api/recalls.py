"""`/api/v1/recalls`: create, read, update (`active: false` ends one), delete, list (filters,
sorting, cursors), CSV import."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from alerts.domain import Recall
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
    ImportReport,
    Page,
    RecallCsvRow,
    RecallIn,
    RecallOut,
    RecallPatch,
)
from gateway.registry import RecallOrder

router = APIRouter(prefix="/api/v1/recalls", tags=["recalls"])

RecallPaging = Annotated[PageRequest[RecallOrder],
                         Depends(page_request(RecallOrder, "created_at", ": oldest first"))]


def recall_out(recall: Recall) -> RecallOut:
    return RecallOut.model_validate(asdict(recall))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RecallOut,
             responses={409: {"description": "id exists"}})
async def create_recall(body: RecallIn, services: ServicesDep, _: WriteKey) -> RecallOut:
    recall = Recall(id=body.id or "", sku=body.sku, lots=tuple(body.lots),
                    serials=tuple(body.serials), reason=body.reason)
    return recall_out(await services.recalls.create(recall))


@router.get("", response_model=Page[RecallOut],
            responses={422: {"description": "an unknown sort field, or a bad cursor"}})
async def list_recalls(
    services: ServicesDep,
    _: ReadKey,
    paging: RecallPaging,
    sku: str | None = None,
    active: Annotated[bool | None, Query(description="true: running; false: ended")] = None,
) -> Page[RecallOut]:
    """Oldest first unless `sort` says otherwise, a page at a time."""
    recalls, next_key = await services.recalls.page(
        paging.order, limit=paging.limit, after=paging.after, sku=sku, active=active)
    return paging.page([recall_out(r) for r in recalls], next_key)


@router.post(":import", response_model=ImportReport, openapi_extra=OPENAPI_CSV_BODY,
             responses=IMPORT_RESPONSES)
async def import_recalls(
    request: Request,
    services: ServicesDep,
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
    return report(await services.recalls.import_rows(rows, create_only=mode == "create"))


@router.get("/{recall_id}", response_model=RecallOut,
            responses={404: {"description": "no recall"}})
async def get_recall(recall_id: str, services: ServicesDep, _: ReadKey) -> RecallOut:
    return recall_out(await services.recalls.get(recall_id))


@router.patch("/{recall_id}", response_model=RecallOut,
              responses={404: {"description": "no recall"},
                         422: {"description": "a field is invalid, or is id"}})
async def update_recall(
    recall_id: str, body: RecallPatch, services: ServicesDep, _: WriteKey
) -> RecallOut:
    """Changes the fields given. Assets that match the recall as it is now alert at once;
    alerts already open stay open (they resolve on arrival or by hand)."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("lots", "serials"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return recall_out(await services.recalls.update(recall_id, changes))


@router.delete("/{recall_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no recall"}})
async def delete_recall(recall_id: str, services: ServicesDep, _: WriteKey) -> Response:
    """No asset alerts for it from then on; its alerts stay, for the record."""
    await services.recalls.delete(recall_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
