"""API keys: stored as SHA-256 hashes, each with one scope (read < write < admin)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Row, Table, Text, insert, select, update

from ingest.statedb import METADATA, SortedText, StateDb, Utc

SCOPES = ("read", "write", "admin")

API_KEYS = Table(
    "api_keys", METADATA,
    Column("id", SortedText, primary_key=True),
    Column("hash", Text, nullable=False, unique=True),
    Column("scope", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Utc, nullable=False),
    Column("revoked_at", Utc),
)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    scope: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, needed: str) -> bool:
        return self.revoked_at is None and SCOPES.index(self.scope) >= SCOPES.index(needed)


def _hash(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.scope, row.name, row.created_at, row.revoked_at)


_KEY_COLUMNS = (API_KEYS.c.id, API_KEYS.c.scope, API_KEYS.c.name, API_KEYS.c.created_at,
                API_KEYS.c.revoked_at)


class KeyStore:
    def __init__(self, db: StateDb, admin_key: str | None = None) -> None:
        self.db = db
        self._admin_hash = _hash(admin_key) if admin_key else None

    def create(self, scope: str, name: str = "") -> tuple[ApiKey, str]:
        """Returns the key record and the key itself, which is shown this once."""
        if scope not in SCOPES:
            raise ValueError(f"scope: must be one of {', '.join(SCOPES)}")
        secret = "bmr_" + secrets.token_urlsafe(32)
        key = ApiKey(f"key_{uuid.uuid4().hex[:12]}", scope, name, datetime.now(UTC), None)
        self.db.execute(insert(API_KEYS).values(
            id=key.id, hash=_hash(secret), scope=scope, name=name, created_at=key.created_at,
            revoked_at=None))
        return key, secret

    def check(self, secret: str) -> ApiKey | None:
        digest = _hash(secret)
        if self._admin_hash is not None and secrets.compare_digest(digest, self._admin_hash):
            return ApiKey("admin-bootstrap", "admin", "BOOMERANG_ADMIN_KEY", datetime.now(UTC),
                          None)
        row = self.db.row(select(*_KEY_COLUMNS).where(API_KEYS.c.hash == digest))
        return _key(row) if row is not None else None

    def list(self) -> list[ApiKey]:
        rows = self.db.rows(select(*_KEY_COLUMNS).order_by(API_KEYS.c.created_at))
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        result = self.db.execute(
            update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC)))
        return result.rowcount > 0
