"""The services' domain errors as HTTP answers: 404, 409, and 422 naming the field."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from gateway.services import Conflict, Invalid, NotFound, ServiceError

STATUS = {NotFound: status.HTTP_404_NOT_FOUND, Conflict: status.HTTP_409_CONFLICT,
          Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT}


async def service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, Invalid):
        detail: object = [{"loc": [exc.where, p.field], "msg": p.reason, "type": "value_error"}
                          for p in exc.problems]
    else:
        detail = str(exc)
    return JSONResponse({"detail": detail}, status_code=STATUS.get(
        type(exc), status.HTTP_400_BAD_REQUEST))


def add_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(ServiceError, service_error)
