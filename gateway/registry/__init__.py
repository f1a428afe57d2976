"""The state store for what people register: assets, recalls, profiles, geofences and API
keys (SQLite)."""

from gateway.registry.assets import AssetRegistry, TagAlreadyBound
from gateway.registry.keys import SCOPES, ApiKey, KeyStore
from gateway.registry.places import PlaceRegistry

__all__ = ["SCOPES", "ApiKey", "AssetRegistry", "KeyStore", "PlaceRegistry", "TagAlreadyBound"]
