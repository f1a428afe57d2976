"""OwnTracks location messages: `owntracks/{user}/{device}`, tag id `{user}-{device}`.

Only `_type: "location"` is ingested; other message types (transitions, cards, waypoints,
last wills) are not readings and are skipped without a dead letter. The device may not
contain `-`, so that a tag id names one login: `a-b-c` is user `a-b`'s device `c`, never
user `a`'s device `b-c` (ingest.speakers holds each tag id for one login)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ingest.decoders._base import CONTRACT_BOUNDS, Decoded, Message, ReadingBounds
from ingest.decoders.native import reading_from_object

DEVICE = re.compile(r"[A-Za-z0-9_.]{1,32}")

# OwnTracks field -> canonical field. `tst` is epoch seconds; zero values may be left out.
FIELDS = {"lat": "lat", "lon": "lon", "acc": "accuracy_m", "vel": "speed_kmh",
          "batt": "battery_pct"}


class OwnTracksDecoder:
    def __init__(self, bounds: ReadingBounds = CONTRACT_BOUNDS) -> None:
        self.bounds = bounds

    def topic_filters(self) -> list[str]:
        return ["owntracks/+/+"]

    def tag_id_of(self, topic: str) -> str | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "owntracks":
            return None
        return f"{parts[1]}-{parts[2]}"

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "owntracks":
            return None
        message = Message(topic, payload, received_at, tag_id=f"{parts[1]}-{parts[2]}",
                          format_name="OwnTracks: ")
        reject, result, tag_id = message.reject, message.result, message.tag_id
        result.speaker = f"owntracks:{parts[1]}"
        if not DEVICE.fullmatch(parts[2]):
            return reject(f"device {parts[2]!r} does not match [A-Za-z0-9_.]{{1,32}} (no '-': "
                          "the tag id {user}-{device} must name one user)", cause="bad_tag_id")
        ok, document = message.parse_json("tag id ({user}-{device})")
        if not ok:
            return result
        if not isinstance(document, dict):
            return reject("a message must be a JSON object", cause="bad_format")
        if document.get("_type") != "location":
            return result
        reading: dict[str, Any] = {canon: document[field] for field, canon in FIELDS.items()
                                   if field in document}
        tst = document.get("tst")
        if not isinstance(tst, int) or isinstance(tst, bool):
            return reject("tst: an integer of epoch seconds is required", cause="bad_format")
        reading["ts"] = tst * 1000
        try:
            parsed, _ = reading_from_object(tag_id, reading, received_at, self.bounds)
        except ValueError as exc:
            return reject(str(exc))
        result.readings.append(parsed)
        result.unknown_fields = len(set(document) - set(FIELDS) - {"_type", "tst"})
        return result
