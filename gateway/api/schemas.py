"""The REST API's request and response bodies: pydantic at the boundary only."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from alerts.domain import AlertKind, AlertState, AssetKind, Flow, GeofenceKind, Severity
from gateway.imports import Outcome


class BodyModel(BaseModel):
    """A request body, or a part of one: a field it does not have is refused, and so is NaN
    or Infinity for a number (Python's JSON parser takes them, and `1e999` as Infinity)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(item) for item in value)
    return True


EventType = Literal[
    "alert.opened", "alert.updated", "alert.acknowledged", "alert.resolved",
    "asset.arrived", "webhook.test",
]


class AssetIn(BodyModel):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                           description="Generated when left out")
    tag_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: AssetKind
    flow: Flow
    sku: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    lot: str | None = Field(default=None, max_length=128)
    profile: str | None = Field(default=None, max_length=64)
    customer: str | None = Field(default=None, max_length=256)
    due_at: AwareDatetime | None = None
    destination: str | None = Field(default=None, max_length=64,
                                    description="Geofence id where it is received or returned")
    allowed_area: str | None = Field(default=None, max_length=64,
                                     description="Geofence id it must stay inside")


class AssetOut(BaseModel):
    id: str
    tag_id: str | None
    kind: AssetKind
    flow: Flow
    sku: str | None
    serial: str | None
    lot: str | None
    profile: str | None
    customer: str | None
    due_at: datetime | None
    destination: str | None
    allowed_area: str | None
    state: str
    created_at: datetime | None


class AssetPatch(BodyModel):
    """The fields to change; left out: unchanged; null: cleared. The same constraints as
    AssetIn's; `id` cannot change."""

    tag_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: AssetKind | None = None
    flow: Flow | None = None
    sku: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    lot: str | None = Field(default=None, max_length=128)
    profile: str | None = Field(default=None, max_length=64)
    customer: str | None = Field(default=None, max_length=256)
    due_at: AwareDatetime | None = None
    destination: str | None = Field(default=None, max_length=64)
    allowed_area: str | None = Field(default=None, max_length=64)

    @field_validator("kind", "flow")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        if value is None:
            raise ValueError("needs a value: every asset has one")
        return value


class AssetCsvRow(AssetPatch):
    """A row of `POST /api/v1/assets:import`: an AssetPatch with the id it applies to."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class RecallIn(BodyModel):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                           description="Generated when left out")
    sku: str = Field(min_length=1, max_length=128)
    lots: list[str] = Field(default_factory=list, max_length=10_000)
    serials: list[str] = Field(default_factory=list, max_length=100_000)
    reason: str = Field(default="", max_length=2000)


class RecallOut(BaseModel):
    id: str
    sku: str
    lots: list[str]
    serials: list[str]
    reason: str
    active: bool
    created_at: datetime | None


class RecallPatch(BodyModel):
    """The fields to change; left out: unchanged. `active: false` ends the recall."""

    sku: str | None = Field(default=None, min_length=1, max_length=128)
    lots: list[str] | None = Field(default=None, max_length=10_000)
    serials: list[str] | None = Field(default=None, max_length=100_000)
    reason: str | None = Field(default=None, max_length=2000)
    active: bool | None = None

    @field_validator("sku", "lots", "serials", "reason", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("needs a value (an empty list or text clears lots, serials or reason)")
        return value


class RecallCsvRow(RecallPatch):
    """A row of `POST /api/v1/recalls:import`: a RecallPatch with the id it applies to."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class ImportProblemOut(BaseModel):
    field: str = Field(description="The column at fault; empty for the row as a whole")
    reason: str


class ImportRowOut(BaseModel):
    row: int = Field(description="The row in the file: the header is row 1")
    id: str | None = Field(description="The item created or updated (or named, if rejected)")
    outcome: Outcome
    errors: list[ImportProblemOut] = Field(description="Why a rejected row was rejected")


