"""`/api/v1/alerts`: filter, page by cursor, acknowledge, resolve."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from alerts import AlertFilter
from alerts.domain import Alert, AlertKind, AlertState, Severity
from gateway.api._deps import ReadKey, ServicesDep, WriteKey
from gateway.api.schemas import AlertAction, AlertOut, Page

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(asdict(alert))


@router.get("", response_model=Page[AlertOut], responses={422: {"description": "bad filter"}})
async def list_alerts(
    services: ServicesDep,
    _: ReadKey,
    kind: AlertKind | None = None,
    state: AlertState | None = None,
    severity: Severity | None = None,
    asset_id: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="opened at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="opened before")] = None,
    sort: Annotated[Literal["opened_at", "-opened_at"], Query(
        description="-opened_at: newest first (the default); opened_at: oldest first")
    ] = "-opened_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[AlertOut]:
    where = AlertFilter(kind=kind, state=state, severity=severity, asset_id=asset_id,
                        since=since, until=until)
    oldest_first = sort == "opened_at"
    after = _decode_cursor(cursor, sort) if cursor is not None else None
    page, next_position = await services.alerts.page(where, limit=limit, after=after,
                                                     oldest_first=oldest_first)
    return Page[AlertOut](
        items=[alert_out(a) for a in page],
        next_cursor=_encode_cursor(sort, next_position) if next_position else None)


def _encode_cursor(sort: str, position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, *position])).decode()


def _decode_cursor(cursor: str, sort: str) -> tuple[str, str]:
    try:
        made_for, opened_at, alert_id = orjson.loads(base64.urlsafe_b64decode(cursor))
        if made_for != sort or not isinstance(opened_at, str) or not isinstance(alert_id, str):
            raise ValueError("a cursor of another sort")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise RequestValidationError([{
            "type": "value_error", "loc": ("query", "cursor"), "input": cursor,
            "msg": "not a next_cursor of this listing (same sort)"}]) from None
    return opened_at, alert_id


@router.get("/{alert_id}", response_model=AlertOut, responses={404: {"description": "no alert"}})
async def get_alert(alert_id: str, services: ServicesDep, _: ReadKey) -> AlertOut:
    return alert_out(await services.alerts.get(alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertOut,
             responses={404: {"description": "no alert"}, 409: {"description": "resolved"}})
async def acknowledge(
    alert_id: str, body: AlertAction, services: ServicesDep, key: WriteKey
) -> AlertOut:
    return alert_out(await services.alerts.acknowledge(alert_id, body.by or key.name or key.id,
                                                       body.note))


@router.post("/{alert_id}/resolve", response_model=AlertOut,
             responses={404: {"description": "no alert"}})
async def resolve(alert_id: str, body: AlertAction, services: ServicesDep, key: WriteKey
                  ) -> AlertOut:
    return alert_out(await services.alerts.resolve(alert_id, body.by or key.name or key.id,
                                                   body.note))
