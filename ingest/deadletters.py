"""The dead-letter store: what could not be ingested, with the raw payload and the reason.

Bounded in rows and in bytes, each twice: each tag keeps its newest `max_per_tag` dead
letters and `max_bytes_per_tag` payload bytes, so a tag sending garbage at a high rate pushes
out only its own; and the store keeps the newest `max_total` letters and `max_bytes` bytes.
A payload over `payload_bytes` keeps its head only, with its length and SHA-256, enough to
recognise it and to say what it was. Evicted letters are counted
(`boomerang_ingest_dead_letters_evicted_total`) and logged, never dropped silently."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Integer,
    LargeBinary,
    Select,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)

from ingest import _metrics
from ingest.readings import DeadLetter
from ingest.statedb import METADATA, Id, StateDb, Utc

log = logging.getLogger(__name__)

DEAD_LETTERS = Table(
    "dead_letters", METADATA,
    Column("id", Id, primary_key=True),
    Column("received_at", Utc, nullable=False),
    Column("topic", Text, nullable=False),
    Column("tag_id", Text),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # Schema version 4: the cause, and the size and hash of a payload kept in part.
    Column("cause", Text, nullable=False, server_default=text("'invalid_reading'")),
    Column("payload_bytes", Integer),
    Column("payload_sha256", Text),
    Index("dead_letters_by_tag", "tag_id", "id"),
    sqlite_autoincrement=True,
)

EVICTION_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    letter: DeadLetter
    payload_bytes: int
    """The whole payload's length; more than len(letter.payload) when only its head is kept."""
    payload_sha256: str | None = None
    """The whole payload's hash, when only its head is kept."""


def _over_quota(tag_ids: ColumnElement[bool]) -> Select[Any]:
    """The letters, of the tags `tag_ids` selects, past their tag's newest `max_rows` or
    `max_bytes` (bound parameters). Built once: a statement made anew for every batch would
    cost more in Python than the query does in the database."""
    size = func.length(DEAD_LETTERS.c.payload)
    tag, newest = DEAD_LETTERS.c.tag_id, DEAD_LETTERS.c.id.desc()
    ranked = (
        select(DEAD_LETTERS.c.id, size.label("size"),
               func.row_number().over(partition_by=tag, order_by=newest).label("n"),
               func.sum(size).over(partition_by=tag, order_by=newest).label("kept"))
        .where(tag_ids)
        .subquery())
    max_rows = bindparam("max_rows", type_=Integer)
    max_bytes = bindparam("max_bytes", type_=Integer)
    return (select(ranked.c.id, ranked.c.size, (ranked.c.n > max_rows).label("by_count"))
            .where(or_(ranked.c.n > max_rows, ranked.c.kept > max_bytes)))


_OVER_QUOTA_OF_TAGS = _over_quota(DEAD_LETTERS.c.tag_id.in_(bindparam("tags", expanding=True)))
_OVER_QUOTA_WITHOUT_TAG = _over_quota(DEAD_LETTERS.c.tag_id.is_(None))