class ImportReport(BaseModel):
    created: int
    updated: int
    rejected: int
    rows: list[ImportRowOut] = Field(description="Every row of the file, in order")


class LocationOut(BaseModel):
    lat: float
    lon: float
    ts: datetime


class AlertOut(BaseModel):
    id: str
    kind: AlertKind
    key: str
    severity: Severity
    state: AlertState
    asset_id: str
    tag_id: str | None
    summary: str
    value: float | None
    details: dict[str, Any]
    opened_at: datetime
    updated_at: datetime | None
    resolved_at: datetime | None
    location: LocationOut | None


class AlertAction(BodyModel):
    by: str | None = Field(default=None, max_length=256,
                           description="Who; defaults to the API key's name")
    note: str = Field(default="", max_length=2000)


class SubscriptionIn(BodyModel):
    url: HttpUrl
    event_types: list[EventType] = Field(default_factory=list,
                                         description="Empty: every event type")
    alert_kinds: list[AlertKind] = Field(default_factory=list,
                                         description="Empty: every alert kind")
    severities: list[Severity] = Field(default_factory=list,
                                       description="Empty: every severity")
    asset_kinds: list[AssetKind] = Field(default_factory=list,
                                         description="Empty: every asset kind")
    flows: list[Flow] = Field(default_factory=list, description="Empty: every flow")
    description: str = Field(default="", max_length=500)


class SubscriptionPatch(BodyModel):
    """The fields to change; those left out stay. `enabled: true` takes back a disabling
    (a receiver's 410, say) and its waiting deliveries go out."""

    url: HttpUrl | None = None
    event_types: list[EventType] | None = None
    alert_kinds: list[AlertKind] | None = None
    severities: list[Severity] | None = None
    asset_kinds: list[AssetKind] | None = None
    flows: list[Flow] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    alert_kinds: list[str]
    severities: list[str]
    asset_kinds: list[str]
    flows: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    previous_secret_valid_until: datetime | None = Field(
        description="While a rotated-out secret still signs beside the new one")


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown this once: keep it to verify signatures")


class SecretRotation(BodyModel):
    overlap_s: float | None = Field(
        default=None, ge=0, le=30 * 86_400,
        description="How long the old secret keeps signing beside the new one; "
        "default BOOMERANG_WEBHOOK_SECRET_OVERLAP_S")


class AttemptOut(BaseModel):
    at: datetime
    status: int | None
    error: str | None
    latency_ms: float


class DeliveryOut(BaseModel):
    seq: int
    msg_id: str
    event_type: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    last_latency_ms: float | None
    finished_at: datetime | None
    attempt_log: list[AttemptOut] = Field(description="Every attempt: when, status, error, "
                                          "latency")


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    tag_id: str | None
    cause: str = Field(description="What kind of fault, for counting: bad_tag_id, too_large, "
                       "not_json, bad_format, invalid_reading, unknown_topic, sink_refused, "
                       "not_owner, rate_limited, decoder_error, rule_error")
    reason: str
    payload: str = Field(description="The raw payload, UTF-8 with undecodable bytes replaced; "
                         "of a long one, its head only")
    payload_bytes: int = Field(description="The whole payload's length in bytes")
    payload_sha256: str | None = Field(
        description="The whole payload's SHA-256 (hex), when only its head is kept")


class TagSpeakerOut(BaseModel):
    tag_id: str
    speaker: str = Field(description="Who may speak for the tag: `native` (its own login), "
                         "`owntracks:{user}` or `things_stack:{app}@{tenant}`")


Metric = Literal["temp_c", "humidity_pct", "shock_g", "tilt_deg", "light_lux", "battery_pct"]


