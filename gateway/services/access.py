"""API keys: made, listed, revoked, and checked for every request."""

from __future__ import annotations

from gateway.registry import ApiKey, KeyStore
from gateway.services.errors import NotFound
from ingest.statedb import StateDb


class KeyService:
    def __init__(self, db: StateDb, keys: KeyStore) -> None:
        self._db, self._keys = db, keys

    async def check(self, secret: str) -> ApiKey | None:
        """The key, revoked or not; None for one never made."""
        return await self._db.run(self._keys.check, secret)

    async def create(self, scope: str, name: str) -> tuple[ApiKey, str]:
        """The key's record, and the key itself, shown this once."""
        return await self._db.run(self._keys.create, scope, name)

    async def all(self) -> list[ApiKey]:
        return await self._db.run(self._keys.list)

    async def revoke(self, key_id: str) -> None:
        if not await self._db.run(self._keys.revoke, key_id):
            raise NotFound("unrevoked key", key_id)
