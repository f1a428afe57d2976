"""The state store for what people register: assets, recalls and API keys (SQLite)."""

from gateway.registry.assets import AssetRegistry, TagAlreadyBound
from gateway.registry.keys import SCOPES, ApiKey, KeyStore

__all__ = ["SCOPES", "ApiKey", "AssetRegistry", "KeyStore", "TagAlreadyBound"]
