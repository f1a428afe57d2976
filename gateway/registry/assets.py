"""Assets and recalls, with an in-memory index of tag bindings for the ingest hot path."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from gateway.domain import (
    UNASSIGNED_BINDING,
    Asset,
    AssetKind,
    AssetState,
    Flow,
    Recall,
    TagBinding,
)
from gateway.registry._keyset import SortKey, SortOrder, fetch_page, last_when_null

SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY,
    tag_id TEXT UNIQUE,
    kind TEXT NOT NULL,
    flow TEXT NOT NULL,
    sku TEXT, serial TEXT, lot TEXT, profile TEXT, customer TEXT,
    due_at TEXT,
    destination TEXT,
    allowed_area TEXT,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recalls (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    lots TEXT NOT NULL,
    serials TEXT NOT NULL,
    reason TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
"""

_ASSET_COLUMNS = (
    "id, tag_id, kind, flow, sku, serial, lot, profile, customer, due_at, destination, "
    "allowed_area, state, created_at"
)
_UPSERT_ASSET = (
    f"INSERT INTO assets ({_ASSET_COLUMNS}) VALUES ({', '.join('?' * 14)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _ASSET_COLUMNS.split(", ")
                if c not in ("id", "created_at"))
)
_UPSERT_RECALL = (
    "INSERT INTO recalls VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "sku=excluded.sku, lots=excluded.lots, serials=excluded.serials, "
    "reason=excluded.reason, active=excluded.active"
)
_FILTERABLE = frozenset(("tag_id", "kind", "flow", "sku", "serial", "lot", "customer", "state",
                         "profile", "destination"))
_RECALL_COLUMNS = ("id", "sku", "lots", "serials", "reason", "active", "created_at")


class AssetOrder(SortOrder):
    """A sort over the assets by one of ASSET_SORT_FIELDS, ties broken by id."""

    __slots__ = ()
    WHAT = "assets"
    TERMS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "id": ("id",),
        "created_at": ("created_at", "id"),
        "state": ("state", "id"),
        **{column: (last_when_null(column), "id") for column in ("due_at", "customer", "sku")},
    }


class RecallOrder(SortOrder):
    """A sort over the recalls by one of RECALL_SORT_FIELDS, ties broken by id."""

    __slots__ = ()
    WHAT = "recalls"
    TERMS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "id": ("id",),
        "created_at": ("created_at", "id"),
        "sku": ("sku", "id"),
    }


ASSET_SORT_FIELDS = AssetOrder.fields()
RECALL_SORT_FIELDS = RecallOrder.fields()


class TagAlreadyBound(Exception):
    def __init__(self, tag_id: str, asset_id: str) -> None:
        super().__init__(f"tag {tag_id} is already bound to asset {asset_id}")
        self.tag_id, self.asset_id = tag_id, asset_id


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(ts: datetime | None) -> str | None:
    # UTC, so that the stored text sorts in time order whatever offset a client sent.
    return ts.astimezone(UTC).isoformat() if ts else None


def _asset_row(asset: Asset) -> tuple[Any, ...]:
    assert asset.created_at is not None
    return (
        asset.id, asset.tag_id, str(asset.kind), str(asset.flow), asset.sku, asset.serial,
        asset.lot, asset.profile, asset.customer, _iso(asset.due_at), asset.destination,
        asset.allowed_area, str(asset.state), _iso(asset.created_at),
    )


