"""Rule state as JSON for the rule_state table: flat dataclasses of datetimes, numbers,
booleans and strings, encoded the same way by every rule."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

import orjson

S = TypeVar("S")


def encode(state: object) -> bytes:
    """The state as JSON: a datetime as ISO 8601 with its offset, as `decode` reads it.
    orjson walks the dataclass itself, in a third of the time a dict built field by field
    took (dataclasses.asdict, which deep-copies, took a third of the engine's time); raises
    TypeError for what JSON cannot hold."""
    return orjson.dumps(state)


_field_names: dict[type, tuple[str, ...]] = {}


def evolve(state: S, **changes: Any) -> S:
    """dataclasses.replace for the flat, frozen rule states, without its field lookup on
    every call (it runs for nearly every reading)."""
    cls = type(state)
    names = _field_names.get(cls)
    if names is None:
        names = _field_names[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return cls(*[changes[n] if n in changes else getattr(state, n) for n in names])


def decode(cls: type[S], data: dict[str, Any]) -> S:
    """The inverse of encode: fields typed `datetime | None` come back as datetimes."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in data:
            continue
        value = data[field.name]
        if isinstance(value, str) and "datetime" in str(field.type):
            value = datetime.fromisoformat(value)
        values[field.name] = value
    return cls(**values)
