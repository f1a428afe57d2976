"""The contract's native format: `{prefix}/{tag_id}/telemetry`, one reading or a batch."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ingest.decoders._base import (
    CONTRACT_BOUNDS,
    MAX_BATCH_READINGS,
    Decoded,
    Message,
    ReadingBounds,
    json_part,
)
from ingest.readings import MEASUREMENTS, ExtraValue, Reading

SEQ_MAX = 2**63 - 1
"""The largest seq: SQLite's INTEGER and InfluxDB's integer fields are signed 64-bit."""

# Extra fields (not in the contract) are stored beside the canonical ones within these
# limits; what falls outside is dropped and counted, never an error (contract section 1).
MAX_EXTRA_FIELDS = 16
MAX_EXTRA_STRING = 64
EXTRA_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
# Names that mean something else already: the canonical fields, the series' tags, and
# InfluxDB's `time`, which it refuses as a field key.
RESERVED_KEYS = frozenset({*MEASUREMENTS, "ts", "seq", "time", "readings", "tag_id",
                           "asset_id", "asset_kind", "flow", "trip_id", "extra"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReadingIn(msgspec.Struct):
    """A reading as it arrives on the wire, with the contract's ranges, in strict types (no
    number from a string, no boolean for a number). A msgspec Struct rather than a pydantic
    model on this path: 0.25 µs a reading against 2.4 (pydantic stays for the API). Unknown
    fields are ignored here and kept by `reading_from_object`."""

    ts: str | int | None = None
    seq: Annotated[int, Meta(ge=0, le=SEQ_MAX)] | None = None
    lat: Annotated[float, Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, Meta(ge=-180, le=180)] | None = None
    accuracy_m: Annotated[float, Meta(ge=0)] | None = None
    speed_kmh: Annotated[float, Meta(ge=0)] | None = None
    temp_c: Annotated[float, Meta(ge=-80, le=150)] | None = None
    humidity_pct: Annotated[float, Meta(ge=0, le=100)] | None = None
    shock_g: Annotated[float, Meta(ge=0, le=500)] | None = None
    tilt_deg: Annotated[float, Meta(ge=0, le=180)] | None = None
    light_lux: Annotated[float, Meta(ge=0)] | None = None
    battery_pct: Annotated[float, Meta(ge=0, le=100)] | None = None


READING_FIELDS = frozenset(ReadingIn.__struct_fields__)


def _epoch_ms(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def parse_ts(value: str | int | None, received_at: datetime,
             bounds: ReadingBounds = CONTRACT_BOUNDS) -> datetime:
    """The reading's time as tz-aware UTC, within `bounds`; raises ValueError with a
    readable reason. Epoch milliseconds are checked before they become a datetime, and an
    offset that would carry a time past year 1 or 9999 is refused, not raised."""
    if value is None:
        return received_at
    latest = received_at + bounds.max_future
    if isinstance(value, int):
        if value < _epoch_ms(bounds.ts_min):
            raise ValueError(f"ts: before {bounds.ts_min.isoformat()} "
                             f"(BOOMERANG_READING_TS_MIN): {value!r}")
        if value > _epoch_ms(latest):
            raise ValueError(f"ts: more than {_duration(bounds.max_future)} in the future: "
                             f"{value!r}")
        return _EPOCH + timedelta(milliseconds=value)
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"ts: not an RFC 3339 time: {value!r}") from None
    if ts.tzinfo is None:
        raise ValueError(f"ts: RFC 3339 time without an offset: {value!r}")
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"ts: out of range in UTC: {value!r}") from None
    if ts < bounds.ts_min:
        raise ValueError(f"ts: before {bounds.ts_min.isoformat()} "
                         f"(BOOMERANG_READING_TS_MIN): {value!r}")
    if ts > latest:
        raise ValueError(f"ts: more than {_duration(bounds.max_future)} in the future: "
                         f"{value!r}")
    return ts


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds / 60:g} minutes" if seconds % 60 == 0 else f"{seconds:g} s"


def describe(error: msgspec.ValidationError, obj: dict[str, Any]) -> str:
    """`field: what was expected (got the value)`, from msgspec's `... - at `$.field``."""
    text, _, where = str(error).rpartition(" - at `$.")
    if not text:
        return str(error)
    field = where.rstrip("`")
    got = ""
    if field in obj:
        got = f" ({_short(obj[field])})" if ", got `" in text else f" (got {_short(obj[field])})"
    return f"{field}: {text}{got}"


