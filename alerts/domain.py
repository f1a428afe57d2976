"""What the rules judge and what they raise: assets, recalls, geofences, locations and
alerts. Plain dataclasses, on top of ingest's readings (data flows that way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ingest.readings import TagBinding


class AssetKind(StrEnum):
    SHIPMENT = "shipment"
    RENTAL = "rental"


class Flow(StrEnum):
    CUSTOMER_RETURN = "customer_return"
    WARRANTY_REPAIR = "warranty_repair"
    RECALL = "recall"
    TRADE_IN = "trade_in"
    RENTAL_RETURN = "rental_return"
    B2B_RETURN = "b2b_return"
    END_OF_LIFE = "end_of_life"


class AlertKind(StrEnum):
    RECALL = "recall"
    OVERDUE = "overdue"
    OUT_OF_SPEC = "out_of_spec"
    GEOFENCE = "geofence"
    SILENT = "silent"
    LOW_BATTERY = "low_battery"
    LATE_PREDICTED = "late_predicted"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AssetState(StrEnum):
    IN_TRANSIT = "in_transit"
    """A shipment on its way back, or a rental out with its customer."""
    RECEIVED = "received"
    RETURNED = "returned"

    @property
    def arrived(self) -> bool:
        return self is not AssetState.IN_TRANSIT


class GeofenceKind(StrEnum):
    HUB = "hub"
    DEPOT = "depot"
    QUARANTINE = "quarantine"
    AREA = "area"


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Geofence:
    """A circle, or a GeoJSON Polygon or MultiPolygon geometry ([lon, lat] positions)."""

    id: str
    name: str
    kind: GeofenceKind
    circle: Circle | None = None
    geometry: dict[str, Any] | None = None
    # What a hub, depot or quarantine geofence handles, for routing (docs/lifecycle.md);
    # an empty tuple: anything.
    flows: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    handling_cost: float = 0.0
    """Per item."""
    daily_capacity: int | None = None
    """Trips routed to it per UTC day; None: unlimited."""


@dataclass(slots=True)
class Asset:
    id: str
    kind: AssetKind
    flow: Flow
    tag_id: str | None = None
    sku: str | None = None
    serial: str | None = None
    lot: str | None = None
    profile: str | None = None
    customer: str | None = None
    due_at: datetime | None = None
    destination: str | None = None
    """Geofence id: where a shipment is received, or a rental returned."""
    allowed_area: str | None = None
    """Geofence id: leaving it raises a `geofence` alert."""
    state: AssetState = AssetState.IN_TRANSIT
    created_at: datetime | None = None
    category: str | None = None
    acquired_at: datetime | None = None
    """When the item was made or bought: its age, for the disposition policy."""
    # The open trip (docs/lifecycle.md): flow, customer, due_at, destination and
    # allowed_area above are its, or the last trip's when none is open.
    trip_id: str | None = None
    trip_status: str | None = None
    """A TripStatus; None when no trip is open."""
    origin_lat: float | None = None
    origin_lon: float | None = None

    def binding(self) -> TagBinding:
        # The members' own values, shared by every binding: str() would copy them.
        return TagBinding(asset_id=self.id, asset_kind=self.kind.value, flow=self.flow.value)


@dataclass(slots=True)
class Recall:
    id: str
    sku: str
    lots: tuple[str, ...] = ()
    serials: tuple[str, ...] = ()
    reason: str = ""
    active: bool = True
    created_at: datetime | None = None

    def matches(self, asset: Asset) -> bool:
        """Same sku, and lot/serial in the recall's lists where those lists are given."""
        if not self.active or asset.sku != self.sku:
            return False
        if self.lots and asset.lot not in self.lots:
            return False
        return not (self.serials and asset.serial not in self.serials)


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    ts: datetime


@dataclass(slots=True)
class Alert:
    id: str
    asset_id: str
    tag_id: str | None
    kind: AlertKind
    key: str
    """What makes the alert unique beside asset and kind: the metric, or the recall id."""
    severity: Severity
    state: AlertState
    summary: str
    opened_at: datetime
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    location: Location | None = None
    trip_id: str | None = None
    """The asset's trip it was raised during."""
