"""What ingest takes in and hands on: readings, dead letters, and the binding of a tag to the
asset it is on (what the telemetry store records with each point). Plain dataclasses; a leaf
of the import graph."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MEASUREMENTS: tuple[str, ...] = (
    "lat",
    "lon",
    "accuracy_m",
    "speed_kmh",
    "temp_c",
    "humidity_pct",
    "shock_g",
    "tilt_deg",
    "light_lux",
    "battery_pct",
)
"""The contract's measurement fields, in the order they are stored."""


UNASSIGNED_ASSET = "unassigned"


ExtraValue = float | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading of one tag. `ts` is tz-aware UTC."""

    tag_id: str
    ts: datetime
    seq: int | None
    values: dict[str, float]
    extra: tuple[tuple[str, ExtraValue], ...] = ()
    """Fields beyond the contract's, within the limits of docs/tags.md: stored, not judged."""

    @property
    def position(self) -> tuple[float, float] | None:
        if "lat" in self.values and "lon" in self.values:
            return self.values["lat"], self.values["lon"]
        return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message or reading that could not be accepted, with a reason a person can read."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    tag_id: str | None = None
    cause: str = "invalid_reading"
    """A short, stable name for the kind of fault (one of DEAD_LETTER_CAUSES), for counting:
    the reason is for people and varies with the payload."""


DEAD_LETTER_CAUSES = ("bad_tag_id", "too_large", "not_json", "bad_format", "invalid_reading",
                      "unknown_topic", "sink_refused", "not_owner", "rate_limited",
                      "decoder_error", "rule_error")


@dataclass(frozen=True, slots=True)
class TagBinding:
    """What the telemetry store needs to know about the asset a tag is on."""

    asset_id: str
    asset_kind: str
    flow: str


UNASSIGNED_BINDING = TagBinding(asset_id=UNASSIGNED_ASSET, asset_kind="", flow="")
