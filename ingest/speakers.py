"""Which broker login may speak for which tag id.

The broker's ACL (mosquitto/acl) ties topics to logins: a tag logs in under its own tag id
and publishes under `tags/{tag id}/`; an OwnTracks login publishes `owntracks/{login}/{device}`
(tag id `{login}-{device}`); a The Things Stack application's bridge logs in as
`{app}@{tenant}` and publishes `v3/{app}@{tenant}/devices/{device id}/up` (tag id: the device
id). Only the native format names the tag by the login itself. The other two name tag ids
their login chooses, so on their own they would let one login invent tag ids without end,
or speak for a tag that is another's: an application's bridge for a native tag, one
application for another's device.

So each tag id is held by one speaker: the first that used it, kept in the state database.
A message for a tag another speaker holds is dead-lettered (cause `not_owner`). A tag's own
native login outranks any claim: the broker authenticated it as exactly that tag id. An
OwnTracks login holds at most `owntracks_devices_per_user` tag ids.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Column, Table, Text, delete, select

from ingest.statedb import METADATA, StateDb, Utc, upsert

log = logging.getLogger(__name__)

NATIVE = "native"
"""The speaker of a native message: the tag's own login."""

TAG_SPEAKERS = Table(
    "tag_speakers", METADATA,
    Column("tag_id", Text, primary_key=True),
    Column("speaker", Text, nullable=False),
    Column("since", Utc, nullable=False),
    sqlite_with_rowid=False,
)


class TagSpeakers:
    def __init__(self, db: StateDb, *, owntracks_devices_per_user: int = 5) -> None:
        self._db = db
        self._owntracks_max = owntracks_devices_per_user
        self._unsaved: dict[str, str] = {}
        self._held: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self.reload()

    def reload(self) -> None:
        """The claims as stored (another gateway on the database released one), with those
        made here and not saved yet on top."""
        self._held = {
            row.tag_id: row.speaker
            for row in self._db.rows(select(TAG_SPEAKERS.c.tag_id, TAG_SPEAKERS.c.speaker))}
        self._held.update(self._unsaved)
        self._counts = Counter(self._held.values())

    def refusal(self, tag_id: str, speaker: str) -> str | None:
        """None if `speaker` may speak for `tag_id` (claiming it when nobody holds it);
        otherwise why not, for the dead letter."""
        held = self._held.get(tag_id)
        if held == speaker:
            return None
        if speaker == NATIVE:
            if held is not None:
                log.warning("tag %s was held by %s; its own login speaks for it from now on",
                            tag_id, held)
            self._hold(tag_id, speaker, held)
            return None
        if held is not None:
            return (f"tag {tag_id} is spoken for by {_describe(held)}; {_describe(speaker)} "
                    "may not speak for it")
        if speaker.startswith("owntracks:") and self._counts[speaker] >= self._owntracks_max:
            return (f"{_describe(speaker)} already speaks for {self._owntracks_max} devices "
                    "(BOOMERANG_OWNTRACKS_DEVICES_PER_USER)")
        self._hold(tag_id, speaker, None)
        return None

    def _hold(self, tag_id: str, speaker: str, before: str | None) -> None:
        self._held[tag_id] = speaker
        self._counts[speaker] += 1
        if before is not None:
            self._counts[before] -= 1
        self._unsaved[tag_id] = speaker

    def save(self) -> None:
        """Write the claims made since the last call, in one transaction: before the
        messages that made them are acknowledged (a claim lost in a crash is made again by
        the redelivered message)."""
        if not self._unsaved:
            return
        since = datetime.now(UTC)
        statement = upsert(self._db, TAG_SPEAKERS)
        self._db.execute(  # one statement: in a transaction of its own, or the caller's
            statement.on_conflict_do_update(
                index_elements=[TAG_SPEAKERS.c.tag_id],
                set_={"speaker": statement.excluded.speaker, "since": statement.excluded.since}),
            [{"tag_id": tag_id, "speaker": speaker, "since": since}
             for tag_id, speaker in self._unsaved.items()])
        self._unsaved.clear()

    def speaker_of(self, tag_id: str) -> str | None:
        return self._held.get(tag_id)

    def release(self, tag_id: str) -> bool:
        """Forget who speaks for the tag: the next message for it claims it."""
        speaker = self._held.pop(tag_id, None)
        if speaker is None:
            return False
        self._counts[speaker] -= 1
        self._unsaved.pop(tag_id, None)
        self._db.execute(delete(TAG_SPEAKERS).where(TAG_SPEAKERS.c.tag_id == tag_id))
        return True


def _describe(speaker: str) -> str:
    if speaker == NATIVE:
        return "its own login (native format)"
    kind, _, login = speaker.partition(":")
    return f"{kind} login {login!r}"
