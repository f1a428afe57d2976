"""The state store for what people register: assets, recalls, profiles, geofences and API
keys (SQLite)."""

from gateway.registry._keyset import SortKey, SortOrder
from gateway.registry.assets import (
    ASSET_SORT_FIELDS,
    RECALL_SORT_FIELDS,
    AssetOrder,
    AssetRegistry,
    RecallOrder,
    TagAlreadyBound,
)
from gateway.registry.keys import SCOPES, ApiKey, KeyStore
from gateway.registry.places import PlaceRegistry

__all__ = [
    "ASSET_SORT_FIELDS",
    "RECALL_SORT_FIELDS",
    "SCOPES",
    "ApiKey",
    "AssetOrder",
    "AssetRegistry",
    "KeyStore",
    "PlaceRegistry",
    "RecallOrder",
    "SortKey",
    "SortOrder",
    "TagAlreadyBound",
]
