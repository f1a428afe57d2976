"""`/api/v1/tags/{tag_id}/speaker`: which broker login may speak for a tag id (see
ingest.speakers), and letting a tag go to another (a device moved to another The Things Stack
application, a phone to another OwnTracks login)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from gateway.api._deps import AdminKey, ReadKey, ServicesDep
from gateway.api.schemas import TagSpeakerOut

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])

_NOBODY: dict[int | str, dict[str, Any]] = {
    404: {"description": "nobody speaks for this tag id yet"}}


@router.get("/{tag_id}/speaker", response_model=TagSpeakerOut, responses=_NOBODY)
async def get_speaker(tag_id: str, services: ServicesDep, _: ReadKey) -> TagSpeakerOut:
    return TagSpeakerOut(tag_id=tag_id, speaker=await services.speakers.speaker_of(tag_id))


@router.delete("/{tag_id}/speaker", status_code=status.HTTP_204_NO_CONTENT, responses=_NOBODY)
async def release_speaker(tag_id: str, services: ServicesDep, _: AdminKey) -> Response:
    """Forget who speaks for the tag: the next message for it claims it."""
    await services.speakers.release(tag_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
