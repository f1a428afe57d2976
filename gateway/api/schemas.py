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
    or Infinity for a number (Python's JSON parser takes them, and `1e999` as Infinity),
    and text no state database can store: the NUL character (PostgreSQL's text refuses it)
    or a lone surrogate (JSON can escape one, UTF-8 cannot hold it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if not _storable(value):
            raise ValueError("text must not hold the NUL character or a lone surrogate")
        return value


def _storable(value: Any) -> bool:
    """Whether every text in `value` (a string, or strings in lists and dicts) can be stored."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_storable(item) for item in value)
    return True


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
    "asset.arrived", "webhook.test", "trip.status_changed", "trip.rerouted",
    "trip.eta_changed",
]
Service = Literal["restock", "refurbish", "repair", "recycle", "quarantine", "redeploy",
                  "return_to_vendor", "dispose"]
"""What a hub can carry out: every disposition but `inspect`."""
DispositionName = Literal["restock", "refurbish", "repair", "recycle", "quarantine", "redeploy",
                          "return_to_vendor", "dispose", "inspect"]
TripStatusName = Literal[
    "authorized", "in_transit", "arrived", "inspected", "dispositioned", "closed",
    "checked_out", "returned", "available", "identified", "located", "received", "remedied",
    "destroyed"]


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
    category: str | None = Field(default=None, max_length=128,
                                 description="For routing and the disposition policy")
    acquired_at: AwareDatetime | None = Field(
        default=None, description="When it was made or bought: its age, for the disposition "
        "policy (absent: its registration)")
    open_trip: bool = Field(
        default=True, description="Open its first trip from flow, customer, due_at, "
        "destination and allowed_area (v1: an asset is on its way when registered); false: "
        "registered without one (a rental waiting in the depot)")


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
    category: str | None = None
    acquired_at: datetime | None = None
    trip_id: str | None = Field(default=None, description="Its open trip, or its last")
    trip_status: str | None = Field(default=None, description="Its open (or last) trip's status")


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
    category: str | None = Field(default=None, max_length=128)
    acquired_at: AwareDatetime | None = None

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
    trip_id: str | None = Field(default=None, description="The trip it was raised in")


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


class HandlesIn(BodyModel):
    """What a hub, depot or quarantine geofence takes (docs/lifecycle.md, "Routing"); an
    empty list: anything."""

    flows: list[Flow] = Field(default_factory=list, max_length=20)
    categories: list[str] = Field(default_factory=list, max_length=1000)
    services: list[Service] = Field(
        default_factory=list, max_length=20,
        description="Dispositions it carries out; a quarantine geofence always quarantines")


class GeofenceIn(BodyModel):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                           description="Generated when left out")
    name: str = Field(min_length=1, max_length=200)
    kind: GeofenceKind
    circle: CircleIn | None = None
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon, or a Feature of one")
    handles: HandlesIn | None = Field(default=None, description="For routing; absent: anything")
    handling_cost: float = Field(default=0.0, ge=0, le=1e9,
                                 description="Per item, in the unit of the cost per km")
    daily_capacity: int | None = Field(
        default=None, ge=0, le=10_000_000,
        description="Trips routing may send to it per UTC day; absent: unlimited")

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
    handles: HandlesIn
    handling_cost: float
    daily_capacity: int | None


WorstMetric = Literal["temp_c_max", "temp_c_min", "humidity_pct_max", "shock_g_max",
                      "tilt_deg_max", "light_lux_max", "battery_pct_min"]
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


# Trips (docs/lifecycle.md) -------------------------------------------------------------------

class OriginIn(BodyModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=200)


class TripFieldsIn(BodyModel):
    """What a trip carries beside its asset, flow and status."""

    customer: str | None = Field(default=None, max_length=256)
    reason: str | None = Field(default=None, max_length=64, description=(
        "A return reason: wrong_size, defective, changed_mind, damaged, not_as_described, "
        "other, or a short code of your own"))
    fault: str | None = Field(default=None, max_length=2000,
                              description="A warranty fault description")
    reference: str | None = Field(default=None, max_length=128,
                                  description="RMA or order number")
    origin: OriginIn | None = Field(default=None, description="Where the trip starts")
    destination: str | None = Field(default=None, max_length=64, description=(
        "Geofence id of the hub or depot; left out: the cheapest able to take it is chosen "
        "(`routing` says how)"))
    allowed_area: str | None = Field(default=None, max_length=64)
    due_at: AwareDatetime | None = None
    carrier: str | None = Field(default=None, max_length=128)
    packaging: str | None = Field(default=None, max_length=128)


class TripIn(TripFieldsIn):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                           description="Generated when left out")
    asset_id: str = Field(min_length=1, max_length=64)
    flow: Flow | None = Field(default=None, description="Left out: the asset's")


class TripPatch(TripFieldsIn):
    """The fields to change; left out: unchanged; null: cleared. `status` moves the trip
    (only as its machine allows: 409 names the allowed moves)."""

    flow: Flow | None = None
    status: TripStatusName | None = None
    status_reason: str | None = Field(default=None, max_length=500,
                                      description="Why, for the status change")

    @field_validator("flow")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        if value is None:
            raise ValueError("needs a value: every trip has one")
        return value


class TripCsvRow(BodyModel):
    """A row of `POST /api/v1/trips:import`: a new trip; origin as three columns."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    asset_id: str | None = Field(default=None, max_length=64)
    flow: Flow | None = None
    customer: str | None = Field(default=None, max_length=256)
    reason: str | None = Field(default=None, max_length=64)
    fault: str | None = Field(default=None, max_length=2000)
    reference: str | None = Field(default=None, max_length=128)
    origin_lat: float | None = Field(default=None, ge=-90, le=90)
    origin_lon: float | None = Field(default=None, ge=-180, le=180)
    origin_name: str | None = Field(default=None, max_length=200)
    destination: str | None = Field(default=None, max_length=64)
    allowed_area: str | None = Field(default=None, max_length=64)
    due_at: AwareDatetime | None = None
    carrier: str | None = Field(default=None, max_length=128)
    packaging: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _origin_whole(self) -> TripCsvRow:
        if (self.origin_lat is None) != (self.origin_lon is None):
            raise ValueError("origin_lat and origin_lon come together")
        return self


class InspectionIn(BodyModel):
    disposition: DispositionName = Field(description=(
        "What is done with it; a disposition other than inspect moves the trip on "
        "(docs/lifecycle.md)"))
    grade: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, max_length=4000)
    inspector: str | None = Field(default=None, max_length=200)


class StatusChangeOut(BaseModel):
    status: str
    previous_status: str | None
    at: datetime
    location: LocationOut | None
    reason: str


class RecommendationOut(BaseModel):
    disposition: str
    rule: str
    at: datetime


class InspectionOut(BaseModel):
    disposition: str
    grade: str | None
    notes: str | None
    inspector: str | None
    at: datetime


class EtaOut(BaseModel):
    p50: datetime = Field(description="Expected arrival: as likely before as after")
    p90: datetime = Field(description="Nine trips in ten like it arrive by then")
    basis: str = Field(description=(
        "Where the speed came from: lane (trips that arrived on the same lane and flow), "
        "trip (its own speed so far) or default (docs/eta.md)"))
    remaining_km: float = Field(description="Great-circle km left to the destination's centre")
    late_probability: float | None = Field(
        description="The chance of arriving after due_at; null without a due date")
    at: datetime = Field(description="The reading time it was made at")


class TransitOut(BaseModel):
    lane: str = Field(description="origin region > destination, e.g. 51N7E>hub-venlo")
    started_at: datetime = Field(description=(
        "When its last leg started: the last reading where it was farthest from its "
        "destination (the customer's, a rental's site)"))
    arrived_at: datetime
    km: float = Field(description="Great-circle km from the leg's start to the destination")
    hours: float


class TripOut(BaseModel):
    id: str
    asset_id: str
    flow: Flow
    status: str
    customer: str | None
    reason: str | None
    fault: str | None
    reference: str | None
    origin: OriginIn | None
    destination: str | None
    allowed_area: str | None
    due_at: datetime | None
    carrier: str | None
    packaging: str | None
    routing: dict[str, Any] | None = Field(
        description="How the destination was chosen: from where, the service needed, every "
        "candidate's cost and why the winner won; null when it was given")
    recommendation: RecommendationOut | None
    inspection: InspectionOut | None
    created_at: datetime | None
    updated_at: datetime | None
    closed_at: datetime | None
    eta: EtaOut | None = Field(default=None, description=(
        "While on its way, with a position and a destination: its estimate of arrival"))
    transit: TransitOut | None = Field(default=None, description=(
        "Once arrived on telemetry: its last leg, which taught its lane's speed"))
    history: list[StatusChangeOut] | None = Field(
        default=None, description="Every status change, oldest first (a single trip's read)")


class DispositionRuleIn(BodyModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^:]+$",
                      description="Yours; `default:` names the built-in rules")
    disposition: DispositionName
    flows: list[Flow] = Field(default_factory=list, max_length=20)
    skus: list[str] = Field(default_factory=list, max_length=10_000)
    categories: list[str] = Field(default_factory=list, max_length=1000)
    alert_kinds: list[str] = Field(default_factory=list, max_length=50, description=(
        "Alert kinds, or kind:key (out_of_spec:shock_g), raised during the trip"))
    worst_above: dict[WorstMetric, float] = Field(default_factory=dict)
    worst_below: dict[WorstMetric, float] = Field(default_factory=dict)
    min_age_days: float | None = Field(default=None, ge=0)
    max_age_days: float | None = Field(default=None, ge=0)


class DispositionRulesIn(BodyModel):
    rules: list[DispositionRuleIn] = Field(max_length=1000, description="In order: the first "
                                           "that matches recommends")


class DispositionRuleOut(BaseModel):
    name: str
    disposition: str
    flows: list[Flow] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    alert_kinds: list[str] = Field(default_factory=list)
    worst_above: dict[str, float] = Field(default_factory=dict)
    worst_below: dict[str, float] = Field(default_factory=dict)
    min_age_days: float | None = None
    max_age_days: float | None = None


class DispositionRulesOut(BaseModel):
    rules: list[DispositionRuleOut]
    defaults: list[DispositionRuleOut] = Field(description="After yours, in order")


class UtilizationRowOut(BaseModel):
    asset_id: str
    trips: int
    out_s: float
    utilization: float = Field(description="Share of the window out with customers")
    turnaround_h_mean: float | None = Field(description="Returned to available, hours")
    turnaround_h_p90: float | None


class UtilizationOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    fleet: UtilizationRowOut
    assets: list[UtilizationRowOut]

    model_config = ConfigDict(populate_by_name=True)
