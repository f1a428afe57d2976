"""The contract's native format: `{prefix}/{tag_id}/telemetry`, one reading or a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.domain import MEASUREMENTS, Reading
from ingest.decoders._base import MAX_BATCH_READINGS, Decoded, Message

MAX_FUTURE = timedelta(minutes=5)

class ReadingIn(BaseModel):
    """A reading as it arrives on the wire, with the contract's ranges."""

    model_config = ConfigDict(extra="allow", strict=True)

    ts: str | int | None = None
    seq: int | None = Field(default=None, ge=0)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)
    speed_kmh: float | None = Field(default=None, ge=0)
    temp_c: float | None = Field(default=None, ge=-80, le=150)
    humidity_pct: float | None = Field(default=None, ge=0, le=100)
    shock_g: float | None = Field(default=None, ge=0, le=500)
    tilt_deg: float | None = Field(default=None, ge=0, le=180)
    light_lux: float | None = Field(default=None, ge=0)
    battery_pct: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _lat_lon_together_and_some_measurement(self) -> ReadingIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must come together")
        if all(getattr(self, name) is None for name in MEASUREMENTS):
            raise ValueError("a reading must carry at least one measurement")
        return self


def parse_ts(value: str | int | None, received_at: datetime) -> datetime:
    """The reading's time as tz-aware UTC; raises ValueError with a readable reason."""
    if value is None:
        return received_at
    if isinstance(value, int):
        ts = datetime.fromtimestamp(value / 1000, tz=UTC)
    else:
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts: not an RFC 3339 time: {value!r}") from None
        if ts.tzinfo is None:
            raise ValueError(f"ts: RFC 3339 time without an offset: {value!r}")
        ts = ts.astimezone(UTC)
    if ts - received_at > MAX_FUTURE:
        raise ValueError(f"ts: more than 5 minutes in the future: {value!r}")
    return ts


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        got = item.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        parts.append(f"{where + ': ' if where else ''}{item['msg']}{got_text}")
    return "; ".join(parts)


def reading_from_object(
    tag_id: str, obj: Any, received_at: datetime
) -> tuple[Reading, int]:
    """Validate one reading object; returns it with its count of unknown fields."""
    if not isinstance(obj, dict):
        raise ValueError(f"a reading must be a JSON object, got {type(obj).__name__}")
    try:
        model = ReadingIn.model_validate(obj)
    except ValidationError as exc:
        raise ValueError(describe(exc)) from None
    ts = parse_ts(model.ts, received_at)
    values = {name: float(v) for name in MEASUREMENTS if (v := getattr(model, name)) is not None}
    unknown = len(model.model_extra or {})
    return Reading(tag_id=tag_id, ts=ts, seq=model.seq, values=values), unknown


class NativeDecoder:
    """Reads `{prefix}/+/telemetry`."""

    def __init__(self, prefix: str = "tags") -> None:
        self.prefix = prefix

    def topic_filters(self) -> list[str]:
        return [f"{self.prefix}/+/telemetry"]

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != self.prefix or parts[2] != "telemetry":
            return None
        message = Message(topic, payload, received_at, tag_id=parts[1])
        reject, result = message.reject, message.result
        ok, document = message.parse_json()
        if not ok:
            return result
        if isinstance(document, dict) and "readings" in document:
            batch = document["readings"]
            if not isinstance(batch, list):
                return reject("readings: must be a list of reading objects", cause="bad_format")
            if len(batch) > MAX_BATCH_READINGS:
                return reject(f"batch of {len(batch)} readings, more than the 1000 allowed",
                              cause="too_large")
            items, is_batch = batch, True
        else:
            items, is_batch = [document], False
        for index, item in enumerate(items):
            # Readings without a `ts` of their own take the receive time; in a batch each is
            # a microsecond later than the one before, so that none overwrites another.
            try:
                reading, unknown = reading_from_object(
                    message.tag_id, item, received_at + timedelta(microseconds=index)
                )
            except ValueError as exc:
                if is_batch:
                    reject(f"reading {index}: {exc}", orjson.dumps(item))
                else:
                    reject(str(exc))
                continue
            result.readings.append(reading)
            result.unknown_fields += unknown
        return result
