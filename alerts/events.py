"""What subscribers are sent: an event and the facts subscriptions filter it by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    at: datetime
    data: dict[str, Any]
    alert_kind: str | None = None
    severity: str | None = None
    asset_kind: str | None = None
    flow: str | None = None

    def body(self) -> bytes:
        return orjson.dumps(
            {"type": self.type, "timestamp": self.at.astimezone(UTC).isoformat(),
             "data": self.data}
        )
