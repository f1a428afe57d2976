"""`/api/v1/alerts`: filter, page by cursor, acknowledge, resolve."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from alerts import AlertFilter, AlertStore
from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import AlertAction, AlertOut, Page
from gateway.domain import Alert, AlertKind, AlertState, Severity

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(asdict(alert))


@router.get("", response_model=Page[AlertOut], responses={422: {"description": "bad filter"}})
async def list_alerts(
    gateway: GatewayDep,
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
    found = gateway.alerts.list(where, limit=limit + 1, after=after, oldest_first=oldest_first)
    page = found[:limit]
    more = len(found) > limit
    return Page[AlertOut](
        items=[alert_out(a) for a in page],
        next_cursor=_encode_cursor(sort, AlertStore.position(page[-1])) if more else None)


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
async def get_alert(alert_id: str, gateway: GatewayDep, _: ReadKey) -> AlertOut:
    alert = gateway.alerts.get(alert_id)
    if alert is None:
        raise not_found("alert", alert_id)
    return alert_out(alert)


def _act(alert: Alert | None, alert_id: str, wanted: AlertState) -> AlertOut:
    if alert is None:
        raise not_found("alert", alert_id)
    if alert.state is not wanted:
        raise HTTPException(status.HTTP_409_CONFLICT, f"alert {alert_id} is {alert.state}")
    return alert_out(alert)


@router.post("/{alert_id}/acknowledge", response_model=AlertOut,
             responses={404: {"description": "no alert"}, 409: {"description": "resolved"}})
async def acknowledge(
    alert_id: str, body: AlertAction, gateway: GatewayDep, key: WriteKey
) -> AlertOut:
    alert = gateway.acknowledge_alert(alert_id, body.by or key.name or key.id, body.note)
    return _act(alert, alert_id, AlertState.ACKNOWLEDGED)


@router.post("/{alert_id}/resolve", response_model=AlertOut,
             responses={404: {"description": "no alert"}})
async def resolve(alert_id: str, body: AlertAction, gateway: GatewayDep, key: WriteKey) -> AlertOut:
    alert = gateway.resolve_alert(alert_id, body.by or key.name or key.id, body.note)
    return _act(alert, alert_id, AlertState.RESOLVED)