class DeadLetterStore:
    def __init__(
        self, db: StateDb, *, max_total: int = 100_000, max_per_tag: int = 1000,
        max_bytes: int = 64 * 1024 * 1024, max_bytes_per_tag: int = 1024 * 1024,
        payload_bytes: int = 4096,
    ) -> None:
        self._db = db
        self._max_total = max_total
        self._max_per_tag = max_per_tag
        self._max_bytes = max_bytes
        self._max_bytes_per_tag = max_bytes_per_tag
        self._payload_bytes = payload_bytes
        totals = db.row(select(func.count(),
                               func.coalesce(func.sum(func.length(DEAD_LETTERS.c.payload)), 0)))
        assert totals is not None
        self._rows, self._bytes = (int(n) for n in totals)
        self._evicted_since_log: dict[str, int] = {}
        self._logged_at = 0.0

    def add(self, letters: list[DeadLetter]) -> None:
        # A text the database cannot store is kept escaped instead: a lone surrogate (no
        # UTF-8 for it) on both engines, NUL on PostgreSQL. Every other text is left as it is.
        nul = self._db.is_postgresql
        rows = [{name: _printable(value, nul=nul) if isinstance(value, str) else value
                 for name, value in self._row(letter).items()} for letter in letters]
        stored_bytes = sum(min(len(letter.payload), self._payload_bytes) for letter in letters)
        with self._db.transaction():
            if rows:
                self._db.execute(insert(DEAD_LETTERS), rows)
            self._rows += len(rows)
            self._bytes += stored_bytes
            self._evict_over_tag_quota({row["tag_id"] for row in rows})  # as stored (escaped)
            if self._rows > self._max_total or self._bytes > self._max_bytes:
                self._evict_oldest()
        self._log_evictions()

    def _row(self, letter: DeadLetter) -> dict[str, Any]:
        payload, size, digest = letter.payload, len(letter.payload), None
        if size > self._payload_bytes:
            payload, digest = payload[:self._payload_bytes], hashlib.sha256(payload).hexdigest()
        return {"received_at": letter.received_at, "topic": letter.topic,
                "tag_id": letter.tag_id, "reason": letter.reason, "payload": payload,
                "cause": letter.cause, "payload_bytes": size, "payload_sha256": digest}

    def _evict_over_tag_quota(self, tag_ids: set[str | None]) -> None:
        """These tags' oldest letters past their quotas of rows and of bytes (newest first):
        one query for the named tags of a batch (a few hundred at a time), one for the
        letters without a tag id."""
        named = sorted(tag_id for tag_id in tag_ids if tag_id is not None)
        limits = {"max_rows": self._max_per_tag, "max_bytes": self._max_bytes_per_tag}
        over: list[Any] = []
        for start in range(0, len(named), 500):
            over += self._db.rows(_OVER_QUOTA_OF_TAGS, {**limits, "tags": named[start:start + 500]})
        if None in tag_ids:
            over += self._db.rows(_OVER_QUOTA_WITHOUT_TAG, limits)
        if not over:
            return
        self._delete([row.id for row in over])
        by_count = sum(1 for row in over if row.by_count)
        self._evicted("per_tag_quota", by_count)
        self._evicted("per_tag_bytes", len(over) - by_count)
        self._rows -= len(over)
        self._bytes -= sum(row.size for row in over)

    def _evict_oldest(self) -> None:
        """The oldest letters of all, until both totals are within their limits. Reads only
        the rows it deletes (the oldest, by the primary key), so a store kept full by a
        flood pays per batch for what the batch added."""
        ids: list[int] = []
        rows, size = self._rows, self._bytes
        # Fetched a few hundred at a time (on PostgreSQL from a server-side cursor), not
        # the whole table.
        oldest = (select(DEAD_LETTERS.c.id, func.length(DEAD_LETTERS.c.payload).label("size"))
                  .order_by(DEAD_LETTERS.c.id).execution_options(yield_per=256))
        with self._db.execute(oldest) as result:
            for row in result:
                if rows <= self._max_total and size <= self._max_bytes:
                    break
                ids.append(row.id)
                rows, size = rows - 1, size - row.size
        self._delete(ids)
        why = "total_limit" if self._rows > self._max_total else "total_bytes"
        self._evicted(why, len(ids))
        self._rows, self._bytes = rows, size

    def _delete(self, ids: list[int]) -> None:
        # One id at a time (executemany): an IN list of every id could pass the engine's
        # limit of bound values when a lowered limit evicts most of the store at once.
        if ids:
            self._db.execute(delete(DEAD_LETTERS).where(DEAD_LETTERS.c.id == bindparam("i")),
                             [{"i": i} for i in ids])

    def _evicted(self, why: str, count: int) -> None:
        if count > 0:
            _metrics.DEAD_LETTERS_EVICTED.labels(why).inc(count)
            self._evicted_since_log[why] = self._evicted_since_log.get(why, 0) + count

    def _log_evictions(self) -> None:
        # A flood evicts on every batch: one line a minute says so without adding to it.
        now = time.monotonic()
        if self._evicted_since_log and now - self._logged_at >= EVICTION_LOG_EVERY_S:
            log.warning("dead-letter store full: evicted the oldest %s (limits: %d letters "
                        "and %d bytes per tag, %d letters and %d bytes in all)",
                        ", ".join(f"{n} by {why}" for why, n in
                                  sorted(self._evicted_since_log.items())),
                        self._max_per_tag, self._max_bytes_per_tag, self._max_total,
                        self._max_bytes)
            self._evicted_since_log.clear()
            self._logged_at = now

    def list(
        self, *, limit: int = 100, before_id: int | None = None, tag_id: str | None = None
    ) -> list[StoredDeadLetter]:
        """Newest first; page with `before_id` (the smallest id of the previous page)."""
        query = select(DEAD_LETTERS)
        if before_id is not None:
            query = query.where(DEAD_LETTERS.c.id < before_id)
        if tag_id is not None:
            query = query.where(DEAD_LETTERS.c.tag_id == tag_id)
        rows = self._db.rows(query.order_by(DEAD_LETTERS.c.id.desc()).limit(limit))
        return [
            StoredDeadLetter(
                id=row.id,
                letter=DeadLetter(
                    topic=row.topic,
                    payload=bytes(row.payload),
                    reason=row.reason,
                    received_at=row.received_at.astimezone(UTC),
                    tag_id=row.tag_id,
                    cause=row.cause,
                ),
                # Letters from before version 4 kept their payload whole.
                payload_bytes=(row.payload_bytes if row.payload_bytes is not None
                               else len(row.payload)),
                payload_sha256=row.payload_sha256,
            )
            for row in rows
        ]

    def count(self) -> int:
        return int(self._db.scalar(select(func.count()).select_from(DEAD_LETTERS)))


def _printable(text: str, *, nul: bool = False) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00") if nul else text
