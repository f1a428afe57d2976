"""Every request body the API takes, and every model nested in one, refuses NaN and Infinity
for a number and a field it does not have: it is a BodyModel (gateway/api/schemas.py). The
behaviour itself is tested through a real gateway in tests/e2e/test_api_bodies.py; this
catches a body model added later without it."""

from __future__ import annotations

import math
import typing
from types import UnionType

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from gateway.api import ROUTERS
from gateway.api.schemas import BodyModel, CircleIn, GeofenceIn


def _models_in(annotation: object) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    elif typing.get_origin(annotation) is not None or isinstance(annotation, UnionType):
        for argument in typing.get_args(annotation):
            yield from _models_in(argument)


def body_models() -> set[type[BaseModel]]:
    return {model for router in ROUTERS for route in router.routes
            if isinstance(route, APIRoute)
            for param in route.dependant.body_params
            for model in _models_in(param.field_info.annotation)}


def test_the_api_takes_json_bodies() -> None:
    assert len(body_models()) >= 12


@pytest.mark.parametrize("model", sorted(body_models(), key=lambda m: m.__name__),
                         ids=lambda m: m.__name__)
def test_a_request_body_model_refuses_non_finite_numbers_and_unknown_fields(
    model: type[BaseModel],
) -> None:
    assert issubclass(model, BodyModel)
    assert model.model_config.get("allow_inf_nan") is False
    assert model.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_in_free_form_geometry_too(value: float) -> None:
    ring = [[8.7, 50.1], [8.8, value], [8.8, 50.2], [8.7, 50.1]]
    with pytest.raises(ValidationError) as refused:
        GeofenceIn.model_validate({"name": "Depot", "kind": "hub", "geometry": {
            "type": "Polygon", "coordinates": [ring]}})
    assert [e["loc"] for e in refused.value.errors()] == [("geometry",)]
    with pytest.raises(ValidationError):
        CircleIn.model_validate({"lat": 50.1, "lon": value, "radius_m": 5})