class MetricSpecIn(BodyModel):
    min: float | None = None
    max: float | None = None
    min_duration_s: float = Field(default=0, ge=0)
    hysteresis: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _a_range(self) -> MetricSpecIn:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class ProfileIn(BodyModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = Field(default="", max_length=500)
    metrics: dict[Metric, MetricSpecIn] = Field(default_factory=dict)
    silent_after_s: float | None = Field(default=None, gt=0)
    battery_below_pct: float | None = Field(default=None, ge=0, le=100)
    battery_hysteresis_pct: float = Field(default=5, ge=0, le=100)


class MetricSpecOut(BaseModel):
    """MetricSpecIn's fields, without its checks: a profile stored before NaN and Infinity
    were refused still reads (their JSON is null)."""

    min: float | None
    max: float | None
    min_duration_s: float
    hysteresis: float


class ProfileOut(BaseModel):
    name: str
    description: str
    metrics: dict[str, MetricSpecOut]
    silent_after_s: float | None
    battery_below_pct: float | None
    battery_hysteresis_pct: float
    built_in: bool


class CircleIn(BodyModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=1_000_000)


class GeofenceIn(BodyModel):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                           description="Generated when left out")
    name: str = Field(min_length=1, max_length=200)
    kind: GeofenceKind
    circle: CircleIn | None = None
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon, or a Feature of one")

    @field_validator("geometry")
    @classmethod
    def _finite_coordinates(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Free-form JSON, so allow_inf_nan does not reach into it.
        if value is not None and not _finite_everywhere(value):
            raise ValueError("every number must be finite: NaN and Infinity are not JSON")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> GeofenceIn:
        if (self.circle is None) == (self.geometry is None):
            raise ValueError("give exactly one of circle and geometry")
        return self


class GeofenceOut(BaseModel):
    id: str
    name: str
    kind: GeofenceKind
    circle: CircleIn | None
    geometry: dict[str, Any] | None


Measurement = Literal[
    "lat", "lon", "accuracy_m", "speed_kmh", "temp_c", "humidity_pct", "shock_g", "tilt_deg",
    "light_lux", "battery_pct",
]
Condition = Literal[
    "temp_c", "humidity_pct", "shock_g", "tilt_deg", "light_lux", "battery_pct", "speed_kmh",
    "accuracy_m",
]
"""The measurements a track carries as series: all but the position itself."""


class LineStringOut(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[float, float]] = Field(
        description="[lon, lat] (GeoJSON order) of each located reading, oldest first; empty "
        "when there is none")


class TrackPropertiesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    asset_id: str
    tag_id: str | None = Field(description="The tag bound to the asset now")
    from_: datetime = Field(alias="from", description="Start of the window (inclusive)")
    to: datetime = Field(description="End of the window (exclusive)")
    points: int = Field(description="Positions in the line")
    readings: int = Field(description="Readings in the response, with or without a position")
    limit: int = Field(description="The most readings one response carries")
    truncated: bool = Field(
        description="The window holds more readings than `limit`: these are the oldest; "
        "ask again with `from` = `next_from` for the rest")
    next_from: datetime | None = Field(
        description="Time of the first reading left out, when `truncated`")
    times: list[datetime] = Field(description="Reading time of each position of the line")
    series: dict[Condition, list[tuple[datetime, float]]] = Field(
        description="Per measurement present in the window: [time, value] pairs, oldest first")


class TrackOut(BaseModel):
    """A GeoJSON Feature (RFC 7946)."""

    type: Literal["Feature"] = "Feature"
    geometry: LineStringOut
    properties: TrackPropertiesOut


class TagLatestOut(BaseModel):
    tag_id: str
    asset_id: str | None = Field(description="The asset the tag is bound to now")
    asset: AssetOut | None
    ts: datetime | None = Field(
        description="Time of the newest reading, by reading time (not by arrival); null for "
        "a registered tag that has never reported")
    seq: int | None
    values: dict[Measurement, float] = Field(
        description="Every measurement of the newest reading")
    position: LocationOut | None = Field(
        description="The newest known position and its time: the newest reading's own, or "
        "an older reading's when the newest has none")
