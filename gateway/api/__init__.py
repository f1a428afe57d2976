"""The REST API: one router per resource; routes translate HTTP to gateway services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
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


def create_api(gateway: Gateway) -> FastAPI:
    api = FastAPI(
        title="Boomerang",
        version="0.1.0",
        description="Tracks what comes back: returns, recalls, rentals. "
        "Authenticate with `Authorization: Bearer KEY`.",
    )
    api.state.gateway = gateway
    # Requests by route template, method and status class, and their durations.
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz"]).instrument(
        api, metric_namespace="boomerang")
    for module in (assets, recalls, profiles, geofences, alerts, subscriptions, dead_letters,
                   keys, operations):
        api.include_router(module.router)
    api.include_router(history.router)
    return api


__all__ = ["create_api"]
