"""`/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerts import _metrics as alert_metrics
from gateway.api._deps import GatewayDep
from ingest import _metrics as ingest_metrics

router = APIRouter()


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "not ready"}})
async def readyz(gateway: GatewayDep, response: Response) -> dict[str, object]:
    checks = gateway.readiness()
    ready = all(checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": ready, **checks}


@router.get("/metrics", tags=["operations"], response_class=Response)
async def metrics(gateway: GatewayDep) -> Response:
    ingest_metrics.BUFFERED.set(gateway.batcher.buffered)
    spool = gateway.batcher.spool
    ingest_metrics.SPOOLED.set(spool.points if spool is not None else 0)
    ingest_metrics.SPOOL_FULL.set(int(gateway.batcher.spool_full))
    alert_metrics.OUTBOX_PENDING.set(gateway.outbox.pending_count())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
