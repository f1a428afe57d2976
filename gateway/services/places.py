"""Spec profiles and geofences: the rule engine holds them (the built-in profiles are code),
the place registry stores those people register."""

from __future__ import annotations

from alerts import Profile
from alerts.domain import Geofence
from alerts.geo import Zone
from gateway.imports import Problem
from gateway.registry import AssetRegistry, PlaceRegistry
from gateway.services.assets import RegistryWriter
from gateway.services.errors import Conflict, Invalid, NotFound
from ingest.statedb import StateDb


class ProfileService:
    def __init__(self, db: StateDb, places: PlaceRegistry, registry: AssetRegistry,
                 writer: RegistryWriter) -> None:
        self._db, self._places, self._registry, self._writer = db, places, registry, writer
        self._engine = writer.engine

    async def all(self) -> list[Profile]:
        return await self._db.run(lambda: list(self._engine.profiles.values()))

    async def get(self, name: str) -> Profile:
        return await self._db.run(self._get, name)

    def _get(self, name: str) -> Profile:
        profile = self._engine.profiles.get(name)
        if profile is None:
            raise NotFound("profile", name)
        return profile

    def _changeable(self, name: str) -> Profile:
        profile = self._get(name)
        if profile.built_in:
            raise Conflict(f"{name} is built in and cannot change")
        return profile

    async def create(self, profile: Profile) -> Profile:
        return await self._db.run(self._create, profile)

    def _create(self, profile: Profile) -> Profile:
        if profile.name in self._engine.profiles:
            raise Conflict(f"profile {profile.name} exists")
        self._save(profile)
        return profile

    async def replace(self, name: str, profile: Profile) -> Profile:
        return await self._db.run(self._replace, name, profile)

    def _replace(self, name: str, profile: Profile) -> Profile:
        self._changeable(name)
        if profile.name != name:
            raise Invalid("body", [Problem("name", "must equal the name in the path")])
        self._save(profile)
        return profile

    def _save(self, profile: Profile) -> None:
        with self._db.transaction():
            self._places.save_profile(profile)
            self._writer.changed()
        self._engine.upsert_profile(profile)

    async def delete(self, name: str) -> None:
        await self._db.run(self._delete, name)

    def _delete(self, name: str) -> None:
        self._changeable(name)
        users = self._registry.assets(limit=10, profile=name)
        if users:
            raise Conflict(f"assets use profile {name}: {', '.join(a.id for a in users)}")
        with self._db.transaction():
            self._places.delete_profile(name)
            self._writer.changed()
        self._engine.remove_profile(name)


class GeofenceService:
    def __init__(self, db: StateDb, places: PlaceRegistry, writer: RegistryWriter) -> None:
        self._db, self._places, self._writer = db, places, writer
        self._engine = writer.engine

    async def all(self) -> list[Geofence]:
        return await self._db.run(lambda: [zone.fence for zone in self._engine.zones.values()])

    async def get(self, fence_id: str) -> Geofence:
        return (await self._db.run(self._zone, fence_id)).fence

    def _zone(self, fence_id: str) -> Zone:
        zone = self._engine.zones.get(fence_id)
        if zone is None:
            raise NotFound("geofence", fence_id)
        return zone

    async def create(self, fence: Geofence) -> Geofence:
        return await self._db.run(self._create, fence)

    def _create(self, fence: Geofence) -> Geofence:
        if fence.id in self._engine.zones:
            raise Conflict(f"geofence {fence.id} exists")
        return self._save(fence)

    async def replace(self, fence_id: str, fence: Geofence) -> Geofence:
        """A new name, kind or shape (a depot moved, an area redrawn)."""
        return await self._db.run(self._replace, fence_id, fence)

    def _replace(self, fence_id: str, fence: Geofence) -> Geofence:
        self._zone(fence_id)
        if fence.id != fence_id:
            raise Invalid("body", [Problem("id", "must equal the id in the path")])
        return self._save(fence)

    def _save(self, fence: Geofence) -> Geofence:
        try:
            Zone.of(fence)
        except ValueError as exc:
            raise Invalid("body", [Problem("geometry", str(exc))]) from None
        with self._db.transaction():
            self._places.save_geofence(fence)
            self._writer.changed()
        self._engine.upsert_geofence(fence)
        return fence

    async def delete(self, fence_id: str) -> None:
        await self._db.run(self._delete, fence_id)

    def _delete(self, fence_id: str) -> None:
        self._zone(fence_id)
        users = self._places.geofence_in_use(fence_id)
        if users:
            raise Conflict(f"assets use geofence {fence_id}: {', '.join(users)}")
        with self._db.transaction():
            self._places.delete_geofence(fence_id)
            self._writer.changed()
        self._engine.remove_geofence(fence_id)
