"""How the API takes request bodies: a size limit per operation, enforced before a body is
read when Content-Length announces it and while it streams in when chunked; and 422 answers
that can show whatever a client sent, NaN and Infinity included."""

from __future__ import annotations

import math
import re
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api._csv import MAX_CSV_BYTES

MAX_JSON_BYTES = 1024 * 1024
"""Every body but those of LARGE_BODY_PATHS. The largest legitimate one, a geofence's
GeoJSON, fits some 25,000 vertices in it."""

# A recall may list 100,000 serials (schemas.RecallIn): megabytes as JSON as in a CSV cell,
# so its JSON operations take the CSV imports' limit too.
LARGE_BODY_PATHS = re.compile(r"/api/v1/(assets:import|trips:import|recalls(:import|/[^/]+)?)")


def body_limit(path: str) -> int:
    """The most bytes a body sent to `path` may have (a path or its OpenAPI template)."""
    return MAX_CSV_BYTES if LARGE_BODY_PATHS.fullmatch(path) else MAX_JSON_BYTES


def too_large_detail(limit: int) -> str:
    return (f"the body is over {limit} bytes ({limit // (1024 * 1024)} MiB), the limit of "
            "this operation")


class BodySizeLimit:
    """413 for a body over its operation's limit. A pure ASGI middleware, not Starlette's
    BaseHTTPMiddleware: the body streams through to the route untouched, and is only
    counted on the way."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"].removeprefix(scope.get("root_path", "")))
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            # Answered before the route runs: nothing of the body is read, nothing is done.
            response = JSONResponse({"detail": too_large_detail(limit)},
                                    status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised into the route reading the body; FastAPI passes an HTTPException
                    # on to its handler, which answers it as JSON.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large_detail(limit))
            return message

        await self.app(scope, receive_within_limit, send)


def _json_safe(value: Any) -> Any:
    """`value` with each non-finite float as the text Python's JSON parser read it from, and
    each lone surrogate in a text (which JSON can escape but UTF-8 cannot hold) as `\\uXXXX`."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422, except for NaN or Infinity, and lone surrogates, in what it echoes of
    the input: Python's JSON parser takes them from a request, but they are not JSON (nor
    UTF-8), and FastAPI's answer failed to render them (a 500)."""
    if not isinstance(exc, RequestValidationError):
        raise exc
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))},
                        status.HTTP_422_UNPROCESSABLE_CONTENT)
