"""API keys: stored as SHA-256 hashes, each with one scope (read < write < admin)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

SCOPES = ("read", "write", "admin")

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


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


class KeyStore:
    def __init__(self, db: sqlite3.Connection, admin_key: str | None = None) -> None:
        self.db = db
        db.executescript(SCHEMA)
        self._admin_hash = _hash(admin_key) if admin_key else None

    def create(self, scope: str, name: str = "") -> tuple[ApiKey, str]:
        """Returns the key record and the key itself, which is shown this once."""
        if scope not in SCOPES:
            raise ValueError(f"scope: must be one of {', '.join(SCOPES)}")
        secret = "bmr_" + secrets.token_urlsafe(32)
        key = ApiKey(f"key_{uuid.uuid4().hex[:12]}", scope, name, datetime.now(UTC), None)
        with self.db:
            self.db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (key.id, _hash(secret), scope, name, key.created_at.isoformat()),
            )
        return key, secret

    def check(self, secret: str) -> ApiKey | None:
        digest = _hash(secret)
        if self._admin_hash is not None and secrets.compare_digest(digest, self._admin_hash):
            return ApiKey("admin-bootstrap", "admin", "BOOMERANG_ADMIN_KEY", datetime.now(UTC),
                          None)
        row = self.db.execute(
            "SELECT id, scope, name, created_at, revoked_at FROM api_keys WHERE hash=?",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        revoked = datetime.fromisoformat(row[4]) if row[4] else None
        return ApiKey(row[0], row[1], row[2], datetime.fromisoformat(row[3]), revoked)

    def list(self) -> list[ApiKey]:
        rows = self.db.execute(
            "SELECT id, scope, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
        )
        return [
            ApiKey(r[0], r[1], r[2], datetime.fromisoformat(r[3]),
                   datetime.fromisoformat(r[4]) if r[4] else None)
            for r in rows
        ]

    def revoke(self, key_id: str) -> bool:
        with self.db:
            cursor = self.db.execute(
                "UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
        return cursor.rowcount > 0
