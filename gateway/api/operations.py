"""`/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api._deps import Credentials, GatewayDep, require

router = APIRouter()


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "not ready"}})
async def readyz(gateway: GatewayDep, response: Response) -> dict[str, object]:
    checks = await gateway.readiness()
    ready = all(checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": ready, **checks}


_read = require("read")


@router.get("/metrics", tags=["operations"], response_class=Response)
async def metrics(request: Request, gateway: GatewayDep, credentials: Credentials) -> Response:
    """Needs a key of any scope, unless BOOMERANG_METRICS_PUBLIC is set (for a scraper
    that cannot send one)."""
    if not gateway.settings.metrics_public:
        await _read(request, credentials)
    await gateway.refresh_gauges()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
