"""Points of the contract's InfluxDB schema, and the one line-protocol serialiser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.readings import Reading, TagBinding

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    ts: datetime


def telemetry_point(reading: Reading, binding: TagBinding) -> Point:
    tags = {"tag_id": reading.tag_id, "asset_id": binding.asset_id}
    if binding.asset_kind:
        tags["asset_kind"] = binding.asset_kind
    if binding.flow:
        tags["flow"] = binding.flow
    fields: dict[str, FieldValue] = dict(reading.values)
    if reading.extra:
        fields.update(reading.extra)
    if reading.seq is not None:
        fields["seq"] = reading.seq
    return Point("telemetry", tags, fields, reading.ts)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(ts: datetime) -> int:
    """Microseconds, exactly (no float rounding): readings without their own `ts` are
    stamped with the receive time, and two of a tag's must not land on the same point."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})


def _field(value: FieldValue) -> str:
    if type(value) is float:  # nearly every field: first, and without isinstance's cost
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{escaped}"'


# Escaped series keys and field keys, by what they were made from: a fleet has a bounded
# number of each, and building them was the costliest part of every line (a sixth of the
# gateway's busy time). Cleared when full, so that churning tags cannot grow them forever.
_MAX_CACHED = 200_000
_heads: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_field_keys: dict[str, str] = {}


def _head(measurement: str, tags: dict[str, str]) -> str:
    key = (measurement, tuple(tags.items()))
    head = _heads.get(key)
    if head is None:
        head = measurement.translate(_MEASUREMENT_ESCAPES)
        for name in sorted(tags):
            value = tags[name]
            if value:
                head += f",{name.translate(_KEY_ESCAPES)}={value.translate(_KEY_ESCAPES)}"
        if len(_heads) >= _MAX_CACHED:
            _heads.clear()
        _heads[key] = head
    return head


def _field_key(name: str) -> str:
    escaped = _field_keys.get(name)
    if escaped is None:
        escaped = name.translate(_KEY_ESCAPES)
        if len(_field_keys) >= _MAX_CACHED:
            _field_keys.clear()
        _field_keys[name] = escaped
    return escaped


def to_line(point: Point) -> str:
    """One line of line protocol at microsecond precision. Empty tag values are left out,
    because line protocol cannot carry them."""
    fields = ",".join([f"{_field_key(key)}={_field(value)}"
                       for key, value in point.fields.items()])
    return f"{_head(point.measurement, point.tags)} {fields} {epoch_us(point.ts)}"
