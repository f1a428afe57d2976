"""`/api/v1/tags/{tag_id}/speaker`: which broker login may speak for a tag id (see
ingest.speakers), and letting a tag go to another (a device moved to another The Things Stack
application, a phone to another OwnTracks login)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from gateway.api._deps import AdminKey, GatewayDep, ReadKey
from gateway.api.schemas import TagSpeakerOut

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])

_NOBODY: dict[int | str, dict[str, Any]] = {
    404: {"description": "nobody speaks for this tag id yet"}}


def _nobody(tag_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"nobody speaks for tag {tag_id!r} yet")


@router.get("/{tag_id}/speaker", response_model=TagSpeakerOut, responses=_NOBODY)
async def get_speaker(tag_id: str, gateway: GatewayDep, _: ReadKey) -> TagSpeakerOut:
    speaker = gateway.speakers.speaker_of(tag_id)
    if speaker is None:
        raise _nobody(tag_id)
    return TagSpeakerOut(tag_id=tag_id, speaker=speaker)


@router.delete("/{tag_id}/speaker", status_code=status.HTTP_204_NO_CONTENT, responses=_NOBODY)
async def release_speaker(tag_id: str, gateway: GatewayDep, _: AdminKey) -> Response:
    """Forget who speaks for the tag: the next message for it claims it."""
    if not gateway.speakers.release(tag_id):
        raise _nobody(tag_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
