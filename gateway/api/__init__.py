"""The REST API: one router per resource; routes translate HTTP to gateway services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_fastapi_instrumentator import Instrumentator

from gateway.api import (
    alerts,
    assets,
    dead_letters,
    geofences,
    history,
    keys,
    operations,
    profiles,
    recalls,
    subscriptions,
)

if TYPE_CHECKING:
    from gateway.app import Gateway


# Scraped or polled every few seconds: counting them would drown the requests that matter.
UNINSTRUMENTED = ("/metrics", "/healthz")


def _without_unproducible_422(api: FastAPI) -> dict[str, Any]:
    """FastAPI documents 422 for every operation with a parameter; for one whose only
    parameters are plain strings in the path, and no body, no request can get it."""
    if api.openapi_schema is None:
        schema = get_openapi(title=api.title, version=api.version,
                             description=api.description, routes=api.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                parameters = operation.get("parameters", [])
                if ("requestBody" not in operation and all(
                        p["in"] == "path" and p["schema"] == {"type": "string",
                                                              "title": p["schema"].get("title")}
                        for p in parameters)):
                    operation.get("responses", {}).pop("422", None)
        api.openapi_schema = schema
    return api.openapi_schema


def create_api(gateway: Gateway) -> FastAPI:
    api = FastAPI(
        title="Boomerang",
        version="0.1.0",
        description="Tracks what comes back: returns, recalls, rentals. "
        "Authenticate with `Authorization: Bearer KEY`.",
    )
    api.state.gateway = gateway
    # Requests by route template, method and status code, and their durations.
    Instrumentator(should_group_status_codes=False,
                   excluded_handlers=list(UNINSTRUMENTED)).instrument(
        api, metric_namespace="boomerang")
    api.openapi = lambda: _without_unproducible_422(api)  # type: ignore[method-assign]
    for module in (assets, recalls, profiles, geofences, alerts, subscriptions, dead_letters,
                   keys, operations):
        api.include_router(module.router)
    api.include_router(history.router)
    return api


__all__ = ["create_api"]
