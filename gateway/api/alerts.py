"""`/api/v1/alerts`: filter, acknowledge, resolve."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime

from alerts import AlertFilter
from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import AlertAction, AlertOut
from gateway.domain import Alert, AlertKind, AlertState, Severity

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(asdict(alert))


@router.get("", response_model=list[AlertOut])
async def list_alerts(
    gateway: GatewayDep,
    _: ReadKey,
    kind: AlertKind | None = None,
    state: AlertState | None = None,
    severity: Severity | None = None,
    asset_id: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="opened at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertOut]:
    where = AlertFilter(kind=kind, state=state, severity=severity, asset_id=asset_id,
                        since=since, until=until)
    return [alert_out(a) for a in gateway.alerts.list(where, limit=limit, offset=offset)]


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
