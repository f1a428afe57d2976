"""Spec profiles and geofences that people register (the built-in profiles are code)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Column, Table, delete, or_, select

from alerts.domain import Circle, Geofence, GeofenceKind
from alerts.profiles import MetricSpec, Profile
from gateway.registry.assets import ASSETS
from ingest.statedb import METADATA, Json, SortedText, StateDb, upsert

# Keys are SortedText: both engines list them in code point order.
PROFILES = Table(
    "profiles", METADATA,
    Column("name", SortedText, primary_key=True),
    Column("body", Json, nullable=False),
)
GEOFENCES = Table(
    "geofences", METADATA,
    Column("id", SortedText, primary_key=True),
    Column("body", Json, nullable=False),
)


def profile_from_json(data: dict[str, Any]) -> Profile:
    metrics = {name: MetricSpec(**spec) for name, spec in data.pop("metrics", {}).items()}
    return Profile(metrics=metrics, **data)


def geofence_from_json(data: dict[str, Any]) -> Geofence:
    circle = Circle(**data["circle"]) if data.get("circle") else None
    # What it handles came with trips (release 0.2): older bodies handle anything.
    return Geofence(id=data["id"], name=data["name"], kind=GeofenceKind(data["kind"]),
                    circle=circle, geometry=data.get("geometry"),
                    flows=tuple(data.get("flows", ())),
                    categories=tuple(data.get("categories", ())),
                    services=tuple(data.get("services", ())),
                    handling_cost=float(data.get("handling_cost", 0.0)),
                    daily_capacity=data.get("daily_capacity"))


class PlaceRegistry:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def save_profile(self, profile: Profile) -> None:
        statement = upsert(self.db, PROFILES).values(name=profile.name, body=asdict(profile))
        self.db.execute(statement.on_conflict_do_update(
            index_elements=[PROFILES.c.name], set_={"body": statement.excluded.body}))

    def delete_profile(self, name: str) -> bool:
        return self.db.execute(delete(PROFILES).where(PROFILES.c.name == name)).rowcount > 0

    def profiles(self) -> list[Profile]:
        rows = self.db.rows(select(PROFILES.c.body).order_by(PROFILES.c.name))
        return [profile_from_json(row.body) for row in rows]

    def save_geofence(self, fence: Geofence) -> None:
        statement = upsert(self.db, GEOFENCES).values(id=fence.id, body=asdict(fence))
        self.db.execute(statement.on_conflict_do_update(
            index_elements=[GEOFENCES.c.id], set_={"body": statement.excluded.body}))

    def delete_geofence(self, fence_id: str) -> bool:
        return self.db.execute(delete(GEOFENCES).where(GEOFENCES.c.id == fence_id)).rowcount > 0

    def geofences(self) -> list[Geofence]:
        rows = self.db.rows(select(GEOFENCES.c.body).order_by(GEOFENCES.c.id))
        return [geofence_from_json(row.body) for row in rows]

    def geofence_in_use(self, fence_id: str) -> list[str]:
        rows = self.db.rows(
            select(ASSETS.c.id)
            .where(or_(ASSETS.c.destination == fence_id, ASSETS.c.allowed_area == fence_id))
            .order_by(ASSETS.c.id).limit(10))
        return [row.id for row in rows]
