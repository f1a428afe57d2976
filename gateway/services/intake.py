"""What ingest keeps in the state database that people look at: dead letters, and which
login speaks for which tag."""

from __future__ import annotations

from gateway.services.assets import RegistryWriter
from gateway.services.errors import NotFound
from ingest.deadletters import DeadLetterStore, StoredDeadLetter
from ingest.speakers import TagSpeakers
from ingest.statedb import StateDb


class DeadLetterService:
    def __init__(self, db: StateDb, dead_letters: DeadLetterStore) -> None:
        self._db, self._dead_letters = db, dead_letters

    async def page(self, *, limit: int, before_id: int | None, tag_id: str | None
                   ) -> tuple[list[StoredDeadLetter], int | None]:
        """Newest first: up to `limit`, and the id to page on from (None: the last page)."""
        stored = await self._db.run(self._dead_letters.list, limit=limit + 1,
                                    before_id=before_id, tag_id=tag_id)
        more = len(stored) > limit
        stored = stored[:limit]
        return stored, stored[-1].id if more else None


class SpeakerService:
    def __init__(self, db: StateDb, speakers: TagSpeakers, writer: RegistryWriter) -> None:
        self._db, self._speakers, self._writer = db, speakers, writer

    async def speaker_of(self, tag_id: str) -> str:
        speaker = await self._db.run(self._speakers.speaker_of, tag_id)
        if speaker is None:
            raise NotFound("speaker", tag_id, f"nobody speaks for tag {tag_id!r} yet")
        return speaker

    async def release(self, tag_id: str) -> None:
        """Forget who speaks for the tag: the next message for it claims it."""
        if not await self._db.run(self._release, tag_id):
            raise NotFound("speaker", tag_id, f"nobody speaks for tag {tag_id!r} yet")

    def _release(self, tag_id: str) -> bool:
        # The ingesting gateway, if another, holds the claims in memory: the revision tells it.
        with self._db.transaction():
            released = self._speakers.release(tag_id)
            if released:
                self._writer.changed()
        return released
