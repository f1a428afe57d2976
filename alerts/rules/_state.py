"""Rule state as JSON for the rule_state table: flat dataclasses of datetimes, numbers,
booleans and strings, encoded the same way by every rule."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

S = TypeVar("S")


def encode(state: object) -> dict[str, Any]:
    fields = dataclasses.asdict(state)  # type: ignore[call-overload]
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


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
