"""Shared domain types: plain dataclasses every package uses. A leaf: imports nothing of ours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MEASUREMENTS: tuple[str, ...] = (
    "lat",
    "lon",
    "accuracy_m",
    "speed_kmh",
    "temp_c",
    "humidity_pct",
    "shock_g",
    "tilt_deg",
    "light_lux",
    "battery_pct",
)
"""The contract's measurement fields, in the order they are stored."""

UNASSIGNED_ASSET = "unassigned"


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


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


ExtraValue = float | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading of one tag. `ts` is tz-aware UTC."""

    tag_id: str
    ts: datetime
    seq: int | None
    values: dict[str, float]
    extra: tuple[tuple[str, ExtraValue], ...] = ()
    """Fields beyond the contract's, within the limits of docs/tags.md: stored, not judged."""

    @property
    def position(self) -> tuple[float, float] | None:
        if "lat" in self.values and "lon" in self.values:
            return self.values["lat"], self.values["lon"]
        return None


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


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message or reading that could not be accepted, with a reason a person can read."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    tag_id: str | None = None
    cause: str = "invalid_reading"
    """A short, stable name for the kind of fault (one of DEAD_LETTER_CAUSES), for counting:
    the reason is for people and varies with the payload."""


DEAD_LETTER_CAUSES = ("bad_tag_id", "too_large", "not_json", "bad_format", "invalid_reading",
                      "unknown_topic", "sink_refused", "not_owner", "rate_limited",
                      "decoder_error", "rule_error")


@dataclass(frozen=True, slots=True)
class TagBinding:
    """What the telemetry store needs to know about the asset a tag is on."""

    asset_id: str
    asset_kind: str
    flow: str


UNASSIGNED_BINDING = TagBinding(asset_id=UNASSIGNED_ASSET, asset_kind="", flow="")


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

    def binding(self) -> TagBinding:
        return TagBinding(asset_id=self.id, asset_kind=str(self.kind), flow=str(self.flow))


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
