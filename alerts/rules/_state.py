"""Rule state as JSON for the rule_state table: flat dataclasses of datetimes, numbers,
booleans and strings, encoded the same way by every rule."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

S = TypeVar("S")


def encode(state: object) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies, which cost a third of the engine's time.
    encoded = {}
    for field in dataclasses.fields(state):  # type: ignore[arg-type]
        value = getattr(state, field.name)
        encoded[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return encoded


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
