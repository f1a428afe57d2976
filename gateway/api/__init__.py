"""The REST API: one router per resource; routes translate HTTP to gateway services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from prometheus_fastapi_instrumentator import Instrumentator

from gateway.api import (
    alerts,
    analytics,
    assets,
    dead_letters,
    geofences,
    history,
    keys,
    operations,
    profiles,
    recalls,
    speakers,
    subscriptions,
    trips,
)
from gateway.api._bodies import BodySizeLimit, body_limit, too_large_detail, validation_error
from gateway.api._docs import add_docs
from gateway.api._errors import add_error_handlers

if TYPE_CHECKING:
    from gateway.app import Gateway


ROUTERS = tuple(module.router for module in (
    assets, trips, recalls, profiles, geofences, alerts, subscriptions, dead_letters, keys,
    speakers, operations, history, analytics))
"""Every router of the API, in the order their routes are matched."""

# Scraped or polled every few seconds: counting them would drown the requests that matter.
UNINSTRUMENTED = ("/metrics", "/healthz")


def _without_unproducible_422(schema: dict[str, Any]) -> None:
    """FastAPI documents 422 for every operation with a parameter; for one whose only
    parameters are plain strings in the path, and no body, no request can get it."""
    for by_method in schema["paths"].values():
        for operation in by_method.values():
            parameters = operation.get("parameters", [])
            if ("requestBody" not in operation and all(
                    p["in"] == "path" and p["schema"] == {"type": "string",
                                                          "title": p["schema"].get("title")}
                    for p in parameters)):
                operation.get("responses", {}).pop("422", None)


def _with_body_limits(schema: dict[str, Any]) -> None:
    """413 on every operation that takes a body, with its limit (BodySizeLimit)."""
    for path, by_method in schema["paths"].items():
        for operation in by_method.values():
            if "requestBody" in operation:
                operation["responses"]["413"] = {"description": too_large_detail(body_limit(path))}


def _openapi(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema is None:
        schema = get_openapi(title=api.title, version=api.version,
                             description=api.description, routes=api.routes)
        _without_unproducible_422(schema)
        _with_body_limits(schema)
        api.openapi_schema = schema
    return api.openapi_schema


def create_api(gateway: Gateway) -> FastAPI:
    api = FastAPI(
        title="Boomerang",
        version="0.1.0",
        description="Tracks what comes back: returns, recalls, rentals. "
        "Authenticate with `Authorization: Bearer KEY`.",
        docs_url=None, redoc_url=None,  # served from the gateway's own files by add_docs
    )
    api.state.gateway = gateway
    api.add_exception_handler(RequestValidationError, validation_error)
    add_error_handlers(api)
    # Added before the Instrumentator, so inside it: a 413 answered before the route runs is
    # still counted, under the route's template.
    api.add_middleware(BodySizeLimit)
    # Requests by route template, method and status code, and their durations.
    Instrumentator(should_group_status_codes=False,
                   excluded_handlers=list(UNINSTRUMENTED)).instrument(
        api, metric_namespace="boomerang")
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    for router in ROUTERS:
        api.include_router(router)
    add_docs(api)
    return api


__all__ = ["create_api"]
