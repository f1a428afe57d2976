"""`/api/v1/profiles`: spec profiles; the built-in ones can be read, not changed."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response, status

from alerts import MetricSpec, Profile
from gateway.api._deps import ReadKey, ServicesDep, WriteKey
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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProfileOut,
             responses={409: {"description": "a profile with this name exists"}})
async def create_profile(body: ProfileIn, services: ServicesDep, _: WriteKey) -> ProfileOut:
    return profile_out(await services.profiles.create(_profile(body)))


@router.get("", response_model=list[ProfileOut])
async def list_profiles(services: ServicesDep, _: ReadKey) -> list[ProfileOut]:
    return [profile_out(p) for p in await services.profiles.all()]


@router.get("/{name}", response_model=ProfileOut, responses={404: {"description": "no profile"}})
async def get_profile(name: str, services: ServicesDep, _: ReadKey) -> ProfileOut:
    return profile_out(await services.profiles.get(name))


@router.put("/{name}", response_model=ProfileOut,
            responses={404: {"description": "no profile"}, 409: {"description": "built in"},
                       422: {"description": "a field is invalid, or the name differs"}})
async def replace_profile(
    name: str, body: ProfileIn, services: ServicesDep, _: WriteKey
) -> ProfileOut:
    return profile_out(await services.profiles.replace(name, _profile(body)))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no profile"},
                          409: {"description": "built in, or assets use it"}})
async def delete_profile(name: str, services: ServicesDep, _: WriteKey) -> Response:
    await services.profiles.delete(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
