"""Which asset each tag is on: the one index of tag bindings, in memory. Kept by the asset
registry, which writes the bindings (gateway.registry), and read by ingest (the asset of each
telemetry point) and the rule engine (whose rules judge a reading); an engine without a
registry (a test of the engine alone) keeps it itself."""

from __future__ import annotations

from collections.abc import Iterable

from alerts.domain import Asset
from ingest.readings import UNASSIGNED_BINDING, TagBinding


class TagBindings:
    def __init__(self, assets: Iterable[Asset] = ()) -> None:
        self._bindings: dict[str, TagBinding] = {}
        self.replace(assets)

    def replace(self, assets: Iterable[Asset]) -> None:
        """The bindings of exactly these assets (all there are), in place: whoever holds
        this index sees the new ones."""
        self._bindings.clear()
        for asset in assets:
            self.bind(asset)

    def binding_of(self, tag_id: str) -> TagBinding:
        return self._bindings.get(tag_id, UNASSIGNED_BINDING)

    def asset_id(self, tag_id: str) -> str | None:
        binding = self._bindings.get(tag_id)
        return binding.asset_id if binding is not None else None

    def bind(self, asset: Asset) -> None:
        if asset.tag_id:
            self._bindings[asset.tag_id] = asset.binding()

    def unbind_tag(self, tag_id: str) -> None:
        self._bindings.pop(tag_id, None)

    def unbind(self, asset: Asset) -> None:
        """The asset's tag, only while it still points at this asset (another may have
        taken it since)."""
        if asset.tag_id and self.asset_id(asset.tag_id) == asset.id:
            del self._bindings[asset.tag_id]
