"""`/api/v1/keys`: API keys, created, listed and revoked by an admin key. A key is shown
once, at creation; only its hash is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from gateway.api._deps import AdminKey, ServicesDep
from gateway.api.schemas import BodyModel
from gateway.registry import ApiKey

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class KeyIn(BodyModel):
    scope: Literal["read", "write", "admin"]
    name: str = Field(default="", max_length=200, description="Who or what the key is for")


class KeyOut(BaseModel):
    id: str
    scope: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only hashed")


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(id=key.id, scope=key.scope, name=key.name, created_at=key.created_at,
                  revoked_at=key.revoked_at)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyIn, services: ServicesDep, _: AdminKey) -> KeyCreated:
    key, secret = await services.keys.create(body.scope, body.name)
    return KeyCreated(**key_out(key).model_dump(), key=secret)


@router.get("", response_model=list[KeyOut])
async def list_keys(services: ServicesDep, _: AdminKey) -> list[KeyOut]:
    return [key_out(key) for key in await services.keys.all()]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no such key, or revoked already"}})
async def revoke_key(key_id: str, services: ServicesDep, _: AdminKey) -> None:
    await services.keys.revoke(key_id)
