"""`/api/v1/profiles`: spec profiles; the built-in ones can be read, not changed."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Response, status

from alerts import MetricSpec, Profile
from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import ProfileIn, ProfileOut

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])


def profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut.model_validate(asdict(profile))


def _profile(body: ProfileIn) -> Profile:
    metrics: dict[str, MetricSpec] = {
        name: MetricSpec(**spec.model_dump()) for name, spec in body.metrics.items()
    }
    return Profile(name=body.name, description=body.description, metrics=metrics,
                   silent_after_s=body.silent_after_s, battery_below_pct=body.battery_below_pct,
                   battery_hysteresis_pct=body.battery_hysteresis_pct)


def _changeable(gateway: GatewayDep, name: str) -> Profile:
    profile = gateway.engine.profiles.get(name)
    if profile is None:
        raise not_found("profile", name)
    if profile.built_in:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{name} is built in and cannot change")
    return profile


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProfileOut,
             responses={409: {"description": "a profile with this name exists"}})
async def create_profile(body: ProfileIn, gateway: GatewayDep, _: WriteKey) -> ProfileOut:
    if body.name in gateway.engine.profiles:
        raise HTTPException(status.HTTP_409_CONFLICT, f"profile {body.name} exists")
    profile = _profile(body)
    gateway.save_profile(profile)
    return profile_out(profile)


@router.get("", response_model=list[ProfileOut])
async def list_profiles(gateway: GatewayDep, _: ReadKey) -> list[ProfileOut]:
    return [profile_out(p) for p in gateway.engine.profiles.values()]


@router.get("/{name}", response_model=ProfileOut, responses={404: {"description": "no profile"}})
async def get_profile(name: str, gateway: GatewayDep, _: ReadKey) -> ProfileOut:
    profile = gateway.engine.profiles.get(name)
    if profile is None:
        raise not_found("profile", name)
    return profile_out(profile)


@router.put("/{name}", response_model=ProfileOut,
            responses={404: {"description": "no profile"}, 409: {"description": "built in"},
                       422: {"description": "a field is invalid, or the name differs"}})
async def replace_profile(
    name: str, body: ProfileIn, gateway: GatewayDep, _: WriteKey
) -> ProfileOut:
    _changeable(gateway, name)
    if body.name != name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "name"], "msg": "must equal the name in the path",
             "type": "value_error"}])
    profile = _profile(body)
    gateway.save_profile(profile)
    return profile_out(profile)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no profile"},
                          409: {"description": "built in, or assets use it"}})
async def delete_profile(name: str, gateway: GatewayDep, _: WriteKey) -> Response:
    _changeable(gateway, name)
    users = gateway.registry.assets(limit=10, profile=name)
    if users:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"assets use profile {name}: {', '.join(a.id for a in users)}")
    gateway.delete_profile(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
