"""Assets and recalls, with an in-memory index of tag bindings for the ingest hot path."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    Index,
    Integer,
    Row,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.sql.expression import Grouping

from alerts.bindings import TagBindings
from alerts.domain import Asset, AssetKind, AssetState, Flow, Recall
from gateway.registry._keyset import (
    SortKey,
    SortOrder,
    SortTerms,
    equal_to,
    fetch_page,
    in_chunks,
    last_when_null,
)
from ingest.readings import TagBinding
from ingest.statedb import METADATA, Json, SortedText, StateDb, Utc, upsert

# The columns a listing sorts by (and the ids that break its ties) are SortedText, so that
# both engines order them by code point.
ASSETS = Table(
    "assets", METADATA,
    Column("id", SortedText, primary_key=True),
    Column("tag_id", Text, unique=True),
    Column("kind", Text, nullable=False),
    Column("flow", Text, nullable=False),
    Column("sku", SortedText), Column("serial", Text), Column("lot", Text),
    Column("profile", Text), Column("customer", SortedText),
    Column("due_at", Utc),
    Column("destination", Text),
    Column("allowed_area", Text),
    Column("state", SortedText, nullable=False),
    Column("created_at", Utc, nullable=False),
    # Release 0.2: the item's category and age, and its open trip (gateway.registry.trips).
    Column("category", Text),
    Column("acquired_at", Utc),
    Column("trip_id", Text),
    Column("trip_status", Text),
    Column("origin_lat", Float),
    Column("origin_lon", Float),
    # Filters by sku, serial, lot and customer, and the page by creation, without a scan.
    Index("assets_by_sku", "sku"),
    Index("assets_by_serial", "serial"),
    Index("assets_by_lot", "lot"),
    Index("assets_by_customer", "customer"),
    Index("assets_by_created", "created_at", "id"),
)
RECALLS = Table(
    "recalls", METADATA,
    Column("id", SortedText, primary_key=True),
    Column("sku", SortedText, nullable=False),
    Column("lots", Json, nullable=False),
    Column("serials", Json, nullable=False),
    Column("reason", Text, nullable=False),
    Column("active", Integer, nullable=False),
    Column("created_at", Utc, nullable=False),
)

_BY_DUE = last_when_null(ASSETS.c.due_at)
# The page by due date without a scan: the very expressions the sort is by (AssetOrder), in
# parentheses, which PostgreSQL needs around an expression in an index.
Index("assets_by_due", *(Grouping(term) for term in _BY_DUE), ASSETS.c.id)

_FILTERABLE = frozenset(("tag_id", "kind", "flow", "sku", "serial", "lot", "customer", "state",
                         "profile", "destination", "category", "trip_status"))
_KEPT_ON_UPDATE = frozenset(("id", "created_at"))


class AssetOrder(SortOrder):
    """A sort over the assets by one of ASSET_SORT_FIELDS, ties broken by id."""

    __slots__ = ()
    WHAT = "assets"
    TERMS: ClassVar[Mapping[str, SortTerms]] = {
        "id": (ASSETS.c.id,),
        "created_at": (ASSETS.c.created_at, ASSETS.c.id),
        "state": (ASSETS.c.state, ASSETS.c.id),
        "due_at": (*_BY_DUE, ASSETS.c.id),
        **{column: (*last_when_null(ASSETS.c[column]), ASSETS.c.id)
           for column in ("customer", "sku")},
    }


class RecallOrder(SortOrder):
    """A sort over the recalls by one of RECALL_SORT_FIELDS, ties broken by id."""

    __slots__ = ()
    WHAT = "recalls"
    TERMS: ClassVar[Mapping[str, SortTerms]] = {
        "id": (RECALLS.c.id,),
        "created_at": (RECALLS.c.created_at, RECALLS.c.id),
        "sku": (RECALLS.c.sku, RECALLS.c.id),
    }


ASSET_SORT_FIELDS = AssetOrder.fields()
RECALL_SORT_FIELDS = RecallOrder.fields()


class TagAlreadyBound(Exception):
    def __init__(self, tag_id: str, asset_id: str) -> None:
        super().__init__(f"tag {tag_id} is already bound to asset {asset_id}")
        self.tag_id, self.asset_id = tag_id, asset_id


def _asset_values(asset: Asset) -> dict[str, Any]:
    # Utc stores a time in UTC, so that the stored text sorts in time order whatever offset
    # a client sent.
    assert asset.created_at is not None
    return {
        "id": asset.id, "tag_id": asset.tag_id, "kind": str(asset.kind),
        "flow": str(asset.flow), "sku": asset.sku, "serial": asset.serial, "lot": asset.lot,
        "profile": asset.profile, "customer": asset.customer, "due_at": asset.due_at,
        "destination": asset.destination, "allowed_area": asset.allowed_area,
        "state": str(asset.state), "created_at": asset.created_at,
        "category": asset.category, "acquired_at": asset.acquired_at,
        "trip_id": asset.trip_id, "trip_status": asset.trip_status,
        "origin_lat": asset.origin_lat, "origin_lon": asset.origin_lon,
    }


def _recall_values(recall: Recall) -> dict[str, Any]:
    assert recall.created_at is not None
    return {
        "id": recall.id, "sku": recall.sku, "lots": list(recall.lots),
        "serials": list(recall.serials), "reason": recall.reason,
        "active": int(recall.active), "created_at": recall.created_at,
    }


def _asset(row: Row[Any]) -> Asset:
    return Asset(
        id=row.id, tag_id=row.tag_id, kind=AssetKind(row.kind), flow=Flow(row.flow),
        sku=row.sku, serial=row.serial, lot=row.lot, profile=row.profile,
        customer=row.customer, due_at=row.due_at, destination=row.destination,
        allowed_area=row.allowed_area, state=AssetState(row.state), created_at=row.created_at,
        category=row.category, acquired_at=row.acquired_at, trip_id=row.trip_id,
        trip_status=row.trip_status, origin_lat=row.origin_lat, origin_lon=row.origin_lon,
    )


def _recall(row: Row[Any]) -> Recall:
    return Recall(
        id=row.id, sku=row.sku, lots=tuple(row.lots), serials=tuple(row.serials),
        reason=row.reason, active=bool(row.active), created_at=row.created_at,
    )


class AssetRegistry:
    def __init__(self, db: StateDb) -> None:
        self.db = db
        self.bindings = TagBindings()
        """The one index of tag bindings, kept here as assets are written; the rule engine
        and ingest read it."""
        self.reload_bindings()

    def reload_bindings(self) -> None:
        """The tag bindings as stored (another gateway on the database changed them)."""
        self.bindings.replace(self.assets())

    def binding_of(self, tag_id: str) -> TagBinding:
        return self.bindings.binding_of(tag_id)

    def create_asset(self, asset: Asset) -> Asset:
        """Raises TagAlreadyBound, or sqlalchemy.exc.IntegrityError for an existing id."""
        holder = self.bindings.asset_id(asset.tag_id) if asset.tag_id else None
        if asset.tag_id and holder is not None:
            raise TagAlreadyBound(asset.tag_id, holder)
        asset.created_at = asset.created_at or datetime.now(UTC)
        asset.due_at = asset.due_at and asset.due_at.astimezone(UTC)
        self.db.execute(insert(ASSETS).values(_asset_values(asset)))
        self.bindings.bind(asset)
        return asset

    def save_assets(self, assets: Sequence[Asset]) -> list[TagAlreadyBound | None]:
        """Create or replace each asset, in order, in one transaction; a stored asset keeps
        its `created_at`. An asset whose tag another asset holds, counting the changes
        before it in `assets`, is left out: its entry in the answer is the conflict; the
        others' entries are None."""
        current_tag = self._tags_of([asset.id for asset in assets])
        holder: dict[str, str | None] = {}  # tag -> asset id, over self.bindings; None: freed
        final: dict[str, Asset] = {}
        answer: list[TagAlreadyBound | None] = []
        rows = []
        now = datetime.now(UTC)
        for asset in assets:
            if asset.tag_id:
                if asset.tag_id in holder:
                    other = holder[asset.tag_id]
                else:
                    other = self.bindings.asset_id(asset.tag_id)
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
            rows.append(_asset_values(asset))
            answer.append(None)
        if rows:
            # One statement a row, in order (an id may come twice: the later row wins).
            statement = upsert(self.db, ASSETS)
            self.db.execute(statement.on_conflict_do_update(
                index_elements=[ASSETS.c.id],
                set_={column.name: statement.excluded[column.name] for column in ASSETS.c
                      if column.name not in _KEPT_ON_UPDATE}), rows)
        for tag, owner in holder.items():
            if owner is None:
                self.bindings.unbind_tag(tag)
            else:
                self.bindings.bind(final[owner])
        return answer

    def update_asset(self, asset: Asset) -> None:
        """Replace a stored asset; raises TagAlreadyBound."""
        conflict = self.save_assets([asset])[0]
        if conflict is not None:
            raise conflict

    def delete_asset(self, asset_id: str) -> bool:
        row = self.db.row(delete(ASSETS).where(ASSETS.c.id == asset_id)
                          .returning(ASSETS.c.tag_id))
        if row is not None and row.tag_id:
            self.bindings.unbind_tag(row.tag_id)
        return row is not None

    def _tags_of(self, asset_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored tag of each of these assets that exists."""
        tags: dict[str, str | None] = {}
        for chunk in in_chunks(list(dict.fromkeys(asset_ids))):
            rows = self.db.rows(select(ASSETS.c.id, ASSETS.c.tag_id)
                                .where(ASSETS.c.id.in_(chunk)))
            tags.update((row.id, row.tag_id) for row in rows)
        return tags

    def set_state(self, asset_id: str, state: AssetState) -> None:
        """No commit: called inside the rule engine's transaction."""
        self.db.execute(update(ASSETS).where(ASSETS.c.id == asset_id).values(state=str(state)))

    def get_asset(self, asset_id: str) -> Asset | None:
        row = self.db.row(select(ASSETS).where(ASSETS.c.id == asset_id))
        return _asset(row) if row else None

    def get_assets(self, asset_ids: Iterable[str]) -> dict[str, Asset]:
        """Those of these assets that exist, by id."""
        found: dict[str, Asset] = {}
        for chunk in in_chunks(list(dict.fromkeys(asset_ids))):
            rows = self.db.rows(select(ASSETS).where(ASSETS.c.id.in_(chunk)))
            found.update((row.id, _asset(row)) for row in rows)
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
        where = equal_to(ASSETS, _FILTERABLE, "assets", equal)
        rows, next_key = fetch_page(self.db, ASSETS, list(ASSETS.c), order, limit=limit,
                                    after=after, where=where)
        return [_asset(row) for row in rows], next_key

    def create_recall(self, recall: Recall) -> Recall:
        """Raises sqlalchemy.exc.IntegrityError for an existing id."""
        recall.id = recall.id or f"rcl_{uuid.uuid4().hex[:16]}"
        recall.created_at = recall.created_at or datetime.now(UTC)
        self.db.execute(insert(RECALLS).values(_recall_values(recall)))
        return recall

    def save_recalls(self, recalls: Sequence[Recall]) -> None:
        """Create or replace each recall, in one transaction (`created_at` kept)."""
        now = datetime.now(UTC)
        for recall in recalls:
            recall.created_at = recall.created_at or now
        if not recalls:
            return
        statement = upsert(self.db, RECALLS)
        self.db.execute(statement.on_conflict_do_update(
            index_elements=[RECALLS.c.id],
            set_={column.name: statement.excluded[column.name] for column in RECALLS.c
                  if column.name not in _KEPT_ON_UPDATE}),
            [_recall_values(recall) for recall in recalls])

    def delete_recall(self, recall_id: str) -> bool:
        return self.db.execute(delete(RECALLS).where(RECALLS.c.id == recall_id)).rowcount > 0

    def recalls(self, *, sku: str | None = None, active: bool | None = None) -> list[Recall]:
        """Oldest first."""
        items, _ = self.recall_page(RecallOrder("created_at"), sku=sku, active=active)
        return items

    def recall_page(
        self, order: RecallOrder, *, limit: int | None = None, after: SortKey | None = None,
        sku: str | None = None, active: bool | None = None,
    ) -> tuple[list[Recall], SortKey | None]:
        """As `asset_page`, of the recalls, filtered by sku and whether they are active."""
        where: list[ColumnElement[bool]] = []
        if sku is not None:
            where.append(RECALLS.c.sku == sku)
        if active is not None:
            where.append(RECALLS.c.active == int(active))
        rows, next_key = fetch_page(self.db, RECALLS, list(RECALLS.c), order, limit=limit,
                                    after=after, where=where)
        return [_recall(row) for row in rows], next_key

    def get_recall(self, recall_id: str) -> Recall | None:
        row = self.db.row(select(RECALLS).where(RECALLS.c.id == recall_id))
        return _recall(row) if row else None

    def get_recalls(self, recall_ids: Iterable[str]) -> dict[str, Recall]:
        """Those of these recalls that exist, by id."""
        found: dict[str, Recall] = {}
        for chunk in in_chunks(list(dict.fromkeys(recall_ids))):
            rows = self.db.rows(select(RECALLS).where(RECALLS.c.id.in_(chunk)))
            found.update((row.id, _recall(row)) for row in rows)
        return found
