"""Spec profiles and geofences that people register (the built-in profiles are code)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from typing import Any

import orjson

from alerts.profiles import MetricSpec, Profile
from gateway.domain import Circle, Geofence, GeofenceKind

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS geofences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


def profile_from_json(data: dict[str, Any]) -> Profile:
    metrics = {name: MetricSpec(**spec) for name, spec in data.pop("metrics", {}).items()}
    return Profile(metrics=metrics, **data)


def geofence_from_json(data: dict[str, Any]) -> Geofence:
    circle = Circle(**data["circle"]) if data.get("circle") else None
    return Geofence(id=data["id"], name=data["name"], kind=GeofenceKind(data["kind"]),
                    circle=circle, geometry=data.get("geometry"))


class PlaceRegistry:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def save_profile(self, profile: Profile) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?)",
                            (profile.name, orjson.dumps(asdict(profile)).decode()))

    def delete_profile(self, name: str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM profiles WHERE name=?", (name,)).rowcount > 0

    def profiles(self) -> list[Profile]:
        rows = self.db.execute("SELECT body FROM profiles ORDER BY name")
        return [profile_from_json(orjson.loads(row[0])) for row in rows]

    def save_geofence(self, fence: Geofence) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO geofences VALUES (?, ?)",
                            (fence.id, orjson.dumps(asdict(fence)).decode()))

    def delete_geofence(self, fence_id: str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM geofences WHERE id=?", (fence_id,)).rowcount > 0

    def geofences(self) -> list[Geofence]:
        rows = self.db.execute("SELECT body FROM geofences ORDER BY id")
        return [geofence_from_json(orjson.loads(row[0])) for row in rows]

    def geofence_in_use(self, fence_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT id FROM assets WHERE destination=? OR allowed_area=? ORDER BY id LIMIT 10",
            (fence_id, fence_id))
        return [row[0] for row in rows]
