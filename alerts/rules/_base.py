"""What a rule returns: alert transitions, as plain data. Rules do no I/O and read no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.domain import AlertKind, Location, Severity


class Action(StrEnum):
    OPEN = "open"
    REFRESH = "refresh"
    """The open alert's figures changed (peak, duration, location); stored, not announced."""
    UPDATE = "update"
    """The open alert changed in a way subscribers must hear of (severity): alert.updated."""
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    kind: AlertKind
    key: str
    at: datetime
    severity: Severity = Severity.WARNING
    summary: str = ""
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None
