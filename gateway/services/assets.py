"""Assets and recalls: what the API and imports may do with them, and the rule engine told
of each change (or, on a gateway that does not judge, the gateway that does, through the
registry's revision)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from alerts import EngineEvent, Profile, RuleEngine
from alerts.domain import Asset, AssetKind, AssetState, Recall
from gateway.imports import (
    ImportRow,
    RowOutcome,
    chunks,
    import_asset_chunk,
    import_recall_chunk,
    unknown_references,
)
from gateway.registry import (
    AssetOrder,
    AssetRegistry,
    PlaceRegistry,
    RecallOrder,
    SortKey,
    TagAlreadyBound,
)
from gateway.registry.changes import RegistryRevision
from gateway.registry.trips import TripStore
from gateway.services.errors import Conflict, Invalid, NotFound
from ingest.speakers import TagSpeakers

if TYPE_CHECKING:
    from gateway.services.trips import TripService
from ingest.statedb import StateDb, is_unique_violation


class RegistryWriter:
    """A change to the registry, the revision raised in its transaction, and the engine told
    after it commits. `judges`: whether this gateway's engine judges (one gateway does);
    otherwise the engine's copy only is brought up to date, and the judging gateway sees
    the new revision (`catch_up`)."""

    def __init__(self, db: StateDb, engine: RuleEngine, revision: RegistryRevision,
                 registry: AssetRegistry, places: PlaceRegistry, speakers: TagSpeakers,
                 fixed_profiles: Mapping[str, Profile], *, judges: bool,
                 trips: TripStore | None = None) -> None:
        self.db, self.engine, self.revision, self.judges = db, engine, revision, judges
        self._trips = trips
        self._registry, self._places, self._speakers = registry, places, speakers
        self._fixed_profiles = dict(fixed_profiles)
        self.loaded_revision = revision.current()
        """The revision the engine's copy reflects."""

    def changed(self) -> None:
        """Call inside the change's transaction."""
        new = self.revision.bump()
        if new == self.loaded_revision + 1:
            self.loaded_revision = new  # nobody else changed anything in between

    def catch_up(self) -> bool:
        """If another gateway changed the registry since it was loaded, bring the engine's
        copy, the tag bindings and the speakers' claims up to date; whether it did. Assets
        gone are forgotten (by the judging gateway: their alerts resolved, as a deletion
        through its own API does)."""
        current = self.revision.current()
        if current == self.loaded_revision:
            return False
        engine = self.engine
        assets = {asset.id: asset for asset in self._registry.assets()}
        for gone in set(engine.asset_ids()) - set(assets):
            if self.judges:
                engine.remove_asset(gone)
            else:
                engine.forget_asset(gone)
        self.upsert_assets([asset for asset in assets.values()
                            if engine.asset(asset.id) != asset])
        recalls = {recall.id: recall for recall in self._registry.recalls()}
        for recall in engine.recalls():
            if recall.id not in recalls:
                engine.remove_recall(recall.id)
        known = {recall.id: recall for recall in engine.recalls()}
        self.upsert_recalls([recall for recall in recalls.values()
                             if known.get(recall.id) != recall])
        profiles = {**self._fixed_profiles,
                    **{profile.name: profile for profile in self._places.profiles()}}
        for name in set(engine.profiles) - set(profiles):
            engine.remove_profile(name)
        for profile in profiles.values():
            engine.upsert_profile(profile)
        fences = {fence.id: fence for fence in self._places.geofences()}
        for fence_id in set(engine.zones) - set(fences):
            engine.remove_geofence(fence_id)
        for fence in fences.values():
            if (zone := engine.zones.get(fence.id)) is None or zone.fence != fence:
                engine.upsert_geofence(fence)
        if self._trips is not None:
            engine.policy = engine.policy.with_disposition_rules(
                self._trips.disposition_rules())
        self._registry.reload_bindings()
        self._speakers.reload()
        self.loaded_revision = current
        return True

    def upsert_assets(self, assets: list[Asset]) -> None:
        self.engine.upsert_assets(assets, judge=self.judges)

    def upsert_recalls(self, recalls: list[Recall]) -> None:
        if self.judges:
            self.engine.upsert_recalls(recalls)
        else:
            self.engine.keep_recalls(recalls)


