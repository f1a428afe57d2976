"""Assets and recalls, with an in-memory index of tag bindings for the ingest hot path."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

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


class TagAlreadyBound(Exception):
    def __init__(self, tag_id: str, asset_id: str) -> None:
        super().__init__(f"tag {tag_id} is already bound to asset {asset_id}")
        self.tag_id, self.asset_id = tag_id, asset_id


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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
        with self.db:
            self.db.execute(
                f"INSERT INTO assets ({_ASSET_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                (
                    asset.id, asset.tag_id, str(asset.kind), str(asset.flow), asset.sku,
                    asset.serial, asset.lot, asset.profile, asset.customer,
                    asset.due_at.isoformat() if asset.due_at else None, asset.destination,
                    asset.allowed_area, str(asset.state), asset.created_at.isoformat(),
                ),
            )
        if asset.tag_id:
            self._bindings[asset.tag_id] = asset.binding()
        return asset

    def set_state(self, asset_id: str, state: AssetState) -> None:
        """No commit: called inside the rule engine's transaction."""
        self.db.execute("UPDATE assets SET state=? WHERE id=?", (str(state), asset_id))

    def get_asset(self, asset_id: str) -> Asset | None:
        row = self.db.execute(
            f"SELECT {_ASSET_COLUMNS} FROM assets WHERE id=?", (asset_id,)
        ).fetchone()
        return _asset(row) if row else None

    def assets(
        self, *, limit: int | None = None, after_id: str | None = None, **equal: str | None
    ) -> list[Asset]:
        """Ordered by id; page with `after_id`. `equal` filters on columns by equality."""
        clauses, args = [], []
        for column, value in equal.items():
            if value is not None:
                if column not in ("tag_id", "kind", "flow", "sku", "serial", "lot", "customer",
                                  "state", "profile", "destination"):
                    raise ValueError(f"cannot filter assets by {column}")
                clauses.append(f"{column} = ?")
                args.append(value)
        if after_id is not None:
            clauses.append("id > ?")
            args.append(after_id)
        query = f"SELECT {_ASSET_COLUMNS} FROM assets"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [_asset(row) for row in self.db.execute(query, args)]

    def create_recall(self, recall: Recall) -> Recall:
        recall.id = recall.id or f"rcl_{uuid.uuid4().hex[:16]}"
        recall.created_at = recall.created_at or datetime.now(UTC)
        with self.db:
            self.db.execute(
                "INSERT INTO recalls VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    recall.id, recall.sku, orjson.dumps(list(recall.lots)).decode(),
                    orjson.dumps(list(recall.serials)).decode(), recall.reason,
                    int(recall.active), recall.created_at.isoformat(),
                ),
            )
        return recall

    def recalls(self) -> list[Recall]:
        rows = self.db.execute("SELECT * FROM recalls ORDER BY created_at, id")
        return [_recall(row) for row in rows]

    def get_recall(self, recall_id: str) -> Recall | None:
        row = self.db.execute("SELECT * FROM recalls WHERE id=?", (recall_id,)).fetchone()
        return _recall(row) if row else None
