"""Dependencies every router shares: the gateway's services and API-key scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.imports import Problem
from gateway.registry import ApiKey
from gateway.services import Services

if TYPE_CHECKING:
    from gateway.app import Gateway

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer KEY`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def require(scope: str) -> Callable[..., Any]:
    async def check(request: Request, credentials: Credentials) -> ApiKey:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "an API key is required: Authorization: Bearer KEY",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = await get_gateway(request).services.keys.check(credentials.credentials)
        if key is None or key.revoked_at is not None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not key.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this key has scope {key.scope!r}; {scope!r} needed"
            )
        return key

    return check


def get_services(request: Request) -> Services:
    return get_gateway(request).services


GatewayDep = Annotated["Gateway", Depends(get_gateway)]
ServicesDep = Annotated[Services, Depends(get_services)]
ReadKey = Annotated[ApiKey, Depends(require("read"))]
WriteKey = Annotated[ApiKey, Depends(require("write"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]


def not_found(what: str, ident: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} with id {ident!r}")


def invalid(where: str, problems: list[Problem]) -> HTTPException:
    """422 naming each field at fault (`loc` ends with it) and why; `where` is `body` or
    `query`."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": [where, p.field], "msg": p.reason, "type": "value_error"} for p in problems],
    )