class AssetService:
    def __init__(self, db: StateDb, registry: AssetRegistry, writer: RegistryWriter,
                 trips: TripService) -> None:
        self._db, self._registry, self._writer = db, registry, writer
        self._engine = writer.engine
        self._trips = trips

    async def page(self, order: AssetOrder, *, limit: int, after: SortKey | None,
                   **equal: str | None) -> tuple[list[Asset], SortKey | None]:
        return await self._db.run(self._registry.asset_page, order, limit=limit, after=after,
                                  **equal)

    async def get(self, asset_id: str) -> Asset:
        asset = await self._db.run(self._registry.get_asset, asset_id)
        if asset is None:
            raise NotFound("asset", asset_id)
        return asset

    async def bound_to(self, tag_id: str) -> Asset | None:
        found = await self._db.run(self._registry.assets, tag_id=tag_id, limit=1)
        return found[0] if found else None

    async def create(self, asset: Asset, *, open_trip: bool = True) -> Asset:
        """`open_trip`: its first trip from its own fields (v1); else it waits, arrived."""
        created, events = await self._db.run(self._create, asset, open_trip)
        self._engine.announce(events)
        return created

    def _create(self, asset: Asset, open_trip: bool) -> tuple[Asset, list[EngineEvent]]:
        self._check_references(asset)
        events: list[EngineEvent] = []
        if not open_trip:
            # Home, waiting for its first trip.
            asset.state = (AssetState.RETURNED if asset.kind == AssetKind.RENTAL
                           else AssetState.RECEIVED)
        try:
            with self._writing():
                if open_trip:
                    self._trips.prepare_for_assets([asset])
                created = self._registry.create_asset(asset)
                if open_trip:
                    events = self._trips.open_for_assets([created])
                self._writer.changed()
        except TagAlreadyBound as exc:
            raise Conflict(str(exc)) from None
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            if self._registry.get_asset(asset.id) is not None:
                raise Conflict(f"asset {asset.id} exists") from None
            # Bound by another gateway on the same database since ours loaded its bindings.
            raise Conflict(f"tag {asset.tag_id} is already bound to another asset") from None
        self._writer.upsert_assets([created])
        return created, events

    async def update(self, asset_id: str, changes: Mapping[str, Any]) -> Asset:
        asset, events = await self._db.run(self._update, asset_id, changes)
        self._engine.announce(events)
        return asset

    def _update(self, asset_id: str, changes: Mapping[str, Any]
                ) -> tuple[Asset, list[EngineEvent]]:
        current = self._registry.get_asset(asset_id)
        if current is None:
            raise NotFound("asset", asset_id)
        asset = replace(current, **changes)
        self._check_references(asset)
        try:
            with self._writing():
                self._registry.update_asset(asset)
                events = self._trips.follow_assets([asset])
                self._writer.changed()
        except TagAlreadyBound as exc:
            raise Conflict(f"asset {asset_id} cannot take tag {exc.tag_id}: it is bound to "
                           f"asset {exc.asset_id}") from None
        self._writer.upsert_assets([asset])
        return asset, events

    async def delete(self, asset_id: str, by: str = "") -> None:
        await self._db.run(self._delete, asset_id, by)

    def _delete(self, asset_id: str, by: str) -> None:
        """Its live alerts resolved and its rule state forgotten first, then the asset: a
        crash in between leaves an asset to delete again, never open alerts of one gone."""
        if self._registry.get_asset(asset_id) is None:
            raise NotFound("asset", asset_id)
        if self._writer.judges:
            self._engine.remove_asset(asset_id, by)
        with self._writing():
            deleted = self._registry.delete_asset(asset_id)
            self._trips.forget_asset(asset_id)
            self._writer.changed()
        if not deleted:
            raise NotFound("asset", asset_id)
        if not self._writer.judges:
            self._engine.forget_asset(asset_id)

    async def import_rows(self, rows: list[ImportRow], *, create_only: bool
                          ) -> list[RowOutcome]:
        """Each row's outcome, in order; a chunk at a time (gateway.imports says why)."""
        outcomes: list[RowOutcome] = []
        async for chunk in chunks(rows):
            done, events = await self._db.run(self._import_chunk, chunk, create_only)
            outcomes += done
            self._engine.announce(events)
        return outcomes

    def _import_chunk(self, rows: list[ImportRow], create_only: bool
                      ) -> tuple[list[RowOutcome], list[EngineEvent]]:
        """New assets open their first trip, as through `create`; changed ones change their
        open trip's fields."""
        events: list[EngineEvent] = []

        def after_saving(new: list[Asset], changed: list[Asset]) -> None:
            events.extend(self._trips.open_for_assets(new))
            events.extend(self._trips.follow_assets(changed))

        with self._writing():
            outcomes, saved = import_asset_chunk(self._registry, self._engine, rows,
                                                 create_only=create_only,
                                                 before_saving=self._trips.prepare_for_assets,
                                                 after_saving=after_saving)
            if saved:
                self._writer.changed()
        self._writer.upsert_assets(saved)
        return outcomes, events

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction of registry writes: the tag bindings index follows each write at
        once, so a transaction rolled back leaves it to be read again from the database."""
        try:
            with self._db.transaction():
                yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._registry.reload_bindings()
            raise

    def _check_references(self, asset: Asset) -> None:
        problems = unknown_references(asset, self._engine.profiles, self._engine.zones)
        if problems:
            raise Invalid("body", problems)


class RecallService:
    def __init__(self, db: StateDb, registry: AssetRegistry, writer: RegistryWriter) -> None:
        self._db, self._registry, self._writer = db, registry, writer
        self._engine = writer.engine

    async def page(self, order: RecallOrder, *, limit: int, after: SortKey | None,
                   sku: str | None = None, active: bool | None = None,
                   ) -> tuple[list[Recall], SortKey | None]:
        return await self._db.run(self._registry.recall_page, order, limit=limit, after=after,
                                  sku=sku, active=active)

    async def get(self, recall_id: str) -> Recall:
        recall = await self._db.run(self._registry.get_recall, recall_id)
        if recall is None:
            raise NotFound("recall", recall_id)
        return recall

    async def create(self, recall: Recall) -> Recall:
        return await self._db.run(self._create, recall)

    def _create(self, recall: Recall) -> Recall:
        if recall.id and self._registry.get_recall(recall.id) is not None:
            raise Conflict(f"recall {recall.id} exists")
        try:
            with self._db.transaction():
                created = self._registry.create_recall(recall)
                self._writer.changed()
        except Exception as exc:
            if is_unique_violation(exc):
                raise Conflict(f"recall {recall.id} exists") from None
            raise
        self._writer.upsert_recalls([created])
        return created

    async def update(self, recall_id: str, changes: Mapping[str, Any]) -> Recall:
        return await self._db.run(self._update, recall_id, changes)

    def _update(self, recall_id: str, changes: Mapping[str, Any]) -> Recall:
        current = self._registry.get_recall(recall_id)
        if current is None:
            raise NotFound("recall", recall_id)
        recall = replace(current, **changes)
        with self._db.transaction():
            self._registry.save_recalls([recall])
            self._writer.changed()
        self._writer.upsert_recalls([recall])
        return recall

    async def delete(self, recall_id: str) -> None:
        await self._db.run(self._delete, recall_id)

    def _delete(self, recall_id: str) -> None:
        with self._db.transaction():
            deleted = self._registry.delete_recall(recall_id)
            if deleted:
                self._writer.changed()
        self._engine.remove_recall(recall_id)
        if not deleted:
            raise NotFound("recall", recall_id)

    async def import_rows(self, rows: list[ImportRow], *, create_only: bool
                          ) -> list[RowOutcome]:
        """Each row's outcome, in order. A chunk's rows go to the registry in one
        transaction; once all are in, every asset is judged against the active recalls, a
        chunk at a time."""
        outcomes: list[RowOutcome] = []
        async for chunk in chunks(rows):
            outcomes += await self._db.run(self._import_chunk, chunk, create_only)
        if self._writer.judges:
            async for asset_ids in chunks(self._engine.asset_ids()):
                await self._db.run(self._engine.judge_recalls, asset_ids)
        return outcomes

    def _import_chunk(self, rows: list[ImportRow], create_only: bool) -> list[RowOutcome]:
        with self._db.transaction():
            outcomes, saved = import_recall_chunk(self._registry, rows, create_only=create_only)
            if saved:
                self._writer.changed()
        self._engine.keep_recalls(saved)
        return outcomes