def _short(value: Any) -> str:
    """A value for a reason text: a person needs to recognise it, not read all of it."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def extra_fields(extra: dict[str, Any]) -> tuple[tuple[tuple[str, ExtraValue], ...], int]:
    """The extra fields kept (numbers as floats, so that an integer and a fractional value
    of one field never conflict in InfluxDB; booleans; printable strings of at most
    MAX_EXTRA_STRING characters, under a key EXTRA_KEY matches and no canonical name
    takes, at most MAX_EXTRA_FIELDS of them), and how many were dropped."""
    kept: list[tuple[str, ExtraValue]] = []
    for key, value in extra.items():
        if len(kept) == MAX_EXTRA_FIELDS:
            break
        if key in RESERVED_KEYS or not EXTRA_KEY.fullmatch(key):
            continue
        if value is True or value is False:
            kept.append((key, value))
        elif isinstance(value, int | float):
            number = float(value)  # orjson gives ints up to 2**64 only: no overflow here
            if math.isfinite(number):
                kept.append((key, number))
        elif isinstance(value, str) and len(value) <= MAX_EXTRA_STRING and value.isprintable():
            kept.append((key, value))
    return tuple(kept), len(extra) - len(kept)


def reading_from_object(
    tag_id: str, obj: Any, received_at: datetime, bounds: ReadingBounds = CONTRACT_BOUNDS
) -> tuple[Reading, int]:
    """Validate one reading object; returns it with its count of extra fields dropped."""
    if not isinstance(obj, dict):
        raise ValueError(f"a reading must be a JSON object, got {type(obj).__name__}")
    try:
        model = msgspec.convert(obj, ReadingIn)
    except msgspec.ValidationError as exc:
        raise ValueError(describe(exc, obj)) from None
    if (model.lat is None) != (model.lon is None):
        raise ValueError("lat and lon must come together")
    values = {}
    for name in MEASUREMENTS:
        value = getattr(model, name)
        if value is not None:
            # Every number finite, so that every sink can store it (JSON has no infinity,
            # but a decoder may hand over a Python float).
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number (got {value!r})")
            values[name] = float(value)
    if not values:
        raise ValueError("a reading must carry at least one measurement")
    ts = parse_ts(model.ts, received_at, bounds)
    extra: tuple[tuple[str, ExtraValue], ...] = ()
    dropped = 0
    if not obj.keys() <= READING_FIELDS:  # fields beyond the contract's, in their order
        extra, dropped = extra_fields(
            {key: value for key, value in obj.items() if key not in READING_FIELDS})
    return Reading(tag_id=tag_id, ts=ts, seq=model.seq, values=values, extra=extra), dropped


class NativeDecoder:
    """Reads `{prefix}/+/telemetry`."""

    def __init__(self, prefix: str = "tags", bounds: ReadingBounds = CONTRACT_BOUNDS) -> None:
        self.prefix = prefix
        self.bounds = bounds

    def topic_filters(self) -> list[str]:
        return [f"{self.prefix}/+/telemetry"]

    def tag_id_of(self, topic: str) -> str | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != self.prefix or parts[2] != "telemetry":
            return None
        return parts[1]

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
            if not batch:
                return reject("readings: an empty batch", cause="bad_format")
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
                    message.tag_id, item, received_at + timedelta(microseconds=index),
                    self.bounds)
            except ValueError as exc:
                if is_batch:
                    reject(f"reading {index}: {exc}", json_part(item))
                else:
                    reject(str(exc))
                continue
            result.readings.append(reading)
            result.unknown_fields += unknown
        return result
