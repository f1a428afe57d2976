"""Points of the contract's InfluxDB schema, and the one line-protocol serialiser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.readings import Reading, TagBinding

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    ts: datetime
    series: str = field(default="", compare=False, repr=False)
    """The line-protocol series key of `measurement` and `tags`, when already known (a
    tag's telemetry); `to_line` builds it otherwise."""


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
    return Point("telemetry", tags, fields, reading.ts, _telemetry_series(reading.tag_id, binding,
                                                                        tags))


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


# A tag's telemetry series key, by tag id, with the binding it was built for: building it
# was the costliest part of every line (a sixth of the gateway's busy time). Keyed by the
# tag id alone: a key of the measurement and every tag pair held about 500 bytes a series,
# and every asset's state and trip points made two more series (registering 20,000 assets
# grew the gateway by 53 MB with that cache, by 39 MB with this one; issue 18). Other
# measurements' points are few (an asset's state when it changes, alerts, trips, stats):
# their series keys are built each time.
# Both caches are cleared when full, so that churning tags cannot grow them forever.
_MAX_CACHED = 200_000
_telemetry_series_by_tag: dict[str, tuple[TagBinding, str]] = {}
_field_keys: dict[str, str] = {}


def _telemetry_series(tag_id: str, binding: TagBinding, tags: dict[str, str]) -> str:
    cached = _telemetry_series_by_tag.get(tag_id)
    # A binding changes when its asset does: the registry hands on a new object then.
    if cached is not None and (cached[0] is binding or cached[0] == binding):
        return cached[1]
    series = _series("telemetry", tags)
    if len(_telemetry_series_by_tag) >= _MAX_CACHED:
        _telemetry_series_by_tag.clear()
    _telemetry_series_by_tag[tag_id] = (binding, series)
    return series


def _series(measurement: str, tags: dict[str, str]) -> str:
    series = measurement.translate(_MEASUREMENT_ESCAPES)
    for name in sorted(tags):
        value = tags[name]
        if value:
            series += f",{name.translate(_KEY_ESCAPES)}={value.translate(_KEY_ESCAPES)}"
    return series


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
    series = point.series or _series(point.measurement, point.tags)
    return f"{series} {fields} {epoch_us(point.ts)}"
