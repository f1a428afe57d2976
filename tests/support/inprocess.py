"""The gateway in the test's own process and event loop, its REST API reached through
httpx's ASGI transport: for API tests where a broker adds nothing. Nothing is mocked: the
state database is real (SQLite or PostgreSQL, `state_url`), and so are the services and
the stores; only the MQTT consumer and the other running parts are not started."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import REGISTRY, generate_latest

from gateway.api import create_api
from gateway.api._deps import get_gateway
from gateway.app import Gateway
from gateway.settings import Settings
from support.gateways import ADMIN, ADMIN_KEY, ANSWERED, REQUESTS_LINE


@dataclass
class InProcessApi:
    gateway: Gateway
    client: httpx.AsyncClient
    """Sends the admin key."""

    def as_key(self, key: str | None) -> httpx.AsyncClient:
        """Another client on the same app, with this key (None: no key)."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.AsyncClient(transport=self.client._transport, base_url="http://gateway",
                                 headers=headers)


@contextlib.asynccontextmanager
async def in_process_api(workdir: Path, state_url: str, **settings: object
                         ) -> AsyncIterator[InProcessApi]:
    """A gateway opened on `state_url` (`settings` as BOOMERANG_* values, lowercase) and a
    client of its API. Its answers count for the documented-status check, as a gateway
    process's do."""
    values: dict[str, object] = {"data_dir": workdir / "data", "state_url": state_url,
                                 "admin_key": ADMIN_KEY, "webhook_allow_private": True,
                                 **settings}
    _release_request_metrics()
    async with Gateway.open(Settings(**values)) as gateway:  # type: ignore[arg-type]
        app = create_api(gateway)
        # The app's one dependency on the gateway, pointed at this one explicitly.
        app.dependency_overrides[get_gateway] = lambda: gateway
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gateway", headers=ADMIN) as client:
            try:
                yield InProcessApi(gateway, client)
            finally:
                _release_request_metrics()


# The request metrics of gateway.api (prometheus_fastapi_instrumentator's, "boomerang_http_*").
REQUEST_METRICS = "boomerang_http_"


def _release_request_metrics() -> None:
    """What the request metrics counted, recorded; then the metrics taken out of the default
    registry. The instrumentator registers them there when its app answers first, and an app
    that finds them already registered counts nothing at all: without this, only the first
    app of the process would count. So each in-process gateway counts in metrics of its own,
    one at a time (the answers of one still open when another opens are not all counted)."""
    _record_in_process_responses()
    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith(REQUEST_METRICS) for name in names):
            REGISTRY.unregister(collector)


def _record_in_process_responses() -> None:
    """This process's request counters (prometheus's default registry), into ANSWERED."""
    for line in generate_latest(REGISTRY).decode().splitlines():
        found = REQUESTS_LINE.match(line)
        if found and float(line.rsplit(" ", 1)[1]) > 0:
            route, method, status = found.groups()
            ANSWERED.add((method.upper(), route, status))
