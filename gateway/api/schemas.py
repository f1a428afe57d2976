"""The REST API's request and response bodies: pydantic at the boundary only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from gateway.domain import AlertKind, AlertState, AssetKind, Flow, Severity

EventType = Literal[
    "alert.opened", "alert.updated", "alert.acknowledged", "alert.resolved",
    "asset.arrived", "webhook.test",
]


class AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    state: str
    created_at: datetime | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=256,
                           description="Who; defaults to the API key's name")
    note: str = Field(default="", max_length=2000)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    event_types: list[EventType] = Field(default_factory=list,
                                         description="Empty: every event type")
    alert_kinds: list[AlertKind] = Field(default_factory=list,
                                         description="Empty: every alert kind")
    description: str = Field(default="", max_length=500)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    alert_kinds: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown this once: keep it to verify signatures")


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


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    tag_id: str | None
    reason: str
    payload: str = Field(description="The raw payload, UTF-8 with undecodable bytes replaced")


class ProfileOut(BaseModel):
    name: str
    description: str
    metrics: dict[str, dict[str, float | None]]
    silent_after_s: float | None
    battery_below_pct: float | None