def _recall_row(recall: Recall) -> tuple[Any, ...]:
    assert recall.created_at is not None
    return (
        recall.id, recall.sku, orjson.dumps(list(recall.lots)).decode(),
        orjson.dumps(list(recall.serials)).decode(), recall.reason, int(recall.active),
        _iso(recall.created_at),
    )


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """SQLite limits the parameters of one statement."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _asset(row: tuple[Any, ...]) -> Asset:
    return Asset(
        id=row[0], tag_id=row[1], kind=AssetKind(row[2]), flow=Flow(row[3]), sku=row[4],
        serial=row[5], lot=row[6], profile=row[7], customer=row[8], due_at=_time(row[9]),
        destination=row[10], allowed_area=row[11], state=AssetState(row[12]),
        created_at=_time(row[13]),
    )


def _recall(row: tuple[Any, ...]) -> Recall:
    return Recall(
        id=row[0], sku=row[1], lots=tuple(orjson.loads(row[2])),
        serials=tuple(orjson.loads(row[3])), reason=row[4], active=bool(row[5]),
        created_at=_time(row[6]),
    )


class AssetRegistry:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)
        self._bindings: dict[str, TagBinding] = {
            asset.tag_id: asset.binding() for asset in self.assets() if asset.tag_id
        }

    def binding_of(self, tag_id: str) -> TagBinding:
        return self._bindings.get(tag_id, UNASSIGNED_BINDING)

    def create_asset(self, asset: Asset) -> Asset:
        """Raises TagAlreadyBound, or sqlite3.IntegrityError for an existing id."""
        if asset.tag_id and asset.tag_id in self._bindings:
            raise TagAlreadyBound(asset.tag_id, self._bindings[asset.tag_id].asset_id)
        asset.created_at = asset.created_at or datetime.now(UTC)
        asset.due_at = asset.due_at and asset.due_at.astimezone(UTC)
        with self.db:
            self.db.execute(
                f"INSERT INTO assets ({_ASSET_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                _asset_row(asset),
            )
        if asset.tag_id:
            self._bindings[asset.tag_id] = asset.binding()
        return asset

    def save_assets(self, assets: Sequence[Asset]) -> list[TagAlreadyBound | None]:
        """Create or replace each asset, in order, in one transaction; a stored asset keeps
        its `created_at`. An asset whose tag another asset holds, counting the changes
        before it in `assets`, is left out: its entry in the answer is the conflict; the
        others' entries are None."""
        current_tag = self._tags_of([asset.id for asset in assets])
        holder: dict[str, str | None] = {}  # tag -> asset id, over self._bindings; None: freed
        final: dict[str, Asset] = {}
        answer: list[TagAlreadyBound | None] = []
        rows = []
        now = datetime.now(UTC)
        for asset in assets:
            if asset.tag_id:
                if asset.tag_id in holder:
                    other = holder[asset.tag_id]
                else:
                    bound = self._bindings.get(asset.tag_id)
                    other = bound.asset_id if bound else None
                if other is not None and other != asset.id:
                    answer.append(TagAlreadyBound(asset.tag_id, other))
                    continue
            old_tag = current_tag.get(asset.id)
            if old_tag and old_tag != asset.tag_id:
                holder[old_tag] = None
            if asset.tag_id:
                holder[asset.tag_id] = asset.id
            current_tag[asset.id] = asset.tag_id
            asset.created_at = asset.created_at or now
            asset.due_at = asset.due_at and asset.due_at.astimezone(UTC)
            final[asset.id] = asset
            rows.append(_asset_row(asset))
            answer.append(None)
        with self.db:
            self.db.executemany(_UPSERT_ASSET, rows)
        for tag, owner in holder.items():
            if owner is None:
                self._bindings.pop(tag, None)
            else:
                self._bindings[tag] = final[owner].binding()
        return answer

    def update_asset(self, asset: Asset) -> None:
        """Replace a stored asset; raises TagAlreadyBound."""
        conflict = self.save_assets([asset])[0]
        if conflict is not None:
            raise conflict

    def delete_asset(self, asset_id: str) -> bool:
        with self.db:
            row = self.db.execute("DELETE FROM assets WHERE id=? RETURNING tag_id",
                                  (asset_id,)).fetchone()
        if row is not None and row[0]:
            self._bindings.pop(row[0], None)
        return row is not None

    def _tags_of(self, asset_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored tag of each of these assets that exists."""
        tags: dict[str, str | None] = {}
        for chunk in _chunks(list(dict.fromkeys(asset_ids))):
            rows = self.db.execute(
                f"SELECT id, tag_id FROM assets WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk)
            tags.update((row[0], row[1]) for row in rows)
        return tags

    def set_state(self, asset_id: str, state: AssetState) -> None:
        """No commit: called inside the rule engine's transaction."""
        self.db.execute("UPDATE assets SET state=? WHERE id=?", (str(state), asset_id))

    def get_asset(self, asset_id: str) -> Asset | None:
        row = self.db.execute(
            f"SELECT {_ASSET_COLUMNS} FROM assets WHERE id=?", (asset_id,)
        ).fetchone()
        return _asset(row) if row else None

    def get_assets(self, asset_ids: Iterable[str]) -> dict[str, Asset]:
        """Those of these assets that exist, by id."""
        found: dict[str, Asset] = {}
        for chunk in _chunks(list(dict.fromkeys(asset_ids))):
            rows = self.db.execute(
                f"SELECT {_ASSET_COLUMNS} FROM assets "
                f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            found.update((row[0], _asset(row)) for row in rows)
        return found

    def assets(
        self, *, limit: int | None = None, after_id: str | None = None, **equal: str | None
    ) -> list[Asset]:
        """Ordered by id; page with `after_id`. `equal` filters on columns by equality."""
        items, _ = self.asset_page(AssetOrder(), limit=limit,
                                   after=(after_id,) if after_id is not None else None, **equal)
        return items

    def asset_page(
        self, order: AssetOrder, *, limit: int | None = None, after: SortKey | None = None,
        **equal: str | None,
    ) -> tuple[list[Asset], SortKey | None]:
        """Up to `limit` assets in `order` after the key `after` (a previous page's), and the
        key to pass for the next page, None on the last. `equal` filters columns by equality."""
        where: dict[str, str] = {}
        for column, value in equal.items():
            if value is not None:
                if column not in _FILTERABLE:
                    raise ValueError(f"cannot filter assets by {column}")
                where[f"{column} = ?"] = value
        rows, next_key = fetch_page(self.db, "assets", _ASSET_COLUMNS.split(", "), order,
                                    limit=limit, after=after, where=where)
        return [_asset(row) for row in rows], next_key

    def create_recall(self, recall: Recall) -> Recall:
        recall.id = recall.id or f"rcl_{uuid.uuid4().hex[:16]}"
        recall.created_at = recall.created_at or datetime.now(UTC)
        with self.db:
            self.db.execute("INSERT INTO recalls VALUES (?, ?, ?, ?, ?, ?, ?)",
                            _recall_row(recall))
        return recall

    def save_recalls(self, recalls: Sequence[Recall]) -> None:
        """Create or replace each recall, in one transaction (`created_at` kept)."""
        now = datetime.now(UTC)
        for recall in recalls:
            recall.created_at = recall.created_at or now
        with self.db:
            self.db.executemany(_UPSERT_RECALL, [_recall_row(r) for r in recalls])

    def delete_recall(self, recall_id: str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM recalls WHERE id=?", (recall_id,)).rowcount > 0

    def recalls(self, *, sku: str | None = None, active: bool | None = None) -> list[Recall]:
        """Oldest first."""
        items, _ = self.recall_page(RecallOrder("created_at"), sku=sku, active=active)
        return items

    def recall_page(
        self, order: RecallOrder, *, limit: int | None = None, after: SortKey | None = None,
        sku: str | None = None, active: bool | None = None,
    ) -> tuple[list[Recall], SortKey | None]:
        """As `asset_page`, of the recalls, filtered by sku and whether they are active."""
        where: dict[str, str | int] = {}
        if sku is not None:
            where["sku = ?"] = sku
        if active is not None:
            where["active = ?"] = int(active)
        rows, next_key = fetch_page(self.db, "recalls", _RECALL_COLUMNS, order, limit=limit,
                                    after=after, where=where)
        return [_recall(row) for row in rows], next_key

    def get_recall(self, recall_id: str) -> Recall | None:
        row = self.db.execute(f"SELECT {', '.join(_RECALL_COLUMNS)} FROM recalls WHERE id=?",
                              (recall_id,)).fetchone()
        return _recall(row) if row else None

    def get_recalls(self, recall_ids: Iterable[str]) -> dict[str, Recall]:
        """Those of these recalls that exist, by id."""
        found: dict[str, Recall] = {}
        for chunk in _chunks(list(dict.fromkeys(recall_ids))):
            rows = self.db.execute(
                f"SELECT {', '.join(_RECALL_COLUMNS)} FROM recalls "
                f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            found.update((row[0], _recall(row)) for row in rows)
        return found
