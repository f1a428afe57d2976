"""`/api/v1/dead-letters`: what ingest could not accept, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api._deps import ReadKey, ServicesDep
from gateway.api.schemas import DeadLetterOut, Page

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead-letters"])


@router.get("", response_model=Page[DeadLetterOut])
async def list_dead_letters(
    services: ServicesDep,
    _: ReadKey,
    tag_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # Bounded to what SQLite's INTEGER holds: a bigger number is a 422, not a server error.
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1,
                                        description="next_cursor of the previous page")] = None,
) -> Page[DeadLetterOut]:
    stored, next_id = await services.dead_letters.page(limit=limit, before_id=cursor,
                                                       tag_id=tag_id)
    items = [
        DeadLetterOut(
            id=s.id, received_at=s.letter.received_at, topic=s.letter.topic,
            tag_id=s.letter.tag_id, cause=s.letter.cause, reason=s.letter.reason,
            payload=s.letter.payload.decode("utf-8", errors="replace"),
            payload_bytes=s.payload_bytes, payload_sha256=s.payload_sha256,
        )
        for s in stored
    ]
    return Page[DeadLetterOut](items=items,
                               next_cursor=str(next_id) if next_id is not None else None)
